package evadts

import (
	"bytes"
	"errors"
	"io"
	"strings"
)

// Parse reads every audit (DXS..DXE) in r and returns them in input order.
//
// Damaged input still yields what could be read: an audit that ends before
// its SE is returned with Truncated set, and the error (a *ParseError wrapping
// ErrTruncated, joined with errors.Join when there are several) is returned
// together with the reports. An audit that has its SE but no DXE is complete;
// Validate names that deviation (missing_dxe) and Parse returns no error. Problems inside records (a number that is not a
// number) are not errors; they are listed in Report.Issues. Input without
// any DXS gives ErrNoAudit.
//
// Strings in the reports share the input's memory (copied in chunks of up to
// 64 KiB), and the reports of one call share blocks of their small parts
// (alloc.go): keeping one report keeps those alive.
func Parse(r io.Reader) ([]*Report, error) {
	p := parser{rd: NewReader(r)}
	p.rd.crcOn = true
	return p.run()
}

// ParseBytes is Parse over a byte slice: the same reports and errors,
// built faster through Index and View.Reports (the reports share one copy
// of b instead of 64 KiB chunks).
func ParseBytes(b []byte) ([]*Report, error) {
	if uint64(len(b)) >= 1<<32 {
		return Parse(bytes.NewReader(b)) // beyond the index's 32-bit offsets
	}
	v, err := Index(b)
	if v == nil {
		return nil, err
	}
	return v.Reports()
}

type parser struct {
	rd      *Reader
	reports []*Report
	cur     *Report
	prod    int // index of the open product group in cur.Products, -1 if none
	loops   []string
	errs    []error
	stars   []int // '*' offsets of the record at hand, when fed by a View

	// Block allocators (alloc.go) for what hangs off the reports.
	strs     strs
	devices  slab[Device]
	totalsS  slab[Totals]
	vendsS   slab[VendCount]
	paidS    slab[PaidVends]
	freeS    slab[FreeVends]
	soldS    slab[SoldOut]
	meters   slab[Meter]
	products bump[Product]
	byDevice bump[DeviceVends]
	config   bump[MA5]
	timed    bump[TimedEvent]
	counters bump[EventCounter]
	tubes    bump[CoinTube]
	unknown  bump[Segment]
	prOther  bump[Segment]
	other    bump[Segment] // Machine, Cash, Cashless and Events Other
}

func (p *parser) run() ([]*Report, error) {
	for {
		if p.cur != nil {
			p.rd.crcSeed = p.cur.st.crc
		}
		line, err := p.rd.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				p.errs = append(p.errs, err)
				break
			}
			switch {
			case errors.Is(err, ErrTruncated):
				switch {
				case p.cur != nil && p.cur.st.seSeen:
					// The transaction set is complete (SE seen); only
					// the DXE envelope is missing: a deviation, not a cut.
					p.cur.st.missingDXE = true
				case p.cur != nil:
					p.cur.Truncated = true
					p.errs = append(p.errs, err)
				default:
					p.errs = append(p.errs, err)
				}
			case errors.Is(err, ErrBadSegment):
				if p.cur != nil {
					p.cur.Issues = append(p.cur.Issues, pe)
				}
			default: // I/O error: keep what was read, mark it cut short
				if p.cur != nil {
					p.cur.Truncated = true
				}
				p.errs = append(p.errs, err)
			}
		}
		if line == "" {
			continue
		}
		seg := p.rd.rec(line)
		p.segment(&seg)
	}
	if len(p.reports) == 0 {
		if len(p.errs) > 0 {
			return nil, errors.Join(p.errs...)
		}
		return nil, ErrNoAudit
	}
	return p.reports, errors.Join(p.errs...)
}

// elements copies the data elements of s (nil when it has none).
func (p *parser) elements(s *rec) []string {
	n := s.n()
	if n == 0 {
		return nil
	}
	return s.elements(p.strs.take(n))
}

