package sqlite

import (
	"context"
	"time"

	"vendgate/gateway/internal/store"
)

// CreateSentCommand inserts c already sent (State sent, SentAt at, Attempts 1)
// in one write, for a command that goes out to its idle, connected modem at
// once: the create and the mark-sent of CreateCommand + MarkSent in one
// transaction (shared with concurrent command writes, commands_group.go).
// Otherwise as CreateCommand: an existing c.ID returns that command and created
// false; a modem that does not exist gives store.ErrNotFound.
func (d *DB) CreateSentCommand(ctx context.Context, c store.Command, at time.Time) (store.Command, bool, error) {
	c.State = store.CmdSent
	c.Attempts, c.SentAt = 1, at
	return d.createCommand(ctx, c, "create sent command", nil, nil)
}
