package evadts

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Encode writes r as one EVA-DTS audit with CRLF line ends, a G85 computed
// over ST..(CRLF before G85) and SE01 counting ST through SE.
//
// Records are written in a canonical order (header, identity, meters, cash,
// cashless, machine events, raw unknown records, product groups with their
// events, MA5, trailer), so Parse(Encode(r)) equals r in its typed
// fields, not byte for byte. Empty trailing elements are omitted; numbers are
// written in decimal; the header is written as it is (see NewReport). Elements containing '*', CR or LF, and raw records with a
// reserved identifier (DXS, ST, G85, SE, DXE, LS, LE), give ErrNotEncodable.
func Encode(w io.Writer, r *Report) error {
	e := encoder{bw: bufio.NewWriter(w)}
	h := r.Header
	e.seg("DXS", h.CommID, h.FunctionalID, h.Version, h.Transmission)
	e.add(h.Extra...)
	e.end(false)
	e.span = true
	e.seg("ST", h.SetID, h.SetControl)
	e.end(true)

	m := r.Machine
	e.seg("ID1", m.Serial, m.Model, m.BuildStandard, m.Location, m.UserDefined, m.Asset, m.DTSLevel, m.DTSRevision)
	e.add(m.Extra...)
	e.end(true)
	if c := m.Currency; c != nil {
		e.seg("ID4", strconv.Itoa(c.Decimals), c.Numeric, c.Alpha)
		e.add(c.Extra...)
		e.end(true)
	}
	if c := m.Clock; c != nil {
		e.seg("ID5", c.Date, c.Time)
		e.add(c.Extra...)
		e.end(true)
	}
	e.device("CB1", m.ControlBoard)
	e.device("AM1", m.AuditModule)
	e.raw(m.Other)

	for _, x := range []struct {
		id string
		m  *Meter
	}{{"VA1", r.Meters.Paid}, {"VA2", r.Meters.Test}, {"VA3", r.Meters.Free}} {
		if x.m == nil {
			continue
		}
		e.seg(x.id)
		e.totals(&x.m.Totals)
		e.totals(x.m.Discounts)
		e.totals(x.m.Surcharges)
		e.add(x.m.Extra...)
		e.end(true)
	}

	c := r.Cash
	e.device("CA1", c.CoinMech)
	e.device("BA1", c.BillValidator)
	if c.Sales != nil {
		e.seg("CA2")
		e.totals(c.Sales)
		e.end(true)
	}
	if x := c.In; x != nil {
		e.seg("CA3")
		e.nums(x.InReset, x.ToBoxReset, x.ToTubesReset, x.BillsReset, x.InInit, x.ToBoxInit, x.ToTubesInit,
			x.BillsInit, x.BillsResetNc, x.BillsInitNc, x.BillsToRecyclerReset, x.BillsToRecyclerInit)
		e.end(true)
	}
	if x := c.Out; x != nil {
		e.seg("CA4")
		e.nums(x.DispensedReset, x.ManualReset, x.DispensedInit, x.ManualInit)
		e.add(x.Extra...)
		e.end(true)
	}
	e.resetInit("CA8", c.Overpay)
	e.resetInit("CA9", c.ExactChange)
	if x := c.Filled; x != nil {
		e.seg("CA10")
		e.nums(x.Reset, x.Init, x.BillsReset, x.BillsInit)
		e.end(true)
	}
	for _, t := range c.Tubes {
		e.seg("CA17", t.CoinType)
		e.nums(t.Value, t.InTube, t.Inserted, t.Dispensed)
		e.add(t.Full)
		e.add(t.Extra...)
		e.end(true)
	}
	e.raw(c.Other)

	for _, cl := range r.Cashless {
		if cl.Prefix != "DA" && cl.Prefix != "DB" {
			e.fail("cashless prefix %q", cl.Prefix)
		}
		e.device(cl.Prefix+"1", cl.Device)
		if cl.Sales != nil {
			e.seg(cl.Prefix + "2")
			e.totals(cl.Sales)
			e.end(true)
		}
		e.raw(cl.Other)
	}

	ev := r.Events
	for i := range ev.Timed {
		if ev.Timed[i].Product == "" {
			e.timed(&ev.Timed[i])
		}
	}
	for i := range ev.Counters {
		if ev.Counters[i].Product == "" {
			e.counter(&ev.Counters[i])
		}
	}
	e.setLoop("")
	if x := ev.Reads; x != nil {
		e.seg("EA3")
		e.nums(x.ReadsWithReset)
		e.add(x.Date, x.Time, x.Terminal, x.LastDate, x.LastTime, x.LastTerminal, x.Field08)
		e.nums(x.ReadsTotal, x.Resets)
		e.add(x.Extra...)
		e.end(true)
	}
	e.dateTime("EA4", ev.Initialised)
	e.dateTime("EA5", ev.PriceSet)
	e.dateTime("EA6", ev.Serviced)
	e.resetInit("EA7", ev.PowerOutages)
	e.raw(ev.Other)
	// Unknown records go before the product groups so that orphan PA
	// records stay orphans, and after the typed sections so duplicates of
	// typed records (kept raw) stay second.
	e.raw(r.Unknown)

	// Product events go into the group of the first product with their id.
	first := map[string]int{}
	for i, p := range r.Products {
		if _, ok := first[p.ID]; !ok {
			first[p.ID] = i
		}
	}
	for _, x := range ev.Timed {
		if _, ok := first[x.Product]; x.Product != "" && !ok {
			e.fail("event %s for unknown product %q", x.Code, x.Product)
		}
	}
	for _, x := range ev.Counters {
		if _, ok := first[x.Product]; x.Product != "" && !ok {
			e.fail("event %s for unknown product %q", x.Code, x.Product)
		}
	}
	for i := range r.Products {
		e.product(r, i, first)
	}
	for _, m := range r.Config {
		e.setLoop(m.Loop)
		e.seg("MA5", m.Block)
		e.add(m.Values...)
		e.end(true)
	}
	e.setLoop("")

	e.span = false
	e.n++ // G85 itself is counted by SE
	e.writeLine(fmt.Sprintf("G85*%04X", e.crc))
	e.n++
	e.writeLine(strings.TrimSuffix(fmt.Sprintf("SE*%d*%s", e.n, h.SetControl), "*"))
	e.writeLine("DXE*1*1")
	if e.err != nil {
		return e.err
	}
	return e.bw.Flush()
}

