// Package command carries commands from operators to modems: it stores them,
// delivers at most one at a time per modem when the modem is connected, resends
// after a silent modem or a reconnect (with the same id, so the modem executes it
// once), and finishes them as expired or timed out when the modem never answers.
//
// State lives in the store, so queued commands survive a gateway restart and go
// out when the modem comes back. The in-memory part tracks which modems are
// connected, when each in-flight command was last sent, and which modems may
// have unfinished commands (so a reconnecting modem with none costs no query).
//
// The common case is cheap (direct.go, final.go): a command for a connected
// modem with nothing unfinished is stored already sent and published within
// Submit (one write, shared with concurrent submits by the store's group
// commit, and no read); its end settles the modem without a read; and the
// final row read once at the end answers the long polls waiting on it.
package command

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// Publisher sends a message to a connected modem (the broker).
type Publisher interface {
	Publish(imei, topic string, payload []byte, qos byte) error
}

// Observer is told about state changes (metrics). Any method may be nil-safe no-op.
type Observer interface {
	Command(state string)
	CommandRoundTrip(d time.Duration)
	InFlight(n int)
}

// Config tunes the Service.
type Config struct {
	AckTimeout  time.Duration // no answer to a sent command within this: resend (default 30 s)
	ExecTimeout time.Duration // acknowledged but no final result within this: timed_out (default 5 min)
	MaxAttempts int           // sends before timed_out (default 3)
	DefaultTTL  time.Duration // expiry when a request gives none (default 24 h)
	Workers     int           // dispatch workers; a modem always maps to the same one (default 4)
	Tick        time.Duration // how often timeouts are checked (default 1 s)
	Now         func() time.Time
	Logger      *slog.Logger
}

// Request asks for a command.
type Request struct {
	ID      string // idempotency key; empty: generated
	ModemID int64
	VMID    int64
	UserID  int64
	Name    protocol.CommandName
	Args    any // one of the protocol *Args types, or nil
	TTL     time.Duration
}

type flight struct {
	modemID int64
	sentAt  time.Time
	acked   bool
	ackedAt time.Time
	// row, for a command Submit sent directly under a fence, is its row as
	// the store holds it (its soloCmd's c), kept in step by AnswerCommitted
	// (answer.go); nil once in doubt. Only changed through its flight: once
	// the flight is dropped nothing changes it (ResultStored hands it to the
	// final cache).
	row   *store.Command
	fence store.CommandFence
}

// Service is the command flow.
type Service struct {
	st  store.Store
	pub Publisher
	obs Observer
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	online  map[int64]string // modem id → IMEI of modems subscribed to their command topic
	flights map[string]*flight
	// byModem indexes flights by modem (ids; almost always one), so that a
	// reconnect forgets its modem's flights without walking every flight
	// (ModemReady runs for each modem of a reconnect storm). Kept in step by
	// addFlight and dropFlight, the only writers of flights.
	byModem map[int64][]string
	// pending holds every modem that may have an unfinished command (a superset:
	// a modem leaves it only when a dispatch found nothing to do). The value is
	// bumped by each new command so that a dispatch that started before the
	// command was stored cannot remove the modem. Until loaded is set (Run read
	// the store), every modem counts as pending.
	pending map[int64]uint64
	loaded  bool
	// solo holds, per modem, a command that Submit sent straight away because
	// the modem was connected and had nothing unfinished (direct.go); while it
	// is there, a dispatch needs no store read to know the modem is busy, and
	// its end settles the modem without one.
	solo map[int64]*soloCmd
	// conn numbers each modem's connection (ModemReady); verified holds the
	// connection during which a dispatch read found the modem with nothing
	// unfinished. Submit sends directly only on a verified connection: a
	// modem that just came (back) may carry a command another gateway
	// worker sharing the store left in flight, which only a read reveals.
	conn     map[int64]uint64
	verified map[int64]uint64
	connSeq  uint64
	// fence, when the store has one (store.CommandFencer), vouches that
	// nobody else created commands since the pending set was loaded: then a
	// modem out of pending has nothing unfinished, verified or not, and
	// Submit sends directly from its first command of a connection. nil
	// until loaded, and after someone else's write broke it until sweep
	// takes a new one (fence.go).
	fence   store.CommandFence
	fencer  store.CommandFencer
	refence time.Time // when sweep may take a new fence
	// final remembers the last commands this process saw end (final.go).
	final finalCache

	queues []*queue
	wg     sync.WaitGroup

	wmu      sync.Mutex
	watches  map[string]*watch // command id → waiters (Watch)
	stopping chan struct{}
	stopOnce sync.Once
}