// keep stores s as a raw Segment at the end of *list.
func (p *parser) keep(b *bump[Segment], list *[]Segment, s *rec) {
	// Written field by field into the zeroed slot, skipping empty ones:
	// while the GC marks, every pointer store costs a write barrier, and a
	// struct copy pays one for every pointer slot of the type.
	g := b.add(list)
	setStr(&g.ID, s.ID)
	if e := p.elements(s); e != nil {
		g.Elements = e
	}
	g.Line = s.Line
	setStr(&g.Raw, s.Raw)
	setStr(&g.EOL, s.EOL)
}

// setStr stores v in the zero string *dst unless v is empty. The parser
// fills freshly allocated (zeroed) objects this way; see keep.
func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// setStrs is setStr for string slices.
func setStrs(dst *[]string, v []string) {
	if v != nil {
		*dst = v
	}
}

func (p *parser) segment(s *rec) {
	id := s.ID
	if id == "DXS" {
		r := &Report{}
		r.st.parsed = true
		r.Header.CommID = s.field(1)
		r.Header.FunctionalID = s.field(2)
		r.Header.Version = s.field(3)
		r.Header.Transmission = s.field(4)
		r.Header.Extra = p.extra(s, 4)
		p.reports = append(p.reports, r)
		p.cur, p.prod, p.loops = r, -1, p.loops[:0]
		return
	}
	r := p.cur
	if r == nil { // cannot happen: the Reader only yields segments after DXS
		return
	}
	st := &r.st

	trailerG85, firstSE := st.step(id)
	// With p.rd == nil the records come from a View (view.go), which has
	// already computed the check value: the caller copies it in.
	if st.inSpan && p.rd != nil {
		if p.rd.crcSeed == st.crc { // computed by the reader (see run)
			st.crcNoLast = p.rd.crcLine
		} else {
			st.crcNoLast = crcString(st.crc, s.Raw)
		}
		st.crc = crcCRLF(st.crcNoLast)
		if s.EOL != "\r\n" {
			st.lfSeen = true
		}
	}

	switch {
	case len(id) >= 2 && id[0] == 'P' && id[1] == 'A':
		if p.product(s) {
			return
		}
	case id == "EA1" || id == "EA2":
		p.event(s)
		return
	case id == "ST":
		if r.Header.SetID == "" && r.Header.SetControl == "" && st.counted == 1 {
			r.Header.SetID, r.Header.SetControl = s.field(1), s.field(2)
			return
		}
	case id == "G85" && trailerG85:
		r.Trailer.CheckValue = s.field(1)
		return
	case id == "SE":
		if firstSE {
			r.Trailer.SegmentCount, r.Trailer.SetControl = s.field(1), s.field(2)
			return
		}
	case id == "DXE":
		r.Trailer.DXE = p.elements(s)
		if r.Trailer.DXE == nil {
			r.Trailer.DXE = []string{}
		}
		p.cur = nil
		return
	case id == "LS":
		p.prod = -1
		p.loops = append(p.loops, s.field(1))
		return
	case id == "LE":
		p.prod = -1
		for i := len(p.loops) - 1; i >= 0; i-- {
			if p.loops[i] == s.field(1) {
				p.loops = p.loops[:i]
				break
			}
		}
		return
	}
	p.prod = -1
	switch {
	case id == "MA5":
		m := p.config.add(&r.Config)
		setStr(&m.Block, s.field(1))
		setStrs(&m.Values, p.extra(s, 1))
		setStr(&m.Loop, p.loop())
	case strings.HasPrefix(id, "ID") || id == "CB1" || id == "AM1":
		p.machine(s)
	case id == "VA1" || id == "VA2" || id == "VA3":
		p.meter(s)
	case strings.HasPrefix(id, "CA") || strings.HasPrefix(id, "BA"):
		p.cash(s)
	case strings.HasPrefix(id, "DA") || strings.HasPrefix(id, "DB"):
		p.cashless(s)
	case strings.HasPrefix(id, "EA"):
		p.eventInfo(s)
	default:
		p.keep(&p.unknown, &r.Unknown, s)
	}
}

