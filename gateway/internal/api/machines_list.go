package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// The machine list (GET /v2/vending_machines) is the fleet's hot read: with
// 10,000 machines, reading every machine and modem column through the SQLite
// driver costs ~200 ms a request, and even the listed columns alone cost ~45
// ms, because the driver's cost is per column read. So the list is kept in
// memory per company and brought up to date on every request by re-reading
// only the rows changed since (store.MachineList: a change version stamped by
// triggers on every committed change of a listed column, whoever wrote it).
// The answer is as fresh as the store at the request: nothing is served from a
// time-based cache (a modem's last_seen, which moves with every uplink, is
// handled apart: see refreshSeen). The JSON is appended by hand (appendVM), byte for byte what
// encoding/json writes for vmJSON (TestVMListEncoderMatchesEncodingJSON).
//
// The service flags, the type and the last service / collection times come
// with the rows: the machine's service summary (service_derive.go) and its
// model's type are joined by the list query, and a change of the summary
// stamps the machine like any listed column. Only the flags' dependence on
// the clock is computed per request (machineService, arithmetic on the row).
// The locations of the company are read once per request (a handful of rows
// next to thousands of machines).

// vmListCache holds the machine list rows of each company that asked.
// Companies are not evicted: a row is a few hundred bytes, so even 100,000
// machines in all stay in the tens of megabytes.
type vmListCache struct {
	mu        sync.Mutex
	companies map[int64]*vmListEntry
	lastSize  atomic.Int64 // length of the last list response
}

// sizeHint bounds the buffer preallocated from the last response's length.
func (c *vmListCache) sizeHint() int {
	return int(min(c.lastSize.Load(), maxPooledBuf))
}

// vmListEntry is one company's copy. Neither rows nor the rows it points to
// are modified once published (a refresh builds a new slice of pointers, new
// rows for the changed machines), so readers use it without the lock, and a
// refresh copies pointers, not rows.
type vmListEntry struct {
	mu   sync.Mutex // serialises the refreshes of this company
	ok   bool       // rows holds a full read
	ver  int64      // store version rows are current at
	rows []*store.MachineListRow
}

func (c *vmListCache) entry(company int64) *vmListEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.companies == nil {
		c.companies = map[int64]*vmListEntry{}
	}
	e := c.companies[company]
	if e == nil {
		e = &vmListEntry{}
		c.companies[company] = e
	}
	return e
}

// machineListRows returns the company's machines with their modems, ordered
// by id, current at the call.
func (s *server) machineListRows(ctx context.Context, company int64) ([]*store.MachineListRow, error) {
	ml, ok := s.cfg.Store.(store.MachineList)
	if !ok {
		return s.machineListRowsSlow(ctx, company)
	}
	// Summaries of machines changed since the last request are derived
	// first: saving them stamps the rows, so the version read next covers
	// them.
	if err := s.syncService(ctx); err != nil {
		return nil, err
	}
	// The version is read before the rows: a change committed after this
	// read has a greater version and is re-read by the next request.
	ver, err := ml.MachineListVersion(ctx)
	if err != nil {
		return nil, err
	}
	e := s.vmList.entry(company)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ok || e.ver != ver {
		after := e.ver
		if !e.ok {
			after = -1
		}
		changed, err := ml.MachineListRows(ctx, company, after)
		if err != nil {
			return nil, err
		}
		if e.ok {
			e.rows = mergeListRows(e.rows, changed)
		} else {
			e.rows = rowPointers(changed)
		}
		e.ok, e.ver = true, ver
	}
	rows, err := s.refreshSeen(ctx, ml, e.rows)
	if err != nil {
		return nil, err
	}
	e.rows = rows
	return rows, nil
}