// queue is one dispatch worker's modems to look at: each modem at most once,
// however often it is kicked, and nothing is ever dropped (a reconnect storm
// kicks every modem at once).
type queue struct {
	mu    sync.Mutex
	set   map[int64]struct{}
	order []int64
	wake  chan struct{} // capacity 1: "there may be work"
}

func newQueue() *queue {
	return &queue{set: make(map[int64]struct{}), wake: make(chan struct{}, 1)}
}

func (q *queue) push(id int64) {
	q.mu.Lock()
	if _, ok := q.set[id]; !ok {
		q.set[id] = struct{}{}
		q.order = append(q.order, id)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest modem; a kick that arrives while it is being dispatched
// queues it again, so no change is missed.
func (q *queue) pop() (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.order) == 0 {
		return 0, false
	}
	id := q.order[0]
	q.order = q.order[1:]
	if len(q.order) == 0 {
		q.order = nil // let the drained array go
	}
	delete(q.set, id)
	return id, true
}

// New makes a Service; Run starts it.
func New(st store.Store, pub Publisher, obs Observer, cfg Config) *Service {
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 30 * time.Second
	}
	if cfg.ExecTimeout <= 0 {
		cfg.ExecTimeout = 5 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.DefaultTTL <= 0 {
		cfg.DefaultTTL = 24 * time.Hour
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{st: st, pub: pub, obs: obs, cfg: cfg, log: cfg.Logger,
		online: make(map[int64]string), flights: make(map[string]*flight), byModem: make(map[int64][]string), pending: make(map[int64]uint64),
		solo: make(map[int64]*soloCmd), conn: make(map[int64]uint64), verified: make(map[int64]uint64), final: newFinalCache(finalCacheSize),
		watches: make(map[string]*watch), stopping: make(chan struct{})}
	for range cfg.Workers {
		s.queues = append(s.queues, newQueue())
	}
	s.fencer, _ = st.(store.CommandFencer)
	return s
}

// ErrArgs wraps an invalid command request.
var ErrArgs = errors.New("command: invalid arguments")

// Submit stores a command and delivers it when its modem is free. A repeated id
// returns the stored command and created false.
func (s *Service) Submit(ctx context.Context, r Request) (store.Command, bool, error) {
	now := s.cfg.Now()
	ttl := r.TTL
	if ttl <= 0 {
		ttl = s.cfg.DefaultTTL
	}
	id := r.ID
	if id == "" {
		id = NewID(now)
	}
	// Validate through the wire contract so nothing the modem would refuse is stored.
	req, err := protocol.NewCommandRequest(id, r.Name, r.Args, now, now.Add(ttl))
	if err != nil {
		return store.Command{}, false, fmt.Errorf("%w: %v", ErrArgs, err)
	}
	c := store.Command{ID: id, ModemID: r.ModemID, VMID: r.VMID, UserID: r.UserID, Name: string(r.Name),
		Args: req.Args, State: store.CmdQueued, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if stored, created, done, err := s.submitDirect(ctx, c); done {
		return stored, created, err
	}
	stored, created, err := s.creator().CreateCommand(ctx, c)
	if err != nil {
		return store.Command{}, false, err
	}
	if created {
		s.observe(string(store.CmdQueued))
		s.mu.Lock()
		s.pending[r.ModemID]++
		s.mu.Unlock()
		s.Kick(r.ModemID)
	}
	return stored, created, nil
}

// ModemReady is called when a modem subscribed to its command topic: anything
// queued or left in flight (a reconnect, a gateway restart) goes out now.
func (s *Service) ModemReady(modemID int64, imei string) {
	s.mu.Lock()
	s.online[modemID] = imei
	s.connSeq++
	s.conn[modemID] = s.connSeq
	delete(s.verified, modemID)
	// Forget send times of this modem: what is in flight is resent on dispatch.
	for _, id := range slices.Clone(s.byModem[modemID]) {
		s.dropFlight(id)
	}
	s.mu.Unlock()
	s.Kick(modemID)
}

// ModemGone is called when a modem's connection ended (not a takeover).
func (s *Service) ModemGone(modemID int64) {
	s.mu.Lock()
	delete(s.online, modemID)
	delete(s.conn, modemID)
	delete(s.verified, modemID)
	s.mu.Unlock()
}

// ResultStored is called after a command result from the modem was committed.
func (s *Service) ResultStored(modemID int64, res store.CommandResult) {
	st := protocol.Status(res.Status)
	now := s.cfg.Now()
	s.mu.Lock()
	f := s.flights[res.CommandID]
	if f != nil && !st.Terminal() && !f.acked {
		f.acked, f.ackedAt = true, now
	}
	// known is the held final row; the flight is dropped just below, after
	// which nothing changes the row (it is reached only through its flight),
	// so it can go to the final cache as it is.
	var known *store.Command
	if f != nil && st.Terminal() && f.row != nil && f.row.State.Terminal() {
		known = f.row
	}
	if st.Terminal() {
		s.dropFlight(res.CommandID)
	}
	n := len(s.flights)
	s.mu.Unlock()
	if s.obs != nil {
		s.obs.InFlight(n)
	}
	if !st.Terminal() {
		s.observe(string(store.CmdAcknowledged))
		return
	}
	s.observe(res.Status)
	// Settle the modem first: a caller that sends the next command as soon
	// as it sees this one end (woken below, or reading the store, where the
	// result is already committed) finds the modem idle.
	settled := s.soloEnded(modemID, res.CommandID)
	ctx := context.Background()
	// The final row feeds the metrics, the follow-ups and the cache that
	// answers the waiters woken just after: kept in step without a read for
	// a command sent directly (answer.go), else read once.
	var (
		c   store.Command
		err error
	)
	if known != nil {
		c = *known
		s.final.put(known)
	} else if c, err = s.st.GetCommand(ctx, res.CommandID); err == nil {
		s.remember(c)
	}
	s.ended(res.CommandID)
	if err == nil {
		if s.obs != nil && !c.DoneAt.IsZero() {
			s.obs.CommandRoundTrip(c.DoneAt.Sub(c.CreatedAt))
		}
		s.finished(ctx, c)
	}
	if !settled {
		s.Kick(modemID)
	}
}

// finished runs follow-ups of a command that ended.
func (s *Service) finished(ctx context.Context, c store.Command) {
	if c.Name != string(protocol.CmdRequest) || c.VMID == 0 {
		return
	}
	var a protocol.RequestArgs
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return
	}
	// The data request ends when its command does, whatever the outcome: a
	// report that came is already stored, one that did not will not come.
	if err := s.st.SatisfyRequest(ctx, c.VMID, a.Report, a.Config, s.cfg.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("satisfy request", "vm", c.VMID, "err", err)
	}
}

// Kick asks for a dispatch attempt for the modem. A modem with nothing
// unfinished costs nothing.
func (s *Service) Kick(modemID int64) {
	s.mu.Lock()
	_, p := s.pending[modemID]
	p = p || !s.loaded
	s.mu.Unlock()
	if p {
		s.queues[uint64(modemID)%uint64(len(s.queues))].push(modemID)
	}
}

// Run dispatches and checks timeouts until ctx ends.
func (s *Service) Run(ctx context.Context) {
	s.load(ctx)
	for _, q := range s.queues {
		s.wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-q.wake:
				}
				for ctx.Err() == nil {
					id, ok := q.pop()
					if !ok {
						break
					}
					s.dispatch(ctx, id)
				}
			}
		})
	}
	s.wg.Go(func() {
		t := time.NewTicker(s.cfg.Tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sweep(ctx)
			}
		}
	})
	s.wg.Wait()
}

