package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// Opener returns a fresh, empty, migrated store. It must arrange for the store to
// be closed when t ends (t.Cleanup) and tolerate Close having been called already.
type Opener func(t *testing.T) store.Store

// T0 is the base time of the suite, on a millisecond boundary since engines keep
// millisecond precision.
var T0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// at returns T0 plus sec seconds.
func at(sec int) time.Time { return T0.Add(time.Duration(sec) * time.Second) }

// Run runs the whole contract suite, each subtest on a store of its own; the
// subtests run in parallel, so open must be safe for concurrent use.
func Run(t *testing.T, open Opener) {
	groups := []struct {
		name  string
		tests map[string]func(t *testing.T, s store.Store)
	}{
		{"Modems", modemTests},
		{"Machines", machineTests},
		{"Uplinks", uplinkTests},
		{"Results", resultTests},
		{"Commands", commandTests},
		{"Requests", requestTests},
		{"Users", userTests},
		{"Tokens", tokenTests},
		{"Queries", queryTests},
		{"Lifecycle", lifecycleTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, name := range slices.Sorted(maps.Keys(g.tests)) {
				fn := g.tests[name]
				t.Run(name, func(t *testing.T) {
					t.Parallel() // every subtest has a store of its own
					fn(t, open(t))
				})
			}
		})
	}
}

var ctx = context.Background()

// --- fixtures ---

var imeiSeq atomic.Int64

func newModem(t *testing.T, s store.Store) store.Modem {
	t.Helper()
	m := store.Modem{IMEI: fmt.Sprintf("86%013d", imeiSeq.Add(1)), PasswordHash: "hash", CreatedAt: T0}
	require.NoError(t, s.CreateModem(ctx, &m))
	require.NotZero(t, m.ID)
	return m
}

func newMachine(t *testing.T, s store.Store, modemID int64) store.Machine {
	t.Helper()
	vm := store.Machine{Name: "vm", CreatedAt: T0}
	if modemID != 0 {
		vm.ModemID = &modemID
	}
	require.NoError(t, s.CreateMachine(ctx, &vm, false))
	require.NotZero(t, vm.ID)
	return vm
}

// boundModem creates a modem and a machine bound to it.
func boundModem(t *testing.T, s store.Store) (store.Modem, store.Machine) {
	t.Helper()
	m := newModem(t, s)
	return m, newMachine(t, s, m.ID)
}

func apply(t *testing.T, s store.Store, ups ...store.Uplink) {
	t.Helper()
	require.NoError(t, s.ApplyUplinks(ctx, ups))
}

func getModem(t *testing.T, s store.Store, id int64) store.Modem {
	t.Helper()
	m, err := s.GetModem(ctx, id)
	require.NoError(t, err)
	return m
}

func getMachine(t *testing.T, s store.Store, id int64) store.Machine {
	t.Helper()
	m, err := s.GetMachine(ctx, id)
	require.NoError(t, err)
	return m
}

func getCommand(t *testing.T, s store.Store, id string) store.Command {
	t.Helper()
	c, err := s.GetCommand(ctx, id)
	require.NoError(t, err)
	return c
}

// Uplink constructors.

func hello(modem int64, sec int, h store.Hello) store.Uplink {
	return store.Uplink{Kind: store.UpHello, ModemID: modem, Received: at(sec), Hello: &h}
}

func presence(modem int64, sec int, online bool, epoch uint64) store.Uplink {
	return store.Uplink{Kind: store.UpPresence, ModemID: modem, Received: at(sec),
		Presence: &store.Presence{Online: online, Epoch: epoch, Reason: "test"}}
}

func heartbeat(modem int64, sec int, uptime int64) store.Uplink {
	return store.Uplink{Kind: store.UpHeartbeat, ModemID: modem, Received: at(sec),
		Heartbeat: &store.Heartbeat{Uptime: uptime, Signal: 20 + int(uptime%10), VMLink: uptime%2 == 0, Errors: uint32(uptime), Epoch: 1}}
}

func event(modem int64, sec int, msgID, code string) store.Uplink {
	return store.Uplink{Kind: store.UpEvent, ModemID: modem, Received: at(sec),
		Event: &store.Event{MsgID: msgID, Code: code, Time: at(sec), Payload: json.RawMessage(`{"k":"` + code + `"}`)}}
}

func vend(modem int64, sec int, msgID string, ok bool) store.Uplink {
	return store.Uplink{Kind: store.UpVend, ModemID: modem, Received: at(sec),
		Vend: &store.Vend{MsgID: msgID, Selection: "12", Price: 150, Payment: "cash", Type: "paid", OK: ok, Time: at(sec), CommandID: "c-" + msgID}}
}

func audit(modem int64, sec int, msgID string, port int, valid bool) store.Uplink {
	a := &store.Audit{MsgID: msgID, Port: port, Time: at(sec), Received: at(sec + 1), Data: []byte("DXS*1\r\n"), Valid: valid}
	if !valid {
		a.Error = "bad checksum"
	}
	return store.Uplink{Kind: store.UpAudit, ModemID: modem, Received: at(sec + 1), Audit: a}
}

func result(modem int64, sec int, cmdID, status string) store.Uplink {
	return store.Uplink{Kind: store.UpResult, ModemID: modem, Received: at(sec),
		Result: &store.CommandResult{CommandID: cmdID, Status: status, Code: len(status), Message: "msg " + status,
			Result: json.RawMessage(`{"status":"` + status + `"}`)}}
}

func ptr(v int64) *int64 { return &v }
