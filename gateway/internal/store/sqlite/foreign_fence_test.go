package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

func TestCommandFence(t *testing.T) {
	seq := 0
	cmd := func(modem int64) store.Command {
		seq++
		return store.Command{ID: fmt.Sprintf("f%03d", seq), ModemID: modem, Name: "reboot", CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour)}
	}
	// Each breaker makes someone other than the holder write; nil: nobody.
	tests := []struct {
		name  string
		other func(t *testing.T, db, db2 *DB, modem int64)
		holds bool
	}{
		{"only the holder writes", nil, true},
		{"another handle creates a command", func(t *testing.T, _, db2 *DB, modem int64) {
			_, _, err := db2.CreateCommand(ctx, cmd(modem))
			require.NoError(t, err)
		}, false},
		{"another handle writes anything", func(t *testing.T, _, db2 *DB, modem int64) {
			require.NoError(t, db2.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpPresence, ModemID: modem,
				Received: t0, Presence: &store.Presence{Online: true, Epoch: 7}}}))
		}, false},
		{"another caller of this handle creates a command", func(t *testing.T, db, _ *DB, modem int64) {
			_, _, err := db.CreateSentCommand(ctx, cmd(modem), t0)
			require.NoError(t, err)
		}, false},
		{"this handle's other writes", func(t *testing.T, db, _ *DB, modem int64) {
			require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpPresence, ModemID: modem,
				Received: t0, Presence: &store.Presence{Online: true, Epoch: 7}}}))
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := fastTempDir(t)
			db := openIn(t, dir)
			modem := benchModems(t, db, 1)[0]
			db2, err := Open(ctx, filepath.Join(dir, "vendgate.db"))
			require.NoError(t, err)
			t.Cleanup(func() { db2.Close() })

			f, err := db.CommandFence(ctx)
			require.NoError(t, err)
			// The holder's own writes never break it.
			_, created, err := f.CreateCommand(ctx, cmd(modem))
			require.NoError(t, err)
			require.True(t, created)
			_, created, err = f.CreateSentCommand(ctx, cmd(modem), t0)
			require.NoError(t, err)
			require.True(t, created)
			_, created, err = f.CreateSentCommandIfHolds(ctx, cmd(modem), t0)
			require.NoError(t, err)
			require.True(t, created)

			if tc.other != nil {
				tc.other(t, db, db2, modem)
			}
			c := cmd(modem)
			got, created, err := f.CreateSentCommandIfHolds(ctx, c, t0)
			if tc.holds {
				require.NoError(t, err)
				assert.True(t, created)
				assert.Equal(t, store.CmdSent, got.State)
				return
			}
			require.ErrorIs(t, err, store.ErrFenceBroken)
			assert.False(t, created)
			_, err = db.GetCommand(ctx, c.ID)
			require.ErrorIs(t, err, store.ErrNotFound, "nothing written")
			// A new fence holds again.
			f2, err := db.CommandFence(ctx)
			require.NoError(t, err)
			_, created, err = f2.CreateSentCommandIfHolds(ctx, c, t0)
			require.NoError(t, err)
			assert.True(t, created)
		})
	}
}

func TestCommandFenceMemory(t *testing.T) {
	db, err := Open(ctx, MemoryPath)
	require.NoError(t, err)
	defer db.Close()
	modem := benchModems(t, db, 1)[0]
	f, err := db.CommandFence(ctx)
	require.NoError(t, err)
	_, created, err := f.CreateSentCommandIfHolds(ctx, store.Command{ID: "m1", ModemID: modem, Name: "reboot", CreatedAt: t0}, t0)
	require.NoError(t, err)
	assert.True(t, created)
	_, _, err = db.CreateCommand(ctx, store.Command{ID: "m2", ModemID: modem, Name: "reboot", CreatedAt: t0})
	require.NoError(t, err)
	_, _, err = f.CreateSentCommandIfHolds(ctx, store.Command{ID: "m3", ModemID: modem, Name: "reboot", CreatedAt: t0}, t0)
	require.ErrorIs(t, err, store.ErrFenceBroken)
}

// BenchmarkFenceHolds is the check that replaces reading a command's final
// row back (GetCommand, benchmarked alongside).
func BenchmarkFenceHolds(b *testing.B) {
	db := openDisk(b)
	modem := benchModems(b, db, 1)[0]
	f, err := db.CommandFence(ctx)
	require.NoError(b, err)
	_, _, err = f.CreateSentCommand(ctx, store.Command{ID: "b1", ModemID: modem, Name: "reboot", CreatedAt: t0}, t0)
	require.NoError(b, err)
	b.Run("holds", func(b *testing.B) {
		for b.Loop() {
			if !f.Holds(ctx) {
				b.Fatal("broken")
			}
		}
	})
	b.Run("get-command", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.GetCommand(ctx, "b1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
