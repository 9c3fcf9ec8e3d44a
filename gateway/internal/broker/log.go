package broker

import (
	"context"
	"log/slog"
)

// demote is the slog handler given to mochi. mochi logs at Info or Warn for
// events an Internet-facing gateway sees all the time (every refused or
// timed-out connection is a Warn), which would let any scanner flood the log;
// those records are passed on at Debug. Errors stay errors.
type demote struct{ h slog.Handler }

func lower(l slog.Level) slog.Level {
	if l < slog.LevelError {
		return slog.LevelDebug
	}
	return l
}

// Enabled implements slog.Handler.
func (d demote) Enabled(ctx context.Context, l slog.Level) bool {
	return d.h.Enabled(ctx, lower(l))
}

// Handle implements slog.Handler.
func (d demote) Handle(ctx context.Context, r slog.Record) error {
	r.Level = lower(r.Level)
	return d.h.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (d demote) WithAttrs(a []slog.Attr) slog.Handler { return demote{d.h.WithAttrs(a)} }

// WithGroup implements slog.Handler.
func (d demote) WithGroup(name string) slog.Handler { return demote{d.h.WithGroup(name)} }