// step advances the validation state over one record of the audit (any
// but its DXS). The G85 span runs from ST (or, in headers without ST, the
// first record after DXS) through the CRLF before G85, every line end
// counted as CRLF; st.inSpan tells whether this record belongs to it.
// trailerG85 is set for the G85 that closes the span, firstSE for the SE
// that closes the transaction set. Parser and View (view.go) share it, so
// both count and delimit alike.
func (st *parseState) step(id string) (trailerG85, firstSE bool) {
	if !st.g85Seen && !st.inSpan && st.counted == 0 && id != "DXE" {
		st.inSpan = true
	}
	if id == "G85" && st.inSpan {
		st.inSpan, st.g85Seen, trailerG85 = false, true, true
	}
	if !st.seSeen && id != "DXE" {
		st.counted++
		if id == "LS" || id == "LE" {
			st.loopCounted++
		}
		if id == "SE" {
			st.seSeen, firstSE = true, true
		}
	}
	return trailerG85, firstSE
}

func (p *parser) loop() string {
	if len(p.loops) == 0 {
		return ""
	}
	return p.loops[len(p.loops)-1]
}

// num parses element n of s as an integer; empty is 0. Anything else is
// recorded as an issue and read as 0. A single digit (most counters in
// real audits are "0" or one digit) is read without slicing the element;
// numSlow does the rest.
func (p *parser) num(s *rec, n int) int64 {
	if st := s.stars; n < len(st) && st[n] == st[n-1]+2 {
		if c := s.Raw[st[n]-1] - '0'; c <= 9 {
			return int64(c)
		}
	}
	return p.numSlow(s, n)
}

// numSlow is num for elements that are not a single digit.
func (p *parser) numSlow(s *rec, n int) int64 {
	if n >= len(s.stars) {
		return 0
	}
	f := s.Raw[s.stars[n-1]+1 : s.stars[n]]
	if len(f) <= 18 { // fast path: plain digits that cannot overflow
		var v int64
		i := 0
		for ; i < len(f); i++ {
			c := f[i] - '0'
			if c > 9 {
				break
			}
			v = v*10 + int64(c)
		}
		if i == len(f) {
			return v
		}
	}
	v, ok := parseInt(f)
	if !ok {
		p.cur.Issues = append(p.cur.Issues, &ParseError{Line: s.Line, Segment: s.ID, Field: n, Err: ErrBadNumber})
	}
	return v
}

func parseInt(f string) (int64, bool) {
	// Trim spaces: fixed-width machines pad numbers.
	for len(f) > 0 && f[0] == ' ' {
		f = f[1:]
	}
	for len(f) > 0 && f[len(f)-1] == ' ' {
		f = f[:len(f)-1]
	}
	if f == "" {
		return 0, true
	}
	neg := false
	if f[0] == '-' {
		neg, f = true, f[1:]
		if f == "" {
			return 0, false
		}
	}
	var v int64
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<63-1-9)/10 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// extra returns a copy of the elements after the first k, without trailing
// empty ones (so that Encode, which omits them, round-trips), or nil.
func (p *parser) extra(s *rec, k int) []string {
	n := s.n()
	for n > k && s.empty(n) {
		n--
	}
	if n <= k {
		return nil
	}
	d := p.strs.take(n - k)
	for i := range d {
		setStr(&d[i], s.field(k+1+i))
	}
	return d
}

// anyField reports whether elements from..to (1-based, inclusive) hold
// anything; optional sub-blocks are present only then.
func anyField(s *rec, from, to int) bool {
	for n := from; n <= to && n <= s.n(); n++ {
		if !s.empty(n) {
			return true
		}
	}
	return false
}

