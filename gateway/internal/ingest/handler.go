package ingest

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"vendgate/gateway/internal/broker"
	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// Commands is what the handler tells the command flow.
type Commands interface {
	ModemReady(modemID int64, imei string)
	ModemGone(modemID int64)
	ResultStored(modemID int64, res store.CommandResult)
}

// Counter counts messages (metrics).
type Counter interface {
	Message(class, outcome string)
	Rejected(class, reason string)
	Connection(event string)
}

// AuditCheck validates an audit's text; it returns "" when the audit is valid,
// otherwise why not. Nil accepts every non-empty audit.
type AuditCheck func(text []byte) string

// Handler receives everything the broker sees from modems: it decodes uplinks,
// refuses malformed ones, writes the rest through the Writer and then tells the
// command flow. It implements broker.Handler.
type Handler struct {
	W        *Writer
	Store    store.Store
	Commands Commands
	Count    Counter
	Audit    AuditCheck
	Log      *slog.Logger
	// SubmitTimeout bounds how long one uplink of the synchronous Publish (and
	// a presence) may wait for the store before the modem's connection is
	// closed unacknowledged (default 60 s). It was 10 s: in a reconnect storm
	// commits took longer, modems were disconnected, came back and added load,
	// and the storm never settled. A slow commit should hold the modem back,
	// not throw it out; PublishAsync, the broker's normal path, has no timeout.
	SubmitTimeout time.Duration
	// Fiscal, when set, queues the cloud-register receipts of paid vends of
	// machines with is_crt_active; nil: no receipts.
	Fiscal *Fiscal
}

var _ broker.Handler = (*Handler)(nil)

// epoch orders a modem's connections across gateway restarts: the connection's
// start in microseconds.
func epoch(c broker.Conn) uint64 { return uint64(c.At.UnixMicro()) }

// Connected marks the modem online.
func (h *Handler) Connected(c broker.Conn) {
	h.Count.Connection("connected")
	h.enqueue(store.Uplink{Kind: store.UpPresence, ModemID: c.ModemID, Received: c.At,
		Presence: &store.Presence{Online: true, Epoch: epoch(c)}})
}

// Disconnected marks the modem offline unless a newer connection took over.
func (h *Handler) Disconnected(c broker.Conn, takenOver bool, err error) {
	if takenOver {
		h.Count.Connection("taken_over")
		return
	}
	h.Count.Connection("disconnected")
	h.Commands.ModemGone(c.ModemID)
	reason := "disconnect"
	if err != nil {
		reason = err.Error()
	}
	h.enqueue(store.Uplink{Kind: store.UpPresence, ModemID: c.ModemID, Received: time.Now(),
		Presence: &store.Presence{Online: false, Epoch: epoch(c), Reason: reason}})
}

// Subscribed lets queued commands go to the modem.
func (h *Handler) Subscribed(c broker.Conn) { h.Commands.ModemReady(c.ModemID, c.IMEI) }

// Delivered is the modem's PUBACK for a command; the command's own result is
// what moves its state, so nothing is written here.
func (h *Handler) Delivered(c broker.Conn, topic string) {}

func (h *Handler) enqueue(up store.Uplink) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	if err := h.W.Enqueue(ctx, up); err != nil && h.Log != nil {
		h.Log.Warn("presence not written", "modem", up.ModemID, "err", err)
	}
}

func (h *Handler) timeout() time.Duration {
	if h.SubmitTimeout > 0 {
		return h.SubmitTimeout
	}
	return 60 * time.Second
}

// Publish stores one uplink before it is acknowledged (the synchronous form
// of PublishAsync; the broker uses it for QoS 2).
func (h *Handler) Publish(c broker.Conn, topic string, payload []byte, qos byte, retain bool) error {
	up, class, err := h.decode(c, topic, payload)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	if err := h.W.Submit(ctx, up); err != nil {
		h.notStored(c.IMEI, class, err)
		return err
	}
	h.Count.Message(class.String(), "stored")
	h.after(up)
	return nil
}

