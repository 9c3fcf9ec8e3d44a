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
func Parse(r io.Reader) ([]*Report, error) {
	p := parser{rd: NewReader(r)}
	return p.run()
}

// ParseBytes is Parse over a byte slice.
func ParseBytes(b []byte) ([]*Report, error) {
	return Parse(bytes.NewReader(b))
}

type parser struct {
	rd      *Reader
	reports []*Report
	cur     *Report
	prod    int // index of the open product group in cur.Products, -1 if none
	loops   []string
	errs    []error
}

func (p *parser) run() ([]*Report, error) {
	for {
		seg, err := p.rd.Read()
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
		if seg.ID == "" && seg.Raw == "" {
			continue
		}
		p.segment(seg)
	}
	if len(p.reports) == 0 {
		if len(p.errs) > 0 {
			return nil, errors.Join(p.errs...)
		}
		return nil, ErrNoAudit
	}
	return p.reports, errors.Join(p.errs...)
}

func (p *parser) segment(s Segment) {
	if s.ID == "DXS" {
		r := &Report{}
		r.st.parsed = true
		r.Header.CommID = s.Field(1)
		r.Header.FunctionalID = s.Field(2)
		r.Header.Version = s.Field(3)
		r.Header.Transmission = s.Field(4)
		r.Header.Extra = extra(s, 4)
		p.reports = append(p.reports, r)
		p.cur, p.prod, p.loops = r, -1, nil
		return
	}
	r := p.cur
	if r == nil { // cannot happen: the Reader only yields segments after DXS
		return
	}
	st := &r.st

	// G85 span: from ST (or, in headers without ST, the first record after
	// DXS) through the CRLF before G85, every line end counted as CRLF.
	if !st.g85Seen && !st.inSpan && st.counted == 0 && s.ID != "DXE" {
		st.inSpan = true
	}
	trailerG85 := false
	if s.ID == "G85" && st.inSpan {
		st.inSpan, st.g85Seen, trailerG85 = false, true, true
	}
	if st.inSpan {
		st.crc = crcString(st.crc, s.Raw)
		st.crcNoLast = st.crc
		st.crc = crcString(st.crc, "\r\n")
		if s.EOL != "\r\n" {
			st.lfSeen = true
		}
	}
	if !st.seSeen && s.ID != "DXE" {
		st.counted++
		if s.ID == "LS" || s.ID == "LE" {
			st.loopCounted++
		}
	}

	id := s.ID
	switch {
	case id == "ST":
		if r.Header.SetID == "" && r.Header.SetControl == "" && st.counted == 1 {
			r.Header.SetID, r.Header.SetControl = s.Field(1), s.Field(2)
			return
		}
	case id == "G85" && trailerG85:
		r.Trailer.CheckValue = s.Field(1)
		return
	case id == "SE":
		if !st.seSeen {
			st.seSeen = true
			r.Trailer.SegmentCount, r.Trailer.SetControl = s.Field(1), s.Field(2)
			return
		}
	case id == "DXE":
		r.Trailer.DXE = append([]string{}, s.Elements...)
		p.cur = nil
		return
	case id == "LS":
		p.prod = -1
		p.loops = append(p.loops, s.Field(1))
		return
	case id == "LE":
		p.prod = -1
		for i := len(p.loops) - 1; i >= 0; i-- {
			if p.loops[i] == s.Field(1) {
				p.loops = p.loops[:i]
				break
			}
		}
		return
	case strings.HasPrefix(id, "PA"):
		if p.product(s) {
			return
		}
	case id == "EA1" || id == "EA2":
		p.event(s)
		return
	}
	p.prod = -1
	switch {
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
	case id == "MA5":
		r.Config = append(r.Config, MA5{Block: s.Field(1), Values: extra(s, 1), Loop: p.loop()})
	default:
		r.Unknown = append(r.Unknown, s)
	}
}

func (p *parser) loop() string {
	if len(p.loops) == 0 {
		return ""
	}
	return p.loops[len(p.loops)-1]
}