func (p *parser) device(s *rec) *Device {
	d := p.devices.one()
	setStr(&d.Serial, s.field(1))
	setStr(&d.Model, s.field(2))
	setStr(&d.Software, s.field(3))
	setStrs(&d.Extra, p.extra(s, 3))
	return d
}

func (p *parser) totals(s *rec, first int) Totals {
	return Totals{ValueInit: p.num(s, first), CountInit: p.num(s, first+1),
		ValueReset: p.num(s, first+2), CountReset: p.num(s, first+3)}
}

func (p *parser) newTotals(s *rec, first int) *Totals {
	t := p.totalsS.one()
	*t = p.totals(s, first)
	return t
}

func (p *parser) vendCount(s *rec, first int) VendCount {
	return VendCount{CountInit: p.num(s, first), ValueInit: p.num(s, first+1),
		CountReset: p.num(s, first+2), ValueReset: p.num(s, first+3)}
}

func (p *parser) newVendCount(s *rec, first int) *VendCount {
	v := p.vendsS.one()
	*v = p.vendCount(s, first)
	return v
}

func (p *parser) machine(s *rec) {
	m := &p.cur.Machine
	switch {
	case s.ID == "ID1" && !p.cur.st.seenID1:
		m.Serial, m.Model, m.BuildStandard = s.field(1), s.field(2), s.field(3)
		m.Location, m.UserDefined, m.Asset = s.field(4), s.field(5), s.field(6)
		m.DTSLevel, m.DTSRevision = s.field(7), s.field(8)
		m.Extra = p.extra(s, 8)
		p.cur.st.seenID1 = true
	case s.ID == "ID4" && m.Currency == nil:
		c := &Currency{Numeric: s.field(2), Alpha: s.field(3), Extra: p.extra(s, 3)}
		c.Decimals = int(p.num(s, 1))
		m.Currency = c
	case s.ID == "ID5" && m.Clock == nil:
		m.Clock = &Clock{Date: s.field(1), Time: s.field(2), Extra: p.extra(s, 2)}
	case s.ID == "CB1" && m.ControlBoard == nil:
		m.ControlBoard = p.device(s)
	case s.ID == "AM1" && m.AuditModule == nil:
		m.AuditModule = p.device(s)
	default:
		p.keep(&p.other, &m.Other, s)
	}
}

func (p *parser) meter(s *rec) {
	ms := &p.cur.Meters
	var dst **Meter
	switch s.ID {
	case "VA1":
		dst = &ms.Paid
	case "VA2":
		dst = &ms.Test
	default:
		dst = &ms.Free
	}
	if *dst != nil {
		// Read anyway so that its number issues are reported.
		p.totals(s, 1)
		if anyField(s, 5, 8) {
			p.totals(s, 5)
		}
		if anyField(s, 9, 12) {
			p.totals(s, 9)
		}
		p.keep(&p.unknown, &p.cur.Unknown, s)
		return
	}
	mt := p.meters.one()
	mt.Totals = p.totals(s, 1)
	setStrs(&mt.Extra, p.extra(s, 12))
	if anyField(s, 5, 8) {
		mt.Discounts = p.newTotals(s, 5)
	}
	if anyField(s, 9, 12) {
		mt.Surcharges = p.newTotals(s, 9)
	}
	*dst = mt
}

