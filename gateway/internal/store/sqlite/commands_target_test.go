package sqlite

import (
	"errors"
	"testing"

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