// refreshSeen re-reads the last_seen of the modems rows shows online but
// stale (the version does not follow last_seen, see migration 0007): a
// newer last_seen can only make a modem less stale, so the state computed
// from the copy is exact for every other modem. In a working fleet each modem
// is re-read about once per stale limit (2.5 heartbeats), a few rows a
// request. It returns rows, or a new slice with new rows for the modems
// seen since.
func (s *server) refreshSeen(ctx context.Context, ml store.MachineList, rows []*store.MachineListRow) ([]*store.MachineListRow, error) {
	now := s.cfg.Now()
	var ids []int64
	for _, r := range rows {
		if d := r.Modem; d != nil && d.Online && s.cfg.Presence.Stale(*d, now) {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return rows, nil
	}
	seen, err := ml.MachineListSeen(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []*store.MachineListRow
	for i, r := range rows {
		d := r.Modem
		if d == nil {
			continue
		}
		t, ok := seen[d.ID]
		if !ok || !t.After(d.LastSeen) {
			continue
		}
		if out == nil {
			out = slices.Clone(rows)
		}
		nd := *d
		nd.LastSeen = t
		nr := *r
		nr.Modem = &nd
		out[i] = &nr
	}
	if out == nil {
		return rows, nil
	}
	return out, nil
}

func rowPointers(rows []store.MachineListRow) []*store.MachineListRow {
	out := make([]*store.MachineListRow, len(rows))
	for i := range rows {
		out[i] = &rows[i]
	}
	return out
}

// mergeListRows returns old with the rows of changed (both ordered by id)
// replaced or inserted, as a new slice; old is left as it was.
func mergeListRows(old []*store.MachineListRow, changed []store.MachineListRow) []*store.MachineListRow {
	if len(changed) == 0 {
		return old
	}
	out := make([]*store.MachineListRow, 0, len(old)+len(changed))
	i, j := 0, 0
	for i < len(old) && j < len(changed) {
		switch a, b := old[i].Machine.ID, changed[j].Machine.ID; {
		case a < b:
			out = append(out, old[i])
			i++
		case a > b:
			out = append(out, &changed[j])
			j++
		default:
			out = append(out, &changed[j])
			i++
			j++
		}
	}
	out = append(out, old[i:]...)
	for ; j < len(changed); j++ {
		out = append(out, &changed[j])
	}
	return out
}

// machineListRowsSlow builds the rows from ListMachines and ListModems for
// engines without store.MachineList.
func (s *server) machineListRowsSlow(ctx context.Context, company int64) ([]*store.MachineListRow, error) {
	ms, err := s.cfg.Store.ListMachines(ctx, company)
	if err != nil {
		return nil, err
	}
	modems, err := s.cfg.Store.ListModems(ctx, company)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*store.Modem, len(modems))
	for i := range modems {
		byID[modems[i].ID] = &modems[i]
	}
	out := make([]store.MachineListRow, len(ms))
	for i, m := range ms {
		out[i].Machine = m
		if m.ModemID != nil {
			out[i].Modem = byID[*m.ModemID]
		}
		x, err := s.machineExtra(ctx, m)
		if err != nil {
			return nil, err
		}
		out[i].Service, out[i].Type = x.Service, x.Type
	}
	return rowPointers(out), nil
}

// listBufs keeps a few response buffers (megabytes for a large fleet) for
// reuse. Unlike a sync.Pool it survives garbage collections, which a list
// request of a large fleet triggers by itself.
var listBufs bufFreeList

// Bounds of listBufs.
const (
	maxPooledBuf  = 16 << 20 // larger buffers are left to the collector
	maxPooledBufs = 2        // concurrent list requests beyond this allocate
)

type bufFreeList struct {
	mu   sync.Mutex
	bufs [][]byte
}

// get returns an empty buffer of at least capacity hint.
func (l *bufFreeList) get(hint int) []byte {
	l.mu.Lock()
	var b []byte
	if n := len(l.bufs); n > 0 {
		b, l.bufs = l.bufs[n-1], l.bufs[:n-1]
	}
	l.mu.Unlock()
	if cap(b) < hint {
		b = make([]byte, 0, hint+hint/8)
	}
	return b[:0]
}

func (l *bufFreeList) put(b []byte) {
	if cap(b) > maxPooledBuf {
		return
	}
	l.mu.Lock()
	if len(l.bufs) < maxPooledBufs {
		l.bufs = append(l.bufs, b)
	}
	l.mu.Unlock()
}

func (s *server) handleVMList(w http.ResponseWriter, r *http.Request, sess *session) error {
	local, err := queryBool(r, "local")
	if err != nil {
		return err
	}
	ctx := r.Context()
	rows, err := s.machineListRows(ctx, sess.User.CompanyID)
	if err != nil {
		return err
	}
	see, err := s.machineFilter(ctx, sess.User)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	cfg := s.serviceConfig()
	locs, err := s.companyLocations(ctx, sess.User.CompanyID)
	if err != nil {
		return err
	}
	// A new buffer is sized like the last response rather than grown by
	// doubling.
	buf := append(listBufs.get(s.vmList.sizeHint()), '[')
	first := true
	var zone vmZone
	for _, row := range rows {
		if !see(row.Machine) {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		x := vmExtra{Service: row.Service, Type: row.Type}
		if id := row.Machine.LocationID; id != nil {
			x.Location = locs[*id]
		}
		buf = s.appendVM(buf, &row.Machine, row.Modem, x, zone.loc(s, row.Machine.TZ, local), now, cfg)
	}
	buf = append(buf, "]\n"...)
	s.vmList.lastSize.Store(int64(len(buf)))
	writeRawJSON(w, http.StatusOK, buf)
	listBufs.put(buf)
	return nil
}

// vmZone remembers the last zone looked up: machines of a fleet mostly share
// a few zones, so most look-ups skip even the cache map.
type vmZone struct {
	name string
	l    *time.Location
}

// loc is machineLoc for the list.
func (z *vmZone) loc(s *server, tz string, local bool) *time.Location {
	if !local {
		return time.UTC
	}
	if z.l == nil || z.name != tz {
		z.name, z.l = tz, time.UTC
		if loc := s.location(tz); loc != nil {
			z.l = loc
		}
	}
	return z.l
}

// appendVM appends the JSON of s.toVMJSON(*m, modem, x, ...) with loc the
// machine's zone (machineLoc) and cfg s.serviceConfig(), exactly as
// encoding/json encodes it.
func (s *server) appendVM(b []byte, m *store.Machine, modem *store.Modem, x vmExtra, loc *time.Location, now time.Time,
	cfg ServiceConfig) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = append(b, `,"serial_number":`...)
	b = appendNullStr(b, m.SerialNumber)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, m.Name)
	b = append(b, `,"planogram_id":`...)
	b = appendNullInt(b, m.PlanogramID)
	b = append(b, `,"state":`...)
	b = strconv.AppendInt(b, int64(s.cfg.Presence.MachineState(modem, now)), 10)
	b = append(b, `,"service":`...)
	b = machineService(cfg, m, x.Service, now).appendJSON(b)
	b = append(b, `,"location":`...)
	if l := x.Location; l != nil {
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, l.ID, 10)
		b = append(b, `,"group_id":null,"name":`...)
		b = appendJSONString(b, l.Name)
		b = append(b, `,"address":`...)
		b = appendNullStr(b, l.Address)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"type":`...)
	if t := x.Type; t != nil {
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, t.ID, 10)
		b = append(b, `,"label":`...)
		b = appendJSONString(b, t.Label)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, t.Name)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"imei":`...)
	switch v := imeiOf(modem).(type) {
	case json.Number:
		b = append(b, v...)
	case string:
		b = appendJSONString(b, v)
	default:
		b = append(b, "null"...)
	}
	b = append(b, `,"is_crt_active":`...)
	b = strconv.AppendBool(b, m.IsCRTActive)
	b = append(b, `,"inventory_number":`...)
	b = appendNullStr(b, m.InventoryNumber)
	b = append(b, `,"track_bus_vends":`...)
	b = strconv.AppendBool(b, m.TrackBusVends)
	b = append(b, `,"mm_id":`...)
	b = appendNullInt(b, m.ModelID)
	b = append(b, `,"tz_id":`...)
	b = appendNullInt(b, m.TZID)
	b = append(b, `,"tz":`...)
	b = appendNullStr(b, m.TZ)
	b = append(b, `,"last_event_dates":{"last_sale":`...)
	b = appendTime(b, m.LastSale, loc)
	b = append(b, `,"last_service":`...)
	b = appendTime(b, lastService(m), loc)
	b = append(b, `,"last_collection":`...)
	b = appendTime(b, m.LastCollection, loc)
	b = append(b, `,"last_loading":`...)
	b = appendTime(b, m.LastLoading, loc)
	b = append(b, `,"last_report":`...)
	b = appendTime(b, m.LastReport, loc)
	b = append(b, `,"last_acquired_report":`...)
	b = appendTime(b, m.LastAcquiredReport, loc)
	return append(b, "}}"...)
}