func (p *parser) cash(s *rec) {
	c := &p.cur.Cash
	n := s.n()
	switch {
	case s.ID == "CA1" && c.CoinMech == nil:
		c.CoinMech = p.device(s)
	case s.ID == "BA1" && c.BillValidator == nil:
		c.BillValidator = p.device(s)
	case s.ID == "CA2" && c.Sales == nil:
		c.Sales = p.newTotals(s, 1)
	case s.ID == "CA3" && c.In == nil && n <= 12:
		c.In = &CashIn{
			InReset: p.num(s, 1), ToBoxReset: p.num(s, 2), ToTubesReset: p.num(s, 3), BillsReset: p.num(s, 4),
			InInit: p.num(s, 5), ToBoxInit: p.num(s, 6), ToTubesInit: p.num(s, 7), BillsInit: p.num(s, 8),
			BillsResetNc: p.num(s, 9), BillsInitNc: p.num(s, 10),
			BillsToRecyclerReset: p.num(s, 11), BillsToRecyclerInit: p.num(s, 12),
		}
	case s.ID == "CA4" && c.Out == nil:
		c.Out = &CashOut{DispensedReset: p.num(s, 1), ManualReset: p.num(s, 2),
			DispensedInit: p.num(s, 3), ManualInit: p.num(s, 4), Extra: p.extra(s, 4)}
	case s.ID == "CA8" && c.Overpay == nil && n <= 2:
		c.Overpay = &ResetInit{Reset: p.num(s, 1), Init: p.num(s, 2)}
	case s.ID == "CA9" && c.ExactChange == nil && n <= 2:
		c.ExactChange = &ResetInit{Reset: p.num(s, 1), Init: p.num(s, 2)}
	case s.ID == "CA10" && c.Filled == nil && n <= 4:
		c.Filled = &CashFilled{Reset: p.num(s, 1), Init: p.num(s, 2), BillsReset: p.num(s, 3), BillsInit: p.num(s, 4)}
	case s.ID == "CA17":
		*p.tubes.add(&c.Tubes) = CoinTube{CoinType: s.field(1), Value: p.num(s, 2), InTube: p.num(s, 3),
			Inserted: p.num(s, 4), Dispensed: p.num(s, 5), Full: s.field(6), Extra: p.extra(s, 6)}
	default:
		p.keep(&p.other, &c.Other, s)
	}
}

func (p *parser) cashless(s *rec) {
	prefix := s.ID[:2]
	var cl *Cashless
	for i := range p.cur.Cashless {
		if p.cur.Cashless[i].Prefix == prefix {
			cl = &p.cur.Cashless[i]
		}
	}
	if cl == nil {
		p.cur.Cashless = append(p.cur.Cashless, Cashless{Prefix: prefix})
		cl = &p.cur.Cashless[len(p.cur.Cashless)-1]
	}
	switch {
	case s.ID[2:] == "1" && cl.Device == nil:
		cl.Device = p.device(s)
	case s.ID[2:] == "2" && cl.Sales == nil:
		cl.Sales = p.newTotals(s, 1)
	default:
		p.keep(&p.other, &cl.Other, s)
	}
}

// product handles PA records; it reports false when the record belongs to
// no product group (it then ends up in Unknown).
func (p *parser) product(s *rec) bool {
	r := p.cur
	if s.ID == "PA1" {
		pr := p.products.add(&r.Products) // zeroed: set what is not empty (see keep)
		setStr(&pr.ID, s.field(1))
		pr.Price = p.num(s, 2)
		setStr(&pr.Name, s.field(3))
		pr.Capacity = p.num(s, 4)
		pr.StandardFill = p.num(s, 5)
		pr.StandardDispensed = p.num(s, 6)
		setStr(&pr.Status, s.field(7))
		pr.Level = p.num(s, 8)
		pr.MinLevel = p.num(s, 9)
		setStrs(&pr.Extra, p.extra(s, 9))
		setStr(&pr.Loop, p.loop())
		p.prod = len(r.Products) - 1
		return true
	}
	if p.prod < 0 {
		return false
	}
	pr := &r.Products[p.prod]
	switch {
	case s.ID == "PA2" && pr.Paid == nil:
		pv := p.paidS.one()
		pv.VendCount = p.vendCount(s, 1)
		setStrs(&pv.Extra, p.extra(s, 12))
		if anyField(s, 5, 8) {
			pv.Discounts = p.newVendCount(s, 5)
		}
		if anyField(s, 9, 12) {
			pv.Surcharges = p.newVendCount(s, 9)
		}
		pr.Paid = pv
	case s.ID == "PA3" && pr.Test == nil && s.n() <= 4:
		pr.Test = p.newVendCount(s, 1)
	case s.ID == "PA4" && pr.Free == nil:
		f := p.freeS.one()
		f.VendCount = p.vendCount(s, 1)
		f.NoCupInit = p.num(s, 5)
		f.NoCupReset = p.num(s, 6)
		setStrs(&f.Extra, p.extra(s, 6))
		pr.Free = f
	case s.ID == "PA5" && pr.SoldOut == nil:
		so := p.soldS.one()
		setStr(&so.Date, s.field(1))
		setStr(&so.Time, s.field(2))
		so.Selections = p.num(s, 3)
		setStrs(&so.Extra, p.extra(s, 3))
		pr.SoldOut = so
	case s.ID == "PA7":
		d := p.byDevice.add(&pr.ByDevice)
		setStr(&d.Product, s.field(1))
		setStr(&d.Device, s.field(2))
		setStr(&d.PriceList, s.field(3))
		d.Price = p.num(s, 4)
		d.CountInit = p.num(s, 5)
		d.ValueInit = p.num(s, 6)
		d.CountReset = p.num(s, 7)
		d.ValueReset = p.num(s, 8)
		setStrs(&d.Extra, p.extra(s, 8))
	default:
		p.keep(&p.prOther, &pr.Other, s)
	}
	return true
}