// NewReport returns an empty report with the standard DTS 6.x envelope
// (DXS*commID*VA*V0/6*1, ST*001*0001), ready to be filled and encoded.
func NewReport(commID string) *Report {
	return &Report{Header: Header{CommID: commID, FunctionalID: "VA", Version: "V0/6",
		Transmission: "1", SetID: "001", SetControl: "0001"}}
}

type encoder struct {
	bw   *bufio.Writer
	line []string // elements of the record being built, [0] is the ID
	span bool     // inside ST..G85: feed the CRC
	crc  uint16
	n    int // segments written since ST (inclusive)
	loop string
	err  error
}

func (e *encoder) fail(format string, a ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: "+format, append([]any{ErrNotEncodable}, a...)...)
	}
}

func (e *encoder) seg(id string, el ...string) {
	e.line = append(e.line[:0], id)
	e.add(el...)
}

func (e *encoder) add(el ...string) { e.line = append(e.line, el...) }

func (e *encoder) nums(v ...int64) {
	for _, x := range v {
		e.line = append(e.line, strconv.FormatInt(x, 10))
	}
}

func (e *encoder) totals(t *Totals) {
	if t == nil {
		e.add("", "", "", "")
		return
	}
	e.nums(t.ValueInit, t.CountInit, t.ValueReset, t.CountReset)
}

func (e *encoder) vendCount(t *VendCount) {
	if t == nil {
		e.add("", "", "", "")
		return
	}
	e.nums(t.CountInit, t.ValueInit, t.CountReset, t.ValueReset)
}

// end writes the record built by seg/add, dropping trailing empty elements.
func (e *encoder) end(counted bool) {
	l := e.line
	for len(l) > 1 && l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	for i, s := range l {
		if strings.ContainsAny(s, "*\n") || i == 0 && s == "" {
			e.fail("element %q of %s", s, l[0])
		}
	}
	if counted {
		e.n++
	}
	e.writeLine(strings.Join(l, "*"))
}

func (e *encoder) writeLine(s string) {
	if e.span {
		e.crc = crcString(e.crc, s)
		e.crc = crcString(e.crc, "\r\n")
	}
	e.bw.WriteString(s)
	e.bw.WriteString("\r\n")
}

