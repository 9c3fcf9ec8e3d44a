// Package ingest turns modem uplinks into stored records. Its Writer is a
// bounded queue in front of the store that writes uplinks in batched
// transactions (group commit): a caller's Submit returns once its uplink is
// committed, so the MQTT acknowledgement that follows means "stored".
package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"vendgate/gateway/internal/store"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("ingest: writer closed")

// WriterConfig tunes the Writer.
type WriterConfig struct {
	QueueSize int // uplinks waiting at most (default 8192)
	MaxBatch  int // uplinks per transaction at most (default 512)
	// Observe, when set, is called after every commit with the batch size and the
	// time each uplink waited from Submit to commit.
	Observe func(n int, latencies []time.Duration)
}

type item struct {
	up   store.Uplink
	at   time.Time
	done chan error // nil for fire-and-forget
}

// Writer batches uplinks into store transactions.
type Writer struct {
	st   store.Uplinks
	cfg  WriterConfig
	q    chan item
	mu   sync.RWMutex // held for reading while sending to q; Close takes it for writing
	shut bool
	stop chan struct{}
	done chan struct{}
}

// NewWriter makes a Writer; call Run to start it.
func NewWriter(st store.Uplinks, cfg WriterConfig) *Writer {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	return &Writer{st: st, cfg: cfg, q: make(chan item, cfg.QueueSize), stop: make(chan struct{}), done: make(chan struct{})}
}

// Depth is the number of uplinks waiting.
func (w *Writer) Depth() int { return len(w.q) }

// Submit queues up and waits until it is committed or ctx ends. A full queue
// makes Submit wait (back-pressure on the modem's connection).
func (w *Writer) Submit(ctx context.Context, up store.Uplink) error {
	done := make(chan error, 1)
	if err := w.push(ctx, item{up: up, at: time.Now(), done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue queues up without waiting for the commit.
func (w *Writer) Enqueue(ctx context.Context, up store.Uplink) error {
	return w.push(ctx, item{up: up, at: time.Now()})
}

func (w *Writer) push(ctx context.Context, it item) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.shut {
		return ErrClosed
	}
	select {
	case w.q <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run writes batches until Close; it drains the queue before returning.
func (w *Writer) Run() {
	defer close(w.done)
	batch := make([]item, 0, w.cfg.MaxBatch)
	ups := make([]store.Uplink, 0, w.cfg.MaxBatch)
	for {
		var first item
		select {
		case first = <-w.q:
		case <-w.stop:
			// Close holds no more senders: drain what is left.
			for {
				select {
				case it := <-w.q:
					batch = append(batch, it)
					if len(batch) == w.cfg.MaxBatch {
						w.commit(batch, ups[:0])
						batch = batch[:0]
					}
				default:
					if len(batch) > 0 {
						w.commit(batch, ups[:0])
					}
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < w.cfg.MaxBatch {
			select {
			case it := <-w.q:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		w.commit(batch, ups[:0])
		clear(batch)
	}
}

func (w *Writer) commit(batch []item, ups []store.Uplink) {
	for _, it := range batch {
		ups = append(ups, it.up)
	}
	err := w.st.ApplyUplinks(context.Background(), ups)
	if err != nil && len(batch) > 1 {
		// One bad uplink must not fail the others: retry one by one.
		for _, it := range batch {
			e := w.st.ApplyUplinks(context.Background(), []store.Uplink{it.up})
			if it.done != nil {
				it.done <- e
			}
		}
		return
	}
	now := time.Now()
	var lat []time.Duration
	if w.cfg.Observe != nil {
		lat = make([]time.Duration, len(batch))
	}
	for i, it := range batch {
		if lat != nil {
			lat[i] = now.Sub(it.at)
		}
		if it.done != nil {
			it.done <- err
		}
	}
	if w.cfg.Observe != nil && err == nil {
		w.cfg.Observe(len(batch), lat)
	}
}

// Close stops accepting uplinks, waits until everything queued is written and
// Run has returned. It is safe to call more than once.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.shut {
		w.shut = true
		close(w.stop)
	}
	w.mu.Unlock()
	<-w.done
}