// num parses element n of s as an integer; empty is 0. Anything else is
// recorded as an issue and read as 0.
func (p *parser) num(s Segment, n int) int64 {
	v, ok := parseInt(s.Field(n))
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

// extra returns the elements after the first k, without trailing empty ones
// (so that Encode, which omits them, round-trips), or nil.
func extra(s Segment, k int) []string {
	if len(s.Elements) <= k {
		return nil
	}
	e := s.Elements[k:]
	for len(e) > 0 && e[len(e)-1] == "" {
		e = e[:len(e)-1]
	}
	if len(e) == 0 {
		return nil
	}
	return e
}

// anyField reports whether elements from..to (1-based, inclusive) hold
// anything; optional sub-blocks are present only then.
func anyField(s Segment, from, to int) bool {
	for n := from; n <= to; n++ {
		if s.Field(n) != "" {
			return true
		}
	}
	return false
}

func device(s Segment) *Device {
	return &Device{Serial: s.Field(1), Model: s.Field(2), Software: s.Field(3), Extra: extra(s, 3)}
}

func (p *parser) totals(s Segment, first int) Totals {
	return Totals{ValueInit: p.num(s, first), CountInit: p.num(s, first+1),
		ValueReset: p.num(s, first+2), CountReset: p.num(s, first+3)}
}

func (p *parser) vendCount(s Segment, first int) VendCount {
	return VendCount{CountInit: p.num(s, first), ValueInit: p.num(s, first+1),
		CountReset: p.num(s, first+2), ValueReset: p.num(s, first+3)}
}

func (p *parser) machine(s Segment) {
	m := &p.cur.Machine
	switch {
	case s.ID == "ID1" && !p.cur.st.seenID1:
		m.Serial, m.Model, m.BuildStandard = s.Field(1), s.Field(2), s.Field(3)
		m.Location, m.UserDefined, m.Asset = s.Field(4), s.Field(5), s.Field(6)
		m.DTSLevel, m.DTSRevision = s.Field(7), s.Field(8)
		m.Extra = extra(s, 8)
		p.cur.st.seenID1 = true
	case s.ID == "ID4" && m.Currency == nil:
		c := &Currency{Numeric: s.Field(2), Alpha: s.Field(3), Extra: extra(s, 3)}
		c.Decimals = int(p.num(s, 1))
		m.Currency = c
	case s.ID == "ID5" && m.Clock == nil:
		m.Clock = &Clock{Date: s.Field(1), Time: s.Field(2), Extra: extra(s, 2)}
	case s.ID == "CB1" && m.ControlBoard == nil:
		m.ControlBoard = device(s)
	case s.ID == "AM1" && m.AuditModule == nil:
		m.AuditModule = device(s)
	default:
		m.Other = append(m.Other, s)
	}
}

func (p *parser) meter(s Segment) {
	mt := &Meter{Totals: p.totals(s, 1), Extra: extra(s, 12)}
	if anyField(s, 5, 8) {
		t := p.totals(s, 5)
		mt.Discounts = &t
	}
	if anyField(s, 9, 12) {
		t := p.totals(s, 9)
		mt.Surcharges = &t
	}
	ms := &p.cur.Meters
	dst := map[string]**Meter{"VA1": &ms.Paid, "VA2": &ms.Test, "VA3": &ms.Free}[s.ID]
	if *dst != nil {
		p.cur.Unknown = append(p.cur.Unknown, s)
		return
	}
	*dst = mt
}

func (p *parser) cash(s Segment) {
	c := &p.cur.Cash
	switch {
	case s.ID == "CA1" && c.CoinMech == nil:
		c.CoinMech = device(s)
	case s.ID == "BA1" && c.BillValidator == nil:
		c.BillValidator = device(s)
	case s.ID == "CA2" && c.Sales == nil:
		t := p.totals(s, 1)
		c.Sales = &t
	case s.ID == "CA3" && c.In == nil && len(s.Elements) <= 12:
		c.In = &CashIn{
			InReset: p.num(s, 1), ToBoxReset: p.num(s, 2), ToTubesReset: p.num(s, 3), BillsReset: p.num(s, 4),
			InInit: p.num(s, 5), ToBoxInit: p.num(s, 6), ToTubesInit: p.num(s, 7), BillsInit: p.num(s, 8),
			BillsResetNc: p.num(s, 9), BillsInitNc: p.num(s, 10),
			BillsToRecyclerReset: p.num(s, 11), BillsToRecyclerInit: p.num(s, 12),
		}
	case s.ID == "CA4" && c.Out == nil:
		c.Out = &CashOut{DispensedReset: p.num(s, 1), ManualReset: p.num(s, 2),
			DispensedInit: p.num(s, 3), ManualInit: p.num(s, 4), Extra: extra(s, 4)}
	case s.ID == "CA8" && c.Overpay == nil && len(s.Elements) <= 2:
		c.Overpay = &ResetInit{Reset: p.num(s, 1), Init: p.num(s, 2)}
	case s.ID == "CA9" && c.ExactChange == nil && len(s.Elements) <= 2:
		c.ExactChange = &ResetInit{Reset: p.num(s, 1), Init: p.num(s, 2)}
	case s.ID == "CA10" && c.Filled == nil && len(s.Elements) <= 4:
		c.Filled = &CashFilled{Reset: p.num(s, 1), Init: p.num(s, 2), BillsReset: p.num(s, 3), BillsInit: p.num(s, 4)}
	case s.ID == "CA17":
		c.Tubes = append(c.Tubes, CoinTube{CoinType: s.Field(1), Value: p.num(s, 2), InTube: p.num(s, 3),
			Inserted: p.num(s, 4), Dispensed: p.num(s, 5), Full: s.Field(6), Extra: extra(s, 6)})
	default:
		c.Other = append(c.Other, s)
	}
}

func (p *parser) cashless(s Segment) {
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
		cl.Device = device(s)
	case s.ID[2:] == "2" && cl.Sales == nil:
		t := p.totals(s, 1)
		cl.Sales = &t
	default:
		cl.Other = append(cl.Other, s)
	}
}