// PublishAsync implements broker.AsyncHandler: it decodes on the modem's read
// goroutine and queues the uplink behind the ones before it, and done runs
// the follow-ups and lets the broker send the PUBACK once it is committed.
// The modem may thus have several uplinks committing at once (the broker
// bounds how many), which is what lets batches grow under load: with one
// uplink in flight per modem a batch was never larger than the number of
// modems publishing at that instant.
//
// There is no timeout: a slow commit holds back this modem's connection
// (its window fills, then its read loop waits), which is the back-pressure
// wanted; ctx ends when the connection closes, so a stuck store cannot wedge
// the broker's shutdown.
//
// The follow-up keeps only what the Writer does not hand back (the uplink):
// the closure is one small allocation per uplink, not one holding the
// connection and the uplink.
func (h *Handler) PublishAsync(ctx context.Context, c broker.Conn, topic string, payload []byte, qos byte, retain bool, done func(error)) error {
	up, class, err := h.decode(c, topic, payload)
	if err != nil {
		return err
	}
	imei := c.IMEI
	return h.W.SubmitAsync(ctx, up, func(up *store.Uplink, err error) {
		if err != nil {
			h.notStored(imei, class, err)
			done(err)
			return
		}
		h.Count.Message(class.String(), "stored")
		h.after(*up)
		done(nil)
	})
}

func (h *Handler) notStored(imei string, class protocol.Class, err error) {
	h.Count.Message(class.String(), "error")
	if h.Log != nil {
		h.Log.Warn("uplink not stored", "imei", imei, "class", class.String(), "err", err)
	}
}

// decode turns a publish into an Uplink; a malformed one is counted and
// refused with broker.ErrDrop.
func (h *Handler) decode(c broker.Conn, topic string, payload []byte) (store.Uplink, protocol.Class, error) {
	t, err := protocol.ParseTopic(topic)
	if err != nil || t.IMEI != c.IMEI || !t.Class.Uplink() {
		h.reject(protocol.ClassUnknown, "topic", c, err)
		return store.Uplink{}, protocol.ClassUnknown, broker.ErrDrop
	}
	drop := func(reason string, err error) (store.Uplink, protocol.Class, error) {
		h.reject(t.Class, reason, c, err)
		return store.Uplink{}, t.Class, broker.ErrDrop
	}
	// The hot classes (events are the load run's flood; heartbeats and
	// events most of a real fleet's traffic; states and hellos every modem
	// sends after a connect, so all at once after a gateway restart) are
	// decoded by their typed functions, which saves boxing the message into
	// protocol.Decode's interface, an allocation per uplink.
	switch t.Class {
	case protocol.ClassState:
		m, err := protocol.DecodeState(payload)
		if err != nil {
			return drop(protocol.Reason(err), err)
		}
		return stateUplink(c, m, time.Now()), t.Class, nil
	case protocol.ClassHello:
		m, err := protocol.DecodeHello(payload)
		if err != nil {
			return drop(protocol.Reason(err), err)
		}
		up, err := helloUplink(c, m, time.Now())
		if err != nil {
			return drop("invalid_value", err)
		}
		return up, t.Class, nil
	case protocol.ClassEvent:
		m, err := protocol.DecodeEvent(payload)
		if err != nil {
			return drop(protocol.Reason(err), err)
		}
		return eventUplink(c, m, time.Now()), t.Class, nil
	case protocol.ClassHeartbeat:
		m, err := protocol.DecodeHeartbeat(payload)
		if err != nil {
			return drop(protocol.Reason(err), err)
		}
		return heartbeatUplink(c, m, time.Now()), t.Class, nil
	}
	msg, err := protocol.Decode(t.Class, payload)
	if err != nil {
		return drop(protocol.Reason(err), err)
	}
	now := time.Now()
	up := store.Uplink{ModemID: c.ModemID, Received: now}
	// (Hellos, states, heartbeats and events were decoded above.)
	switch m := msg.(type) {
	case protocol.Vend:
		up.Kind = store.UpVend
		up.Vend = &store.Vend{ModemID: c.ModemID, MsgID: m.ID, Selection: m.Selection, Price: m.Price,
			Payment: string(m.Payment), Type: string(m.Type), OK: m.OK, Time: protocol.FromMillis(m.Time), CommandID: m.Cmd}
	case protocol.Audit:
		text, err := m.Text()
		if err != nil {
			return drop(protocol.Reason(err), err)
		}
		a := &store.Audit{ModemID: c.ModemID, MsgID: m.ID, Port: m.Port, Time: protocol.FromMillis(m.Time),
			Received: now, Data: text, Valid: true, CommandID: m.Cmd}
		if h.Audit != nil {
			if why := h.Audit(text); why != "" {
				a.Valid, a.Error = false, why
			}
		}
		up.Kind = store.UpAudit
		up.Audit = a
	case protocol.CommandResult:
		if m.Cmd != t.CmdID {
			return drop("invalid_value", errors.New("result cmd differs from the topic"))
		}
		up.Kind = store.UpResult
		up.Result = &store.CommandResult{CommandID: m.Cmd, Status: string(m.Status), Code: m.Code, Message: m.Message, Result: m.Result}
	default:
		return drop("topic", errors.New("not an uplink"))
	}
	return up, t.Class, nil
}

