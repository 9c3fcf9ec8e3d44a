package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
)

// countingStore counts the modem reads of the command routes.
type countingStore struct {
	*sqlite.DB
	getModem, modemTarget atomic.Int64
}

func (c *countingStore) GetModem(ctx context.Context, id int64) (store.Modem, error) {
	c.getModem.Add(1)
	return c.DB.GetModem(ctx, id)
}

func (c *countingStore) ModemTarget(ctx context.Context, id int64) (int64, int64, error) {
	c.modemTarget.Add(1)
	return c.DB.ModemTarget(ctx, id)
}

// postSet submits cashless_mode through POST /v2/modems/{id}/set and
// returns the command id.
func postSet(t *testing.T, e *env, tok string, modemID int64) string {
	t.Helper()
	r := e.do("POST", fmt.Sprintf("/v2/modems/%d/set", modemID), tok, `{"cashless_mode":1}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	cmds := r.obj(t)["commands"].([]any)
	require.Len(t, cmds, 1)
	return cmds[0].(string)
}

// TestCommandVisibilityKnownCompany checks that remembering modems'
// companies never shows a command across companies, whether the company is
// known (read by an earlier request) or not, and that a known one spares the
// GET its modem read.
func TestCommandVisibilityKnownCompany(t *testing.T) {
	t.Parallel()
	var cs *countingStore
	e := newEnv(t, func(c *Config) {
		cs = &countingStore{DB: c.Store.(*sqlite.DB)}
		c.Store = cs
	})
	srv := e.h.(*server)
	m1 := e.modem("860000000000001", store.DefaultCompanyID)
	m2 := e.modem("860000000000002", otherCompany)
	vm1 := e.machine("VM", store.DefaultCompanyID, m1.ID, "")
	cmd1 := postSet(t, e, e.adminTok, m1.ID)
	cmd2 := postSet(t, e, e.otherTok, m2.ID)
	sub := e.cmd.submissions()
	require.Len(t, sub, 2)
	assert.Equal(t, vm1.ID, sub[0].VMID, "the command is its machine's")
	assert.Zero(t, sub[1].VMID, "a modem with no machine")

	check := func(t *testing.T) {
		t.Helper()
		for _, c := range []struct {
			tok, id string
			status  int
		}{
			{e.adminTok, cmd1, http.StatusOK},
			{e.adminTok, cmd2, http.StatusNotFound},
			{e.otherTok, cmd2, http.StatusOK},
			{e.otherTok, cmd1, http.StatusNotFound},
		} {
			r := e.do("GET", "/v2/commands/"+c.id, c.tok, nil)
			require.Equal(t, c.status, r.Status, "%s %s", c.id, r.Raw)
			if c.status == http.StatusNotFound {
				obj := requireError(t, r, http.StatusNotFound, SubNotFound)
				require.Equal(t, msgCommandNotFound, obj["message"])
			} else {
				require.Equal(t, c.id, r.obj(t)["id"])
			}
		}
		// Nor can either company command the other's modem.
		requireError(t, e.do("POST", fmt.Sprintf("/v2/modems/%d/set", m2.ID), e.adminTok, `{"cashless_mode":1}`),
			http.StatusNotFound, SubNotFound)
		requireError(t, e.do("POST", fmt.Sprintf("/v2/modems/%d/set", m1.ID), e.otherTok, `{"cashless_mode":1}`),
			http.StatusNotFound, SubNotFound)
	}

	t.Run("known", func(t *testing.T) {
		for _, id := range []int64{m1.ID, m2.ID} {
			_, ok := srv.modemCos.get(id)
			require.True(t, ok, "POST /set remembers modem %d", id)
		}
		before := cs.getModem.Load()
		check(t)
		assert.Equal(t, before, cs.getModem.Load(), "a known company needs no modem read")
	})
	t.Run("unknown", func(t *testing.T) {
		srv.modemCos.mu.Lock()
		srv.modemCos.m = nil
		srv.modemCos.mu.Unlock()
		before := cs.getModem.Load()
		for _, c := range []struct{ tok, id string }{{e.adminTok, cmd2}, {e.otherTok, cmd1}} {
			requireError(t, e.do("GET", "/v2/commands/"+c.id, c.tok, nil), http.StatusNotFound, SubNotFound)
		}
		assert.Equal(t, before+2, cs.getModem.Load(), "an unknown company is read")
		check(t)
	})
	t.Run("operator", func(t *testing.T) {
		// An operator's visibility depends on their groups: read every time.
		requireError(t, e.do("GET", "/v2/commands/"+cmd1, e.operTok, nil), http.StatusNotFound, SubNotFound)
		accessGrant(t, e, e.oper, vm1)
		r := e.do("GET", "/v2/commands/"+cmd1, e.operTok, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	})
	t.Run("moved modem", func(t *testing.T) {
		// A known company spares POST /set its read; the machine is still
		// the one the modem is in when the command is created.
		_, ok := srv.modemCos.get(m1.ID)
		require.True(t, ok)
		vm1.ModemID = nil
		require.NoError(t, e.st.UpdateMachine(context.Background(), vm1, false))
		vm2 := e.machine("VM2", store.DefaultCompanyID, m1.ID, "")
		before := cs.modemTarget.Load()
		id := postSet(t, e, e.adminTok, m1.ID)
		assert.Equal(t, before, cs.modemTarget.Load(), "no read for a known company")
		r := e.do("GET", "/v2/commands/"+id, e.adminTok, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		assert.Equal(t, json.Number(fmt.Sprint(vm2.ID)), r.obj(t)["vm_id"], "the machine it is in now")
	})
	t.Run("missing modem", func(t *testing.T) {
		before := cs.modemTarget.Load()
		requireError(t, e.do("POST", "/v2/modems/999999/set", e.adminTok, `{"cashless_mode":1}`), http.StatusNotFound, SubNotFound)
		assert.Equal(t, before+1, cs.modemTarget.Load(), "the narrow read decides")
		_, ok := srv.modemCos.get(999999)
		assert.False(t, ok)
	})
}

func TestModemCompanyCache(t *testing.T) {
	t.Parallel()
	c := modemCompanyCache{max: 3}
	_, ok := c.get(1)
	require.False(t, ok, "empty")
	c.put(1, 10)
	c.put(2, 20)
	c.put(2, 20) // again: no change
	c.put(3, 30)
	for id, want := range map[int64]int64{1: 10, 2: 20, 3: 30} {
		got, ok := c.get(id)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
	c.put(4, 40) // full: starts over
	_, ok = c.get(1)
	require.False(t, ok, "dropped when full")
	got, ok := c.get(4)
	require.True(t, ok)
	require.Equal(t, int64(40), got)
}

// listerFunc lists fixed modem companies.
type listerFunc func(fn func(modemID, companyID int64)) error

func (l listerFunc) ModemCompanies(_ context.Context, fn func(modemID, companyID int64)) error {
	return l(fn)
}

func TestModemCompanyCacheFill(t *testing.T) {
	t.Parallel()
	c := modemCompanyCache{max: 3}
	c.put(9, 90) // learned before the fill: kept while there is room
	require.NoError(t, c.fill(context.Background(), listerFunc(func(fn func(int64, int64)) error {
		fn(1, 10)
		fn(2, 20)
		return nil
	})))
	for id, want := range map[int64]int64{1: 10, 2: 20, 9: 90} {
		got, ok := c.get(id)
		require.True(t, ok, "modem %d", id)
		assert.Equal(t, want, got)
	}
	// Past the bound the first listed stay.
	require.NoError(t, c.fill(context.Background(), listerFunc(func(fn func(int64, int64)) error {
		for id := int64(1); id <= 5; id++ {
			fn(id, id*10)
		}
		return nil
	})))
	for id := int64(1); id <= 5; id++ {
		_, ok := c.get(id)
		assert.Equal(t, id <= 3, ok, "modem %d", id)
	}
	// A failed read leaves the cache as it was.
	require.Error(t, c.fill(context.Background(), listerFunc(func(fn func(int64, int64)) error {
		fn(7, 70)
		return assert.AnError
	})))
	_, ok := c.get(7)
	assert.False(t, ok)
	_, ok = c.get(1)
	assert.True(t, ok)
}

// The API starts with every existing modem's company known: the first
// POST /set to each reads nothing.
func TestModemCompaniesKnownAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m1 := e.modem("860000000000011", store.DefaultCompanyID)
	m2 := e.modem("860000000000012", otherCompany)
	cs := &countingStore{DB: e.st}
	h, err := New(Config{Store: cs, Commands: e.cmd, Now: e.clk.Now})
	require.NoError(t, err)
	srv := h.(*server)
	for id, want := range map[int64]int64{m1.ID: store.DefaultCompanyID, m2.ID: otherCompany} {
		got, ok := srv.modemCos.get(id)
		require.True(t, ok, "modem %d", id)
		assert.Equal(t, want, got)
	}
	// The first command to each reads no modem; another company's is still
	// not found.
	set := func(modem int64) int {
		req := httptest.NewRequest("POST", fmt.Sprintf("/v2/modems/%d/set", modem), strings.NewReader(`{"cashless_mode":1}`))
		req.Header.Set("Authorization", "Bearer "+e.adminTok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusOK, set(m1.ID))
	assert.Equal(t, http.StatusNotFound, set(m2.ID))
	assert.Zero(t, cs.modemTarget.Load()+cs.getModem.Load(), "no modem read")
}