// load reads which modems have unfinished commands. Until it succeeds every
// kick dispatches (correct, only slower), so a store error is retried.
func (s *Service) load(ctx context.Context) {
	for ctx.Err() == nil {
		f := s.startFence(ctx) // before the read: it vouches for what comes after
		ids, err := s.st.UnfinishedModems(ctx)
		if err == nil {
			s.mu.Lock()
			for _, id := range ids {
				s.pending[id]++
			}
			s.loaded = true
			s.fence = f
			s.mu.Unlock()
			return
		}
		s.log.Warn("load modems with unfinished commands", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// settled removes the modem from the pending set when no command arrived since
// gen was read: its dispatch found nothing queued and nothing in flight.
func (s *Service) settled(modemID int64, gen, conn uint64) {
	s.mu.Lock()
	_, solo := s.solo[modemID]
	if g, ok := s.pending[modemID]; ok && g == gen && s.loaded && !solo {
		delete(s.pending, modemID)
	}
	if _, ok := s.pending[modemID]; !ok && !solo && conn != 0 && s.conn[modemID] == conn {
		s.verified[modemID] = conn // the read was made during this connection
	}
	s.mu.Unlock()
}

func (s *Service) dispatch(ctx context.Context, modemID int64) {
	s.mu.Lock()
	imei, ok := s.online[modemID]
	gen := s.pending[modemID]
	conn := s.conn[modemID]
	if so := s.solo[modemID]; so != nil && ok {
		// Sent by Submit: still being stored (Submit sends it), or in flight.
		// Only when its send time was forgotten (a reconnect) does the store
		// say what to resend.
		if _, tracked := s.flights[so.id]; !so.ready || tracked {
			ok = false
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	now := s.cfg.Now()
	c, ok, err := s.st.Dispatchable(ctx, modemID, now)
	if err != nil {
		s.log.Warn("dispatch lookup", "modem", modemID, "err", err)
		return
	}
	if !ok {
		s.settled(modemID, gen, conn)
		return
	}
	if c.State != store.CmdQueued {
		s.mu.Lock()
		_, tracked := s.flights[c.ID]
		s.mu.Unlock()
		if tracked {
			return // one in flight per modem
		}
		// In flight from before a reconnect or restart: send it again, same id.
		if c.State == store.CmdAcknowledged {
			s.track(c.ID, modemID, now, true)
			return
		}
	}
	s.send(ctx, imei, c, now)
}

func (s *Service) send(ctx context.Context, imei string, c store.Command, now time.Time) {
	if c.Attempts >= s.cfg.MaxAttempts {
		s.finish(ctx, c, store.CmdTimedOut, fmt.Sprintf("no answer after %d sends", c.Attempts))
		return
	}
	payload, err := encodeCommand(c, now)
	if err != nil {
		s.finish(ctx, c, store.CmdFailed, "cannot encode: "+err.Error())
		return
	}
	// Mark first, publish second: a fast answer must find the command sent.
	s.forgetRow(c.ID) // the resend changes the row
	if err := s.writes().MarkSent(ctx, c.ID, now); err != nil {
		s.log.Warn("mark sent", "cmd", c.ID, "err", err)
		return
	}
	s.track(c.ID, c.ModemID, now, false)
	s.observe(string(store.CmdSent))
	if err := s.pub.Publish(imei, protocol.CommandRequestTopic(imei, c.ID), payload, 1); err != nil {
		// The modem went away; the command stays sent and goes out again when it returns.
		s.log.Debug("publish command", "cmd", c.ID, "err", err)
	}
}

// addFlight tracks f as command id's flight (s.mu held), replacing any.
func (s *Service) addFlight(id string, f *flight) {
	s.dropFlight(id)
	s.flights[id] = f
	s.byModem[f.modemID] = append(s.byModem[f.modemID], id)
}

// dropFlight forgets command id's flight, if any (s.mu held).
func (s *Service) dropFlight(id string) {
	f := s.flights[id]
	if f == nil {
		return
	}
	delete(s.flights, id)
	ids := s.byModem[f.modemID]
	if i := slices.Index(ids, id); i >= 0 {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(s.byModem, f.modemID)
	} else {
		s.byModem[f.modemID] = ids
	}
}

func (s *Service) track(id string, modemID int64, at time.Time, acked bool) {
	s.mu.Lock()
	s.addFlight(id, &flight{modemID: modemID, sentAt: at, acked: acked, ackedAt: at})
	n := len(s.flights)
	s.mu.Unlock()
	if s.obs != nil {
		s.obs.InFlight(n)
	}
}

func (s *Service) finish(ctx context.Context, c store.Command, state store.CommandState, msg string) {
	s.forgetRow(c.ID) // before the write: an answer committed after it is ignored by the store
	if err := s.writes().Finish(ctx, c.ID, state, msg, s.cfg.Now()); err != nil {
		if !errors.Is(err, store.ErrInvalidMove) {
			s.log.Warn("finish command", "cmd", c.ID, "err", err)
		}
		return
	}
	s.mu.Lock()
	s.dropFlight(c.ID)
	s.mu.Unlock()
	c2, err := s.st.GetCommand(ctx, c.ID)
	if err == nil {
		s.remember(c2)
	}
	settled := s.soloEnded(c.ModemID, c.ID)
	s.ended(c.ID)
	s.observe(string(state))
	if err == nil {
		s.finished(ctx, c2)
	}
	if !settled {
		s.Kick(c.ModemID)
	}
}

// sweep expires commands past their expiry and handles silent modems.
func (s *Service) sweep(ctx context.Context) {
	s.renewFence(ctx)
	now := s.cfg.Now()
	expired, err := s.writes().ExpireDue(ctx, now)
	if err != nil {
		s.log.Warn("expire commands", "err", err)
	}
	for _, c := range expired {
		s.mu.Lock()
		s.dropFlight(c.ID)
		s.mu.Unlock()
		s.remember(c)
		settled := s.soloEnded(c.ModemID, c.ID)
		s.ended(c.ID)
		s.observe(string(store.CmdExpired))
		s.finished(ctx, c)
		if !settled {
			s.Kick(c.ModemID)
		}
	}
	type due struct {
		id      string
		modemID int64
		acked   bool
	}
	var todo []due
	s.mu.Lock()
	for id, f := range s.flights {
		if (!f.acked && now.Sub(f.sentAt) > s.cfg.AckTimeout) || (f.acked && now.Sub(f.ackedAt) > s.cfg.ExecTimeout) {
			todo = append(todo, due{id, f.modemID, f.acked})
		}
	}
	s.mu.Unlock()
	for _, d := range todo {
		c, err := s.st.GetCommand(ctx, d.id)
		if err != nil || c.State.Terminal() {
			s.mu.Lock()
			s.dropFlight(d.id)
			s.mu.Unlock()
			if err == nil && !s.soloEnded(c.ModemID, c.ID) {
				s.Kick(c.ModemID)
			}
			continue
		}
		if d.acked {
			s.finish(ctx, c, store.CmdTimedOut, "no final result in time")
			continue
		}
		s.mu.Lock()
		imei, online := s.online[d.modemID]
		if !online {
			s.dropFlight(d.id) // resent when the modem is back
		}
		s.mu.Unlock()
		if online {
			s.send(ctx, imei, c, now)
		}
	}
}

func (s *Service) observe(state string) {
	if s.obs != nil {
		s.obs.Command(state)
	}
}

// NewID returns a time-ordered command id: 26 characters of Crockford base32,
// 48 bits of milliseconds then 80 random bits (the ULID layout).
func NewID(t time.Time) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	// 128 bits → 26 base32 digits (the first carries 3 bits).
	var out [26]byte
	var acc uint64
	var bits uint
	j := 25
	for i := 15; i >= 0; i-- {
		acc |= uint64(b[i]) << bits
		bits += 8
		for bits >= 5 {
			out[j] = alphabet[acc&31]
			acc >>= 5
			bits -= 5
			j--
		}
	}
	if j >= 0 {
		out[j] = alphabet[acc&31]
	}
	return string(out[:])
}
