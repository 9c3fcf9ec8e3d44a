package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"vendgate/gateway/internal/store"
)

// memCommander is a Commander that keeps commands in memory and ends each at
// once as succeeded (FinalCommands), so that a benchmark of the command routes
// measures the REST side only: no store write, no modem.
type memCommander struct {
	mu    sync.Mutex
	n     int
	final map[string]store.Command
	stop  chan struct{}
}

func newMemCommander() *memCommander {
	return &memCommander{final: map[string]store.Command{}, stop: make(chan struct{})}
}

func (m *memCommander) Submit(_ context.Context, req CommandRequest) (store.Command, bool, error) {
	args, err := json.Marshal(req.Args)
	if err != nil {
		return store.Command{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	status := "succeeded"
	c := store.Command{ID: fmt.Sprintf("c%d", m.n), ModemID: req.ModemID, VMID: req.VMID, UserID: req.UserID,
		Name: string(req.Name), Args: args, State: store.CmdSucceeded, Status: status, Attempts: 1,
		CreatedAt: t0, SentAt: t0, AckedAt: t0, DoneAt: t0, ExpiresAt: t0.Add(req.TTL)}
	m.final[c.ID] = c
	return c, true, nil
}

func (m *memCommander) Final(id string) (store.Command, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.final[id]
	return c, ok
}

func (m *memCommander) Watch(string) (<-chan struct{}, func()) { return nil, func() {} }
func (m *memCommander) Stopping() <-chan struct{}              { return m.stop }

// BenchmarkCommandREST measures the REST side of a command round trip as an
// admin makes it, through the real handler on a file SQLite store, without
// the network: POST /v2/modems/{id}/set (authentication, the modem and machine
// look-up, body parsing, the answer) and GET /v2/commands/{id}?wait=10 of the
// command once final (authentication, visibility, the answer). The Commander
// is memCommander: its own cost is not in the figures.
func BenchmarkCommandREST(b *testing.B) {
	mc := newMemCommander()
	e := newEnv(b, func(c *Config) { c.Commands = mc })
	m := e.modem("860000000000001", 1)
	e.machine("VM", 1, m.ID, "")
	setPath := fmt.Sprintf("/v2/modems/%d/set", m.ID)
	do := func(b *testing.B, method, path, body string) []byte {
		var req *http.Request
		if body != "" {
			req = httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		} else {
			req = httptest.NewRequest(method, path, nil)
		}
		req.Header.Set("Authorization", "Bearer "+e.adminTok)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s %s: status %d: %s", method, path, rec.Code, rec.Body.Bytes())
		}
		return rec.Body.Bytes()
	}
	var set struct{ Commands []string }
	if err := json.Unmarshal(do(b, http.MethodPost, setPath, `{"cashless_mode":1}`), &set); err != nil || len(set.Commands) != 1 {
		b.Fatalf("set answered %v (%v)", set, err)
	}
	getPath := "/v2/commands/" + set.Commands[0] + "?wait=10"
	b.Run("post-set", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			do(b, http.MethodPost, setPath, `{"cashless_mode":1}`)
		}
	})
	b.Run("get-command", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			do(b, http.MethodGet, getPath, "")
		}
	})
}
