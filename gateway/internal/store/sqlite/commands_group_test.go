package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// Concurrent command writes share transactions; each caller still gets its
// own outcome, a failing one does not undo the others, and every write
// answered without error is in the file for another handle (a process that
// died right after answering: the first handle is never closed first).
func TestGroupWriteOutcomesAndDurability(t *testing.T) {
	dir := fastTempDir(t)
	db := openIn(t, dir)
	modem := benchModems(t, db, 1)[0]
	args := json.RawMessage(`{"delay":5}`)
	const n = 64
	type outcome struct {
		c       store.Command
		created bool
		err     error
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := store.Command{ID: fmt.Sprintf("g%02d", i), ModemID: modem, Name: "reboot", Args: args,
				CreatedAt: t0.Add(time.Duration(i) * time.Millisecond), ExpiresAt: t0.Add(time.Hour)}
			switch i % 4 {
			case 1: // a modem that does not exist: this one fails alone
				c.ModemID = 999_999
				out[i].c, out[i].created, out[i].err = db.CreateCommand(ctx, c)
			case 2: // sent at once
				out[i].c, out[i].created, out[i].err = db.CreateSentCommand(ctx, c, t0.Add(time.Second))
			case 3: // a repeat of the previous id
				c.ID = fmt.Sprintf("g%02d", i-1)
				out[i].c, out[i].created, out[i].err = db.CreateCommand(ctx, c)
			default:
				out[i].c, out[i].created, out[i].err = db.CreateCommand(ctx, c)
			}
		})
	}
	wg.Wait()

	other, err := Open(ctx, filepath.Join(dir, "vendgate.db"))
	require.NoError(t, err)
	defer other.Close()
	for i, o := range out {
		id := fmt.Sprintf("g%02d", i)
		switch i % 4 {
		case 1:
			assert.True(t, errors.Is(o.err, store.ErrNotFound), "%s: %v", id, o.err)
			_, err := other.GetCommand(ctx, id)
			assert.True(t, errors.Is(err, store.ErrNotFound), "%s stored", id)
		case 3:
			require.NoError(t, o.err, id)
			assert.Equal(t, fmt.Sprintf("g%02d", i-1), o.c.ID)
		default:
			require.NoError(t, o.err, id)
			got, err := other.GetCommand(ctx, id)
			require.NoError(t, err, "%s answered but not durable", id)
			if o.created {
				assert.Equal(t, got, o.c, "%s: the answer is the stored row", id)
			}
			if i%4 == 2 && o.created { // else its repeat (queued) came first
				assert.Equal(t, store.CmdSent, got.State)
				assert.Equal(t, 1, got.Attempts)
				assert.Equal(t, t0.Add(time.Second), got.SentAt)
			} else {
				assert.Equal(t, store.CmdQueued, got.State)
				assert.Zero(t, got.Attempts)
			}
		}
	}
	// Exactly one of each pair (i, i+1 repeating it) created the row.
	for i := 2; i < n; i += 4 {
		assert.NotEqual(t, out[i].created, out[i+1].created, "g%02d created once", i)
	}
}

// A cancelled caller fails alone.
func TestGroupWriteCancelled(t *testing.T) {
	db := openDisk(t)
	modem := benchModems(t, db, 1)[0]
	cctx, cancel := contextWithCancel()
	cancel()
	_, _, err := db.CreateCommand(cctx, store.Command{ID: "x", ModemID: modem, Name: "reboot"})
	require.Error(t, err)
	_, err = db.GetCommand(ctx, "x")
	assert.True(t, errors.Is(err, store.ErrNotFound))
	_, created, err := db.CreateCommand(ctx, store.Command{ID: "y", ModemID: modem, Name: "reboot"})
	require.NoError(t, err)
	assert.True(t, created)
}

// MarkSent (group write) keeps its guards.
func TestGroupMarkSent(t *testing.T) {
	db := openDisk(t)
	modem := benchModems(t, db, 1)[0]
	_, _, err := db.CreateCommand(ctx, store.Command{ID: "m", ModemID: modem, Name: "reboot", CreatedAt: t0})
	require.NoError(t, err)
	require.NoError(t, db.MarkSent(ctx, "m", t0))
	require.NoError(t, db.Finish(ctx, "m", store.CmdTimedOut, "x", t0))
	assert.True(t, errors.Is(db.MarkSent(ctx, "m", t0), store.ErrInvalidMove))
	assert.True(t, errors.Is(db.MarkSent(ctx, "nope", t0), store.ErrNotFound))
}