// product handles PA records; it reports false when the record belongs to
// no product group (it then ends up in Unknown).
func (p *parser) product(s Segment) bool {
	r := p.cur
	if s.ID == "PA1" {
		r.Products = append(r.Products, Product{
			ID: s.Field(1), Price: p.num(s, 2), Name: s.Field(3), Capacity: p.num(s, 4),
			StandardFill: p.num(s, 5), StandardDispensed: p.num(s, 6), Status: s.Field(7),
			Level: p.num(s, 8), MinLevel: p.num(s, 9), Extra: extra(s, 9), Loop: p.loop(),
		})
		p.prod = len(r.Products) - 1
		return true
	}
	if p.prod < 0 {
		return false
	}
	pr := &r.Products[p.prod]
	switch {
	case s.ID == "PA2" && pr.Paid == nil:
		pv := &PaidVends{VendCount: p.vendCount(s, 1), Extra: extra(s, 12)}
		if anyField(s, 5, 8) {
			v := p.vendCount(s, 5)
			pv.Discounts = &v
		}
		if anyField(s, 9, 12) {
			v := p.vendCount(s, 9)
			pv.Surcharges = &v
		}
		pr.Paid = pv
	case s.ID == "PA3" && pr.Test == nil && len(s.Elements) <= 4:
		v := p.vendCount(s, 1)
		pr.Test = &v
	case s.ID == "PA4" && pr.Free == nil:
		pr.Free = &FreeVends{VendCount: p.vendCount(s, 1), NoCupInit: p.num(s, 5),
			NoCupReset: p.num(s, 6), Extra: extra(s, 6)}
	case s.ID == "PA5" && pr.SoldOut == nil:
		pr.SoldOut = &SoldOut{Date: s.Field(1), Time: s.Field(2), Selections: p.num(s, 3), Extra: extra(s, 3)}
	case s.ID == "PA7":
		pr.ByDevice = append(pr.ByDevice, DeviceVends{
			Product: s.Field(1), Device: s.Field(2), PriceList: s.Field(3), Price: p.num(s, 4),
			CountInit: p.num(s, 5), ValueInit: p.num(s, 6), CountReset: p.num(s, 7), ValueReset: p.num(s, 8),
			Extra: extra(s, 8),
		})
	default:
		pr.Other = append(pr.Other, s)
	}
	return true
}

// event handles EA1/EA2; inside a product group they are that product's
// events (e.g. EA2*ELA after PA5) and keep the group open.
func (p *parser) event(s Segment) {
	r := p.cur
	// A product with an empty id cannot be referred to: its events are
	// kept as machine events (the group stays open).
	prod := ""
	if p.prod >= 0 {
		prod = r.Products[p.prod].ID
	}
	if s.ID == "EA1" {
		r.Events.Timed = append(r.Events.Timed, TimedEvent{Code: s.Field(1), Date: s.Field(2),
			Time: s.Field(3), Duration: p.num(s, 4), Extra: extra(s, 4), Product: prod, Loop: p.loop()})
		return
	}
	r.Events.Counters = append(r.Events.Counters, EventCounter{Code: s.Field(1), CountReset: p.num(s, 2),
		CountInit: p.num(s, 3), Text: s.Field(4), Active: s.Field(5), Duration: p.num(s, 6),
		Extra: extra(s, 6), Product: prod, Loop: p.loop()})
}

func (p *parser) eventInfo(s Segment) {
	e := &p.cur.Events
	dt := func() *DateTime { return &DateTime{Date: s.Field(1), Time: s.Field(2), Extra: extra(s, 2)} }
	switch {
	case s.ID == "EA3" && e.Reads == nil:
		e.Reads = &ReadInfo{ReadsWithReset: p.num(s, 1), Date: s.Field(2), Time: s.Field(3),
			Terminal: s.Field(4), LastDate: s.Field(5), LastTime: s.Field(6), LastTerminal: s.Field(7),
			Field08: s.Field(8), ReadsTotal: p.num(s, 9), Resets: p.num(s, 10), Extra: extra(s, 10)}
	case s.ID == "EA4" && e.Initialised == nil:
		e.Initialised = dt()
	case s.ID == "EA5" && e.PriceSet == nil:
		e.PriceSet = dt()
	case s.ID == "EA6" && e.Serviced == nil:
		e.Serviced = dt()
	case s.ID == "EA7" && e.PowerOutages == nil && len(s.Elements) <= 2:
		e.PowerOutages = &ResetInit{Reset: p.num(s, 1), Init: p.num(s, 2)}
	default:
		e.Other = append(e.Other, s)
	}
}
