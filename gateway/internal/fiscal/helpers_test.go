package fiscal

import (
	"context"
	"io"
	"log/slog"
)

type providerFunc func(ctx context.Context, r Receipt) (Fiscal, error)

func (f providerFunc) Submit(ctx context.Context, r Receipt) (Fiscal, error) { return f(ctx, r) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