func contextWithCancel() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }

// Command writes queued while an uplink batch holds the writer connection
// commit in that batch's transaction: each caller gets its own outcome (a
// failing or abandoned one alone), and the batch's uplinks commit with them.
func TestGroupWriteRidesUplinkBatch(t *testing.T) {
	db := openDisk(t)
	modem := benchModems(t, db, 1)[0]
	g := db.cmdGroup()

	// Hold the writer connection as an uplink batch in progress would.
	conn, err := db.w.Conn(ctx)
	require.NoError(t, err)
	const n = 12
	type outcome struct {
		created bool
		err     error
	}
	out := make([]outcome, n)
	abandoned, cancel := contextWithCancel()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := store.Command{ID: fmt.Sprintf("r%02d", i), ModemID: modem, VMID: store.MachineOfModem,
				Name: "reboot", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			cx := ctx
			switch i {
			case 3: // a modem that does not exist: fails alone
				c.ModemID = 999_999
			case 5: // its caller gives up before the batch reaches it
				cx = abandoned
			}
			_, out[i].created, out[i].err = db.CreateSentCommand(cx, c, t0.Add(time.Second))
		})
	}
	waitQueued(g, n)
	cancel()
	rode := g.rode.Load()

	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	ups := []store.Uplink{{Kind: store.UpEvent, ModemID: modem, Received: t0,
		Event: &store.Event{MsgID: "ride", Code: "door", Time: t0}}}
	db.mc.apply.Lock() // as ApplyUplinks holds it
	r, _, _, err := db.applyUplinks(ctx, tx, ups)
	db.mc.apply.Unlock()
	require.NoError(t, err)
	require.NotNil(t, r)
	require.Len(t, r.ops, n, "every queued write rides")
	require.NoError(t, tx.Commit())
	r.done(db, nil)
	require.NoError(t, conn.Close())
	wg.Wait()

	assert.Equal(t, rode+n, g.rode.Load())
	events, _, _, err := db.CountUplinks(ctx, modem)
	require.NoError(t, err)
	assert.Equal(t, 1, events, "the batch's own uplink")
	vm, err := db.GetMachineByModem(ctx, modem)
	require.NoError(t, err)
	for i, o := range out {
		id := fmt.Sprintf("r%02d", i)
		c, err := db.GetCommand(ctx, id)
		switch i {
		case 3:
			assert.ErrorIs(t, o.err, store.ErrNotFound, id)
			assert.ErrorIs(t, err, store.ErrNotFound, id)
		case 5:
			assert.ErrorIs(t, o.err, context.Canceled, id)
			assert.ErrorIs(t, err, store.ErrNotFound, id)
		default:
			require.NoError(t, o.err, id)
			assert.True(t, o.created, id)
			require.NoError(t, err, id)
			assert.Equal(t, store.CmdSent, c.State, id)
			assert.Equal(t, vm.ID, c.VMID, id)
		}
	}
	// The group is idle again: a write on its own still works.
	_, created, err := db.CreateCommand(ctx, store.Command{ID: "after", ModemID: modem, Name: "reboot",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	require.NoError(t, err)
	assert.True(t, created)
}

// An uplink batch whose commit fails fails the command writes that rode in
// it, and nothing of them is stored.
func TestGroupWriteRideCommitFails(t *testing.T) {
	db := openDisk(t)
	modem := benchModems(t, db, 1)[0]
	g := db.cmdGroup()
	conn, err := db.w.Conn(ctx)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, _, err := db.CreateCommand(ctx, store.Command{ID: "lost", ModemID: modem, Name: "reboot",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		done <- err
	}()
	waitQueued(g, 1)
	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	db.mc.apply.Lock() // as ApplyUplinks holds it
	r, _, _, err := db.applyUplinks(ctx, tx, nil)
	db.mc.apply.Unlock()
	require.NoError(t, err)
	require.NoError(t, tx.Rollback()) // as if the commit had failed
	commitErr := errors.New("sqlite: commit: disk I/O error")
	r.done(db, commitErr)
	require.NoError(t, conn.Close())
	assert.ErrorIs(t, <-done, commitErr)
	_, err = db.GetCommand(ctx, "lost")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// waitQueued returns once n command writes wait in g's queue (their callers
// blocked behind a held writer connection).
func waitQueued(g *cmdGroup, n int) {
	for {
		g.mu.Lock()
		q := len(g.queue)
		g.mu.Unlock()
		if q >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