// event handles EA1/EA2; inside a product group they are that product's
// events (e.g. EA2*ELA after PA5) and keep the group open.
func (p *parser) event(s *rec) {
	r := p.cur
	// A product with an empty id cannot be referred to: its events are
	// kept as machine events (the group stays open).
	prod := ""
	if p.prod >= 0 {
		prod = r.Products[p.prod].ID
	}
	if s.ID == "EA1" {
		e := p.timed.add(&r.Events.Timed)
		setStr(&e.Code, s.field(1))
		setStr(&e.Date, s.field(2))
		setStr(&e.Time, s.field(3))
		e.Duration = p.num(s, 4)
		setStrs(&e.Extra, p.extra(s, 4))
		setStr(&e.Product, prod)
		setStr(&e.Loop, p.loop())
		return
	}
	e := p.counters.add(&r.Events.Counters)
	setStr(&e.Code, s.field(1))
	e.CountReset = p.num(s, 2)
	e.CountInit = p.num(s, 3)
	setStr(&e.Text, s.field(4))
	setStr(&e.Active, s.field(5))
	e.Duration = p.num(s, 6)
	setStrs(&e.Extra, p.extra(s, 6))
	setStr(&e.Product, prod)
	setStr(&e.Loop, p.loop())
}

func (p *parser) eventInfo(s *rec) {
	e := &p.cur.Events
	dt := func() *DateTime { return &DateTime{Date: s.field(1), Time: s.field(2), Extra: p.extra(s, 2)} }
	switch {
	case s.ID == "EA3" && e.Reads == nil:
		e.Reads = &ReadInfo{ReadsWithReset: p.num(s, 1), Date: s.field(2), Time: s.field(3),
			Terminal: s.field(4), LastDate: s.field(5), LastTime: s.field(6), LastTerminal: s.field(7),
			Field08: s.field(8), ReadsTotal: p.num(s, 9), Resets: p.num(s, 10), Extra: p.extra(s, 10)}
	case s.ID == "EA4" && e.Initialised == nil:
		e.Initialised = dt()
	case s.ID == "EA5" && e.PriceSet == nil:
		e.PriceSet = dt()
	case s.ID == "EA6" && e.Serviced == nil:
		e.Serviced = dt()
	case s.ID == "EA7" && e.PowerOutages == nil && s.n() <= 2:
		e.PowerOutages = &ResetInit{Reset: p.num(s, 1), Init: p.num(s, 2)}
	default:
		p.keep(&p.other, &e.Other, s)
	}
}