// helloUplink is the Uplink of a decoded hello; an error when the hello
// names another IMEI than its topic's (the connection's).
func helloUplink(c broker.Conn, m protocol.Hello, now time.Time) (store.Uplink, error) {
	if m.IMEI != c.IMEI {
		return store.Uplink{}, errors.New("hello imei differs from the topic")
	}
	return store.Uplink{Kind: store.UpHello, ModemID: c.ModemID, Received: now,
		Hello: &store.Hello{ICCID: m.ICCID, HWVersion: m.HWVersion, BootVersion: m.BootVersion,
			Firmware: m.Firmware, Phone: m.Phone, Bus: string(m.Bus), CashlessOn: m.Cashless.Enabled,
			CashlessAddr: m.Cashless.Address, HBInterval: m.HBInterval, Caps: m.Caps}}, nil
}

// stateUplink is the Uplink of a decoded state. The broker's connection
// events are authoritative for presence; a state message only counts as a
// sign of life, or as a clean "going offline", in the connection's epoch.
func stateUplink(c broker.Conn, m protocol.State, now time.Time) store.Uplink {
	return store.Uplink{Kind: store.UpPresence, ModemID: c.ModemID, Received: now,
		Presence: &store.Presence{Online: m.Online, Epoch: epoch(c), Reason: m.Reason}}
}

// heartbeatUplink is the Uplink of a decoded heartbeat.
func heartbeatUplink(c broker.Conn, m protocol.Heartbeat, now time.Time) store.Uplink {
	return store.Uplink{Kind: store.UpHeartbeat, ModemID: c.ModemID, Received: now,
		Heartbeat: &store.Heartbeat{Uptime: m.Uptime, Signal: m.Signal, VMLink: m.VMLink, Errors: m.Errors, Epoch: m.Epoch}}
}

// eventUplink is the Uplink of a decoded event.
func eventUplink(c broker.Conn, m protocol.Event, now time.Time) store.Uplink {
	return store.Uplink{Kind: store.UpEvent, ModemID: c.ModemID, Received: now,
		Event: &store.Event{ModemID: c.ModemID, MsgID: m.ID, Code: m.Code, Time: protocol.FromMillis(m.Time), Payload: m.Payload}}
}

// after runs the follow-ups of a committed uplink.
func (h *Handler) after(up store.Uplink) {
	switch up.Kind {
	case store.UpResult:
		h.Commands.ResultStored(up.ModemID, *up.Result)
	case store.UpAudit:
		if !up.Audit.Valid {
			return
		}
		ctx := context.Background()
		vm, err := h.Store.GetMachineByModem(ctx, up.ModemID)
		if err != nil {
			return
		}
		if err := h.Store.SatisfyRequest(ctx, vm.ID, true, false, up.Received); err != nil && !errors.Is(err, store.ErrNotFound) && h.Log != nil {
			h.Log.Warn("satisfy report request", "vm", vm.ID, "err", err)
		}
		h.auditDerived(ctx, up)
	case store.UpVend:
		if h.Fiscal == nil || !h.Fiscal.wants(up.Vend) {
			return
		}
		if _, err := h.Fiscal.Vend(context.Background(), up.ModemID, *up.Vend); err != nil && h.Log != nil {
			h.Log.Error("receipt not queued", "modem", up.ModemID, "msg", up.Vend.MsgID, "err", err)
		}
	}
}

func (h *Handler) reject(class protocol.Class, reason string, c broker.Conn, err error) {
	h.Count.Rejected(class.String(), reason)
	if h.Log != nil {
		h.Log.Debug("uplink rejected", "imei", c.IMEI, "class", class.String(), "reason", reason, "err", err)
	}
}
