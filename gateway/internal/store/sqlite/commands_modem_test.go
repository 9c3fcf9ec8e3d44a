package sqlite

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

func TestModemAndMachine(t *testing.T) {
	db := openDisk(t)
	installed := benchModems(t, db, 1)[0] // with a machine
	bare := store.Modem{IMEI: "861234567890123", CreatedAt: t0}
	require.NoError(t, db.CreateModem(ctx, &bare))

	m, vmID, err := db.ModemAndMachine(ctx, installed)
	require.NoError(t, err)
	want, err := db.GetModem(ctx, installed)
	require.NoError(t, err)
	assert.Equal(t, want, m)
	vm, err := db.GetMachineByModem(ctx, installed)
	require.NoError(t, err)
	assert.Equal(t, vm.ID, vmID)

	m, vmID, err = db.ModemAndMachine(ctx, bare.ID)
	require.NoError(t, err)
	assert.Equal(t, bare.IMEI, m.IMEI)
	assert.Zero(t, vmID)

	_, _, err = db.ModemAndMachine(ctx, 999_999)
	assert.True(t, errors.Is(err, store.ErrNotFound), "%v", err)
}

// BenchmarkSetTarget compares the reads of POST /set: one joined read against
// GetModem then GetMachineByModem.
func BenchmarkSetTarget(b *testing.B) {
	db := openDisk(b)
	id := benchModems(b, db, 1)[0]
	b.Run("joined", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := db.ModemAndMachine(ctx, id); err != nil {
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
