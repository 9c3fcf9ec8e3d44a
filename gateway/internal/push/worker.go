package push

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"vendgate/gateway/internal/store"
)

// Outbox is the durable queue the Worker drains (store.Registers has it).
type Outbox interface {
	DuePushes(ctx context.Context, now time.Time, limit int) ([]store.RegisterPush, error)
	DeletePush(ctx context.Context, id int64) error
	DeferPush(ctx context.Context, id int64, next time.Time, lastError string) error
	OutboxDepth(ctx context.Context) (int, error)
}

// Observer receives push outcomes (metrics): "delivered", "rejected",
// "unreachable"; may be nil.
type Observer interface {
	Push(outcome string)
}

// Defaults of WorkerConfig.
const (
	DefaultParallel = 16
	DefaultRetryMin = time.Second
	DefaultRetryMax = 5 * time.Minute
	DefaultPoll     = time.Second
)

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Outbox   Outbox
	Client   *Client
	Parallel int           // stations pushed at once (DefaultParallel)
	RetryMin time.Duration // first retry delay (DefaultRetryMin), doubled per failure
	RetryMax time.Duration // largest retry delay (DefaultRetryMax)
	Poll     time.Duration // how often the outbox is read without a Notify (DefaultPoll)
	Observer Observer
	Now      func() time.Time
	Logger   *slog.Logger
}

// Worker drains the outbox.
type Worker struct {
	cfg  WorkerConfig
	wake chan struct{}
}

// NewWorker fills cfg's defaults.
func NewWorker(cfg WorkerConfig) *Worker {
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Notify says pushes were added, so the worker looks at once.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Backoff is the delay before retry number attempts+1 (attempts failures so
// far, at least 1): RetryMin doubled per earlier failure, at most RetryMax,
// with ±10% jitter so stations do not retry in lockstep.
func (w *Worker) Backoff(attempts int) time.Duration {
	d := w.cfg.RetryMin
	for i := 1; i < attempts && d < w.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, w.cfg.RetryMax)
	return d + time.Duration((rand.Float64()-0.5)*0.2*float64(d))
}

// Run delivers pushes until ctx ends. A push in flight when ctx ends is
// retried at the next start: delivery is at least once.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		n, err := w.round(ctx)
		if err != nil && ctx.Err() == nil {
			w.cfg.Logger.Warn("push: read outbox", "err", err)
		}
		if n > 0 && err == nil {
			continue // more may be due right away (the next of each station)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
	}
}

// round pushes the due head of every station once; it returns how many were
// delivered.
func (w *Worker) round(ctx context.Context) (int, error) {
	due, err := w.cfg.Outbox.DuePushes(ctx, w.cfg.Now(), w.cfg.Parallel*8)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		delivered int
		firstErr  error
	)
	sem := make(chan struct{}, w.cfg.Parallel)
	for _, p := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok, err := w.deliver(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				delivered++
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	return delivered, firstErr
}

// deliver pushes p; it returns whether p left the outbox.
func (w *Worker) deliver(ctx context.Context, p store.RegisterPush) (bool, error) {
	err := w.cfg.Client.Push(ctx, p.StationID, p.Body)
	if err == nil {
		w.observe("delivered")
		// Deleting must happen even when ctx just ended, or the push is sent twice.
		return true, w.cfg.Outbox.DeletePush(context.WithoutCancel(ctx), p.ID)
	}
	if ctx.Err() != nil {
		return false, nil // stopping: the push stays due
	}
	outcome := "unreachable"
	if errors.Is(err, ErrRejected) {
		outcome = "rejected"
	}
	w.observe(outcome)
	next := w.cfg.Now().Add(w.Backoff(p.Attempts + 1))
	w.cfg.Logger.Warn("push: not delivered, will retry", "station", p.StationID, "push", p.ID,
		"attempts", p.Attempts+1, "retry_at", next, "err", err)
	return false, w.cfg.Outbox.DeferPush(ctx, p.ID, next, err.Error())
}

func (w *Worker) observe(outcome string) {
	if w.cfg.Observer != nil {
		w.cfg.Observer.Push(outcome)
	}
}