var reserved = map[string]bool{"DXS": true, "ST": true, "G85": true, "SE": true, "DXE": true, "LS": true, "LE": true}

// raw writes segments kept verbatim.
func (e *encoder) raw(segs []Segment) {
	for _, s := range segs {
		if reserved[s.ID] {
			e.fail("raw segment %s", s.ID)
		}
		line := s.Raw
		if line == "" {
			line = strings.Join(append([]string{s.ID}, s.Elements...), "*")
		}
		if strings.ContainsAny(line, "\n") || line == "" {
			e.fail("raw segment %q", line)
		}
		e.n++
		e.writeLine(line)
	}
}

func (e *encoder) setLoop(id string) {
	if id == e.loop {
		return
	}
	if e.loop != "" {
		e.seg("LE", e.loop)
		e.end(true)
	}
	if id != "" {
		e.seg("LS", id)
		e.end(true)
	}
	e.loop = id
}

func (e *encoder) device(id string, d *Device) {
	if d == nil {
		return
	}
	e.seg(id, d.Serial, d.Model, d.Software)
	e.add(d.Extra...)
	e.end(true)
}

func (e *encoder) resetInit(id string, x *ResetInit) {
	if x == nil {
		return
	}
	e.seg(id)
	e.nums(x.Reset, x.Init)
	e.end(true)
}

func (e *encoder) dateTime(id string, x *DateTime) {
	if x == nil {
		return
	}
	e.seg(id, x.Date, x.Time)
	e.add(x.Extra...)
	e.end(true)
}

func (e *encoder) timed(x *TimedEvent) {
	if x.Product == "" {
		e.setLoop(x.Loop)
	}
	e.seg("EA1", x.Code, x.Date, x.Time)
	e.nums(x.Duration)
	e.add(x.Extra...)
	e.end(true)
}

func (e *encoder) counter(x *EventCounter) {
	if x.Product == "" {
		e.setLoop(x.Loop)
	}
	e.seg("EA2", x.Code)
	e.nums(x.CountReset, x.CountInit)
	e.add(x.Text, x.Active)
	e.nums(x.Duration)
	e.add(x.Extra...)
	e.end(true)
}

func (e *encoder) product(r *Report, i int, first map[string]int) {
	p := &r.Products[i]
	e.setLoop(p.Loop)
	e.seg("PA1", p.ID)
	e.nums(p.Price)
	e.add(p.Name)
	e.nums(p.Capacity, p.StandardFill, p.StandardDispensed)
	e.add(p.Status)
	e.nums(p.Level, p.MinLevel)
	e.add(p.Extra...)
	e.end(true)
	if x := p.Paid; x != nil {
		e.seg("PA2")
		e.vendCount(&x.VendCount)
		e.vendCount(x.Discounts)
		e.vendCount(x.Surcharges)
		e.add(x.Extra...)
		e.end(true)
	}
	if p.Test != nil {
		e.seg("PA3")
		e.vendCount(p.Test)
		e.end(true)
	}
	if x := p.Free; x != nil {
		e.seg("PA4")
		e.vendCount(&x.VendCount)
		e.nums(x.NoCupInit, x.NoCupReset)
		e.add(x.Extra...)
		e.end(true)
	}
	if x := p.SoldOut; x != nil {
		e.seg("PA5", x.Date, x.Time)
		e.nums(x.Selections)
		e.add(x.Extra...)
		e.end(true)
	}
	for _, d := range p.ByDevice {
		e.seg("PA7", d.Product, d.Device, d.PriceList)
		e.nums(d.Price, d.CountInit, d.ValueInit, d.CountReset, d.ValueReset)
		e.add(d.Extra...)
		e.end(true)
	}
	for _, s := range p.Other {
		if !strings.HasPrefix(s.ID, "PA") || s.ID == "PA1" {
			e.fail("product record %s", s.ID)
		}
	}
	e.raw(p.Other)
	if p.ID == "" || first[p.ID] != i {
		return
	}
	for j := range r.Events.Timed {
		if r.Events.Timed[j].Product == p.ID {
			e.timed(&r.Events.Timed[j])
		}
	}
	for j := range r.Events.Counters {
		if r.Events.Counters[j].Product == p.ID {
			e.counter(&r.Events.Counters[j])
		}
	}
}
