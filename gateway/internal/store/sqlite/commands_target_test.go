package sqlite

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

func TestModemTarget(t *testing.T) {
	db := openDisk(t)
	installed := benchModems(t, db, 1)[0] // with a machine
	bare := store.Modem{IMEI: "861234567890123", CreatedAt: t0}
	require.NoError(t, db.CreateModem(ctx, &bare))

	t.Run("installed", func(t *testing.T) {
		company, vmID, err := db.ModemTarget(ctx, installed)
		require.NoError(t, err)
		m, err := db.GetModem(ctx, installed)
		require.NoError(t, err)
		assert.Equal(t, m.CompanyID, company)
		vm, err := db.GetMachineByModem(ctx, installed)
		require.NoError(t, err)
		assert.Equal(t, vm.ID, vmID)
	})
	t.Run("bare", func(t *testing.T) {
		company, vmID, err := db.ModemTarget(ctx, bare.ID)
		require.NoError(t, err)
		m, err := db.GetModem(ctx, bare.ID)
		require.NoError(t, err)
		assert.Equal(t, m.CompanyID, company)
		assert.Zero(t, vmID)
	})
	t.Run("missing", func(t *testing.T) {
		_, _, err := db.ModemTarget(ctx, 999_999)
		assert.True(t, errors.Is(err, store.ErrNotFound), "%v", err)
	})
}

// BenchmarkModemTarget compares the narrow read of POST /set with reading the
// modem row and then its machine.
func BenchmarkModemTarget(b *testing.B) {
	db := openDisk(b)
	id := benchModems(b, db, 1)[0]
	b.Run("narrow", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := db.ModemTarget(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("two-reads", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.GetModem(ctx, id); err != nil {
				b.Fatal(err)
			}
			if _, err := db.GetMachineByModem(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCreateCommandMachineOfModem: a command created with
// store.MachineOfModem records the machine the modem is bound to at the
// create, through every create method, and a repeated id returns the stored
// row untouched.
func TestCreateCommandMachineOfModem(t *testing.T) {
	db := openDisk(t)
	installed := benchModems(t, db, 1)[0]
	vm, err := db.GetMachineByModem(ctx, installed)
	require.NoError(t, err)
	bare := store.Modem{IMEI: "861234567890123", CreatedAt: t0}
	require.NoError(t, db.CreateModem(ctx, &bare))
	cmd := func(id string, modem int64) store.Command {
		return store.Command{ID: id, ModemID: modem, VMID: store.MachineOfModem, Name: "reboot",
			State: store.CmdQueued, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	}
	creates := map[string]func(store.Command) (store.Command, bool, error){
		"queued": func(c store.Command) (store.Command, bool, error) { return db.CreateCommand(ctx, c) },
		"sent": func(c store.Command) (store.Command, bool, error) {
			return db.CreateSentCommand(ctx, c, t0.Add(time.Millisecond))
		},
	}
	for name, create := range creates {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				modem int64
				want  int64
			}{{installed, vm.ID}, {bare.ID, 0}} {
				id := fmt.Sprintf("%s-%d", name, tc.modem)
				got, created, err := create(cmd(id, tc.modem))
				require.NoError(t, err)
				require.True(t, created)
				assert.Equal(t, tc.want, got.VMID, "returned")
				stored, err := db.GetCommand(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, tc.want, stored.VMID, "stored")
				assert.Equal(t, stored, got)

				again, created, err := create(cmd(id, tc.modem))
				require.NoError(t, err)
				assert.False(t, created)
				assert.Equal(t, stored, again)
			}
		})
	}
}