// imeiOf is the list's imei value of a machine's modem (imeiValue; nil for
// no modem).
func imeiOf(modem *store.Modem) any {
	if modem == nil {
		return nil
	}
	return imeiValue(modem.IMEI)
}

// appendTime appends fmtTime(t, loc) as JSON: null for the zero time.
func appendTime(b []byte, t time.Time, loc *time.Location) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.In(loc).AppendFormat(b, isoLayout)
	return append(b, '"')
}

// appendNullStr appends nullStr(v) as JSON.
func appendNullStr(b []byte, v string) []byte {
	if v == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, v)
}

func appendNullInt(b []byte, v *int64) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, *v, 10)
}

// appendJSONString appends s as a JSON string the way encoding/json does with
// HTML escaping off (writeJSON).
func appendJSONString(b []byte, s string) []byte { return protocol.AppendJSONString(b, s, false) }

// companyLocations returns the company's locations by id (nil without a
// catalogue in the store).
func (s *server) companyLocations(ctx context.Context, company int64) (map[int64]*store.Location, error) {
	c, ok := s.cfg.Store.(store.Catalog)
	if !ok {
		return nil, nil
	}
	ls, err := c.ListLocations(ctx, company)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*store.Location, len(ls))
	for i := range ls {
		out[ls[i].ID] = &ls[i]
	}
	return out, nil
}
