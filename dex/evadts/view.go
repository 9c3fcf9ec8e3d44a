package evadts

import (
	"bytes"
	"errors"
	"iter"
	"strings"
	"sync"
	"unsafe"
)

// ErrTooLarge means the input given to Index is 4 GiB or larger: the index
// keeps 32-bit offsets so that it stays small (8 bytes per record).
var ErrTooLarge = errors.New("evadts: input too large to index (4 GiB or more)")

// View is a zero-copy index of EVA-DTS text built by Index: where each audit
// and each of its records lies in the input, and the G85/SE validation state
// of every audit. Data elements are found and decoded only when asked for.
//
// A View reads the slice given to Index: the caller must not modify it
// while the View, or a []byte obtained from it, is in use. Strings and
// typed values (Text, ID, Report, Machine, …) are copies and stay valid.
// A View may be read from several goroutines at once.
type View struct {
	data   []byte
	segs   []segRef   // every record of every audit, in input order
	audits []auditRef // in input order
	err    error      // what Index returned with the View

	once sync.Once
	text string // copy of data that typed results share, made on first need
}

// segRef locates one record: its text without the line end is
// data[off:off+n]. Everything else about it (identifier, line end, line
// number) is cheap to find again from the input, so the index stays at 8
// pointer-free bytes per record (32-bit offsets, see ErrTooLarge): less
// memory to clear and fill, and nothing for the GC to scan.
type segRef struct {
	off, n uint32
}

// auditRef is one audit (DXS up to DXE, or up to where it was cut short).
type auditRef struct {
	first, end int        // its records are segs[first:end]; segs[first] is the DXS
	line       int        // 1-based input line of the DXS
	g85, se    int        // index in segs of the G85 closing the span / the first SE; -1 if none
	truncated  bool       // ended before its SE (see Report.Truncated)
	st         parseState // the same state the parser gathers (validate.go)
	lastSpan   int        // index in segs of the last record in the G85 span, -1 if none
	crcPrev    uint16     // st.crc before that record
}

// cut marks an audit that ends before its DXE, telling truncated and
// missing-DXE audits apart as Parse does (run): only a truncated one adds
// pe to errs.
func (a *auditRef) cut(errs []error, pe *ParseError) []error {
	if a.st.seSeen {
		a.st.missingDXE = true
		return errs
	}
	a.truncated = true
	return append(errs, pe)
}

// finish ends the audit after the last of segs and completes its check
// state; s is the input.
func (a *auditRef) finish(segs []segRef, s string) auditRef {
	a.end = len(segs)
	if a.lastSpan >= 0 {
		sr := &segs[a.lastSpan]
		a.st.crcNoLast = crcString(a.crcPrev, s[sr.off:sr.off+sr.n])
	}
	return *a
}

// Index scans data once and returns a View of the audits in it.
//
// It reads exactly what Parse reads (same line ends, junk between audits,
// blank lines, G85 span and check value, SE count) and reports the same
// errors: input without any DXS gives (nil, ErrNoAudit); audits cut short
// give the View together with a *ParseError wrapping ErrTruncated (joined
// with errors.Join when there are several). View.Reports returns what
// Parse returns for the same input.
//
// Index is the fast path: it allocates the index and nothing per record,
// and computes every audit's CRC-16/ARC. Use it to validate, to ingest a
// stream of audits, or to read a few fields; use Parse (or View.Reports)
// for the whole typed audit.
func Index(data []byte) (*View, error) {
	if uint64(len(data)) >= 1<<32 {
		return nil, ErrTooLarge
	}
	if len(data) == 0 {
		return nil, ErrNoAudit
	}
	// Scanning a string alias of data lets the scanner share findDXS and
	// parseState.step with the reader and parser. Nothing scanned is kept
	// as a string: identifiers that go into errors are cloned.
	s := unsafe.String(&data[0], len(data))
	// The loop keeps the index, the open audit and everything else in
	// locals: storing into the heap View on every record would cost a GC
	// write-barrier check each time.
	// Real audits average 19-25 bytes per record; guessing a little high
	// saves most regrowth copies of the index.
	segs := make([]segRef, 0, len(data)/16+8)
	var (
		audits []auditRef
		errs   []error
		cur    auditRef // the open audit, when open
		open   bool
		lastID string // identifier of the last record (for errors)
		lastLn int
	)

	pos, line := 0, 0
	for pos < len(s) {
		start := pos
		var ln string
		nl := true
		// The line's CRC, computed speculatively in the same pass as the
		// search for its end, as if it continued the open audit's span;
		// kept only if the record turns out to be in the span.
		lineSum, summed := uint16(0), false
		if i, c, ok := lineCRC(s[pos:], cur.st.crc); ok {
			ln, lineSum, summed = s[pos:pos+i], c, true
			pos += i + 1
		} else if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
			ln = s[pos : pos+i]
			pos += i + 1
		} else {
			ln = s[pos:]
			pos = len(s)
			nl = false // the input ends without a line end
		}
		line++
		var eol uint8 // index in eols, as Reader.next
		switch cr := len(ln) > 0 && ln[len(ln)-1] == '\r'; {
		case cr && nl:
			ln, eol = ln[:len(ln)-1], 2
		case cr:
			ln, eol = ln[:len(ln)-1], 3
		case nl:
			eol = 1
		}
		if !open {
			i := findDXS(ln)
			if i < 0 {
				continue // junk between audits
			}
			ln = ln[i:]
			start += i
		} else if len(ln) == 0 {
			continue // blank line inside an audit carries nothing
		}
		idn := 0
		for idn < len(ln) && ln[idn] != '*' {
			idn++
		}
		id := ln[:idn]
		if id == "DXS" {
			if open {
				errs = cur.cut(errs, &ParseError{Line: line, Segment: strings.Clone(lastID), Err: ErrTruncated})
				audits = append(audits, cur.finish(segs, s))
			}
			cur = auditRef{first: len(segs), line: line, g85: -1, se: -1, lastSpan: -1, st: parseState{parsed: true}}
			open = true
		}
		segs = append(segs, segRef{off: uint32(start), n: uint32(len(ln))})
		lastID, lastLn = id, line
		if id == "DXS" {
			continue // the envelope itself is outside the count and the span
		}
		g85, se := cur.st.step(id)
		if cur.st.inSpan {
			// crcNoLast (the check without the last CRLF) is only needed
			// for the last record of the span: finish works it out.
			cur.crcPrev, cur.lastSpan = cur.st.crc, len(segs)-1
			if summed {
				cur.st.crc = lineSum
			} else {
				cur.st.crc = crcLineCRLF(cur.st.crc, ln)
			}
			if eol != 2 {
				cur.st.lfSeen = true
			}
		}
		if g85 {
			cur.g85 = len(segs) - 1
		}
		if se {
			cur.se = len(segs) - 1
		}
		if id == "DXE" {
			audits = append(audits, cur.finish(segs, s))
			open = false
		}
	}
	if open {
		errs = cur.cut(errs, &ParseError{Line: lastLn, Segment: strings.Clone(lastID), Err: ErrTruncated})
		audits = append(audits, cur.finish(segs, s))
	}
	if len(audits) == 0 {
		return nil, ErrNoAudit
	}
	err := errors.Join(errs...)
	return &View{data: data, segs: segs, audits: audits, err: err}, err
}

// owned returns a copy of the input as a string, made once: typed results
// share it instead of aliasing the caller's slice.
func (v *View) owned() string {
	v.once.Do(func() { v.text = string(v.data) })
	return v.text
}

// Len returns the number of audits.
func (v *View) Len() int { return len(v.audits) }

// Audit returns audit i (0-based, in input order). It panics when i is out
// of range, like a slice index.
func (v *View) Audit(i int) Audit {
	_ = v.audits[i]
	return Audit{v: v, i: i}
}

// Audits iterates over the audits in input order.
func (v *View) Audits() iter.Seq[Audit] {
	return func(yield func(Audit) bool) {
		for i := range v.audits {
			if !yield(Audit{v: v, i: i}) {
				return
			}
		}
	}
}

// Reports builds the typed Report of every audit: the same reports and the
// same error as Parse over the same input (ParseBytes is Index followed by
// Reports). The reports share one copy of the input, made on first need,
// and blocks of their small parts: keeping one keeps those alive.
func (v *View) Reports() ([]*Report, error) {
	p := parser{}
	out := make([]*Report, len(v.audits))
	for i := range v.audits {
		out[i] = v.build(&p, i, 0)
	}
	return out, v.err
}

// Audit is one audit of a View, from its DXS to its DXE (or to where it was
// cut short). It is a small value; copy it freely.
type Audit struct {
	v *View
	i int
}

func (a Audit) ref() *auditRef { return &a.v.audits[a.i] }

// Len returns the number of records, DXS and DXE included (blank lines and
// text outside the envelope are not records).
func (a Audit) Len() int {
	r := a.ref()
	return r.end - r.first
}

// Record returns record i (0-based; record 0 is the DXS). It panics when i
// is out of range.
func (a Audit) Record(i int) Record {
	r := a.ref()
	if i < 0 || i >= r.end-r.first {
		panic("evadts: Audit.Record index out of range")
	}
	return Record{v: a.v, a: a.i, i: r.first + i}
}

// Records iterates over the records in input order.
func (a Audit) Records() iter.Seq[Record] {
	return func(yield func(Record) bool) {
		r := a.ref()
		for i := r.first; i < r.end; i++ {
			if !yield(Record{v: a.v, a: a.i, i: i}) {
				return
			}
		}
	}
}

// All iterates over the records with identifier id (e.g. "PA1"), in input
// order.
func (a Audit) All(id string) iter.Seq[Record] {
	return func(yield func(Record) bool) {
		r := a.ref()
		for i := r.first; i < r.end; i++ {
			if rec := (Record{v: a.v, a: a.i, i: i}); rec.Is(id) && !yield(rec) {
				return
			}
		}
	}
}

// Find returns the first record with identifier id.
func (a Audit) Find(id string) (Record, bool) {
	for rec := range a.All(id) {
		return rec, true
	}
	return Record{}, false
}

// Line returns the 1-based input line of the audit's DXS.
func (a Audit) Line() int { return a.ref().line }

// Truncated reports whether the audit ended (end of input, or a new DXS)
// before its SE, as Report.Truncated.
func (a Audit) Truncated() bool { return a.ref().truncated }

// Validate checks G85 and SE exactly as Report.Validate does for the
// corresponding parsed report, without building it.
func (a Audit) Validate() Validation {
	r := a.ref()
	var check, count string
	if r.g85 >= 0 {
		check = (Record{v: a.v, a: a.i, i: r.g85}).Text(1)
	}
	if r.se >= 0 {
		count = (Record{v: a.v, a: a.i, i: r.se}).Text(1)
	}
	return r.st.validate(r.truncated, check, count)
}

// Report builds the audit's full typed Report, equal to the one Parse
// returns for it.
func (a Audit) Report() *Report {
	var p parser
	return a.v.build(&p, a.i, 0)
}

// Header returns the DXS and ST envelope (Report.Header).
func (a Audit) Header() Header { return a.partial(^section(0)).Header }

// Machine returns the identity block, ID1..ID5, CB1 and AM1
// (Report.Machine), decoding only those records.
func (a Audit) Machine() Machine { return a.partial(^secMachine).Machine }

// Meters returns the VA1..VA3 vend totals (Report.Meters).
func (a Audit) Meters() Meters { return a.partial(^secMeters).Meters }

// Cash returns the coin and bill section, CA* and BA* (Report.Cash).
func (a Audit) Cash() Cash { return a.partial(^secCash).Cash }

// Cashless returns the DA*/DB* sections (Report.Cashless).
func (a Audit) Cashless() []Cashless { return a.partial(^secCashless).Cashless }

// Products returns the PA1 product groups with their PA2..PA8 and product
// events (Report.Products).
func (a Audit) Products() []Product { return a.partial(^secGroups).Products }

// Events returns the EA records (Report.Events). Events inside product
// groups name their product, so the PA records are read as well.
func (a Audit) Events() Events { return a.partial(^secGroups).Events }

// partial builds the audit's Report leaving out the sections in skip.
func (a Audit) partial(skip section) *Report {
	var p parser
	return a.v.build(&p, a.i, skip)
}

// section classifies records for partial reports.
type section uint8

const (
	secGroups   section = 1 << iota // PA*, EA*: products and events
	secMachine                      // ID*, CB1, AM1
	secMeters                       // VA1..VA3
	secCash                         // CA*, BA*
	secCashless                     // DA*, DB*
	secConfig                       // MA5
	secUnknown                      // anything else
)

// classOf returns the section a record with identifier id fills, following
// parser.segment's dispatch; 0 for the records that steer the parser (the
// envelope, LS/LE loops), which are never skipped.
func classOf(id string) section {
	switch {
	case id == "DXS" || id == "DXE" || id == "ST" || id == "SE" || id == "G85" || id == "LS" || id == "LE":
		return 0
	case strings.HasPrefix(id, "PA") || strings.HasPrefix(id, "EA"):
		return secGroups
	case id == "MA5":
		return secConfig
	case strings.HasPrefix(id, "ID") || id == "CB1" || id == "AM1":
		return secMachine
	case id == "VA1" || id == "VA2" || id == "VA3":
		return secMeters
	case strings.HasPrefix(id, "CA") || strings.HasPrefix(id, "BA"):
		return secCash
	case strings.HasPrefix(id, "DA") || strings.HasPrefix(id, "DB"):
		return secCashless
	}
	return secUnknown
}

// build runs the parser over audit ai's records, as Parse's run does over
// the reader's, and returns the report. Records of the sections in skip
// only advance the parser's state (count, span, product group), so the
// sections built are the ones the full report would hold. The check value
// comes from the index.
func (v *View) build(p *parser, ai int, skip section) *Report {
	a := &v.audits[ai]
	text := v.owned()
	buf := p.stars // '*' offsets of the record at hand (see rec)
	ln, prev := a.line, v.segs[a.first].off
	for i := a.first; i < a.end; i++ {
		sr := v.segs[i]
		ln += strings.Count(text[prev:sr.off], "\n")
		prev = sr.off
		line := text[sr.off : sr.off+sr.n]
		if skip != 0 && i > a.first {
			id := line
			if k := strings.IndexByte(line, '*'); k >= 0 {
				id = line[:k]
			}
			if classOf(id)&skip != 0 {
				p.cur.st.step(id)
				p.prod = -1
				continue
			}
		}
		buf = findStars(buf[:0], line)
		idEnd := len(line)
		if len(buf) > 0 {
			idEnd = buf[0]
			buf = append(buf, len(line))
		}
		r := rec{ID: line[:idEnd], Raw: line, EOL: eols[v.eol(i)], Line: ln, stars: buf}
		if idEnd == 0 {
			// The reader reports a record without identifier; Parse lists
			// it among the audit's issues before handling the record.
			p.cur.Issues = append(p.cur.Issues, &ParseError{Line: r.Line, Err: ErrBadSegment})
		}
		p.segment(&r)
	}
	p.stars = buf
	r := p.reports[len(p.reports)-1]
	r.Truncated = a.truncated
	seenID1 := r.st.seenID1
	r.st = a.st
	r.st.seenID1 = seenID1
	return r
}

// eol returns the index in eols of record i's line end, as Reader.next
// sets it: the text stops before "\r\n", "\n", a final "\r" or the end of
// input.
func (v *View) eol(i int) int {
	end := int(v.segs[i].off + v.segs[i].n)
	switch {
	case end == len(v.data):
		return 0
	case v.data[end] == '\n':
		return 1
	case end+1 < len(v.data): // '\r' then '\n'
		return 2
	}
	return 3 // '\r' at the end of input
}

// Record is one record ("segment") of an audit in a View. Its accessors
// find the data elements on demand; []byte results share the input.
type Record struct {
	v    *View
	a, i int // audit and record index in the View
}

func (r Record) raw() []byte {
	sr := &r.v.segs[r.i]
	return r.v.data[sr.off : sr.off+sr.n : sr.off+sr.n]
}

// ID returns the segment identifier, e.g. "PA1" (a copy; Is compares
// without one).
func (r Record) ID() string { return string(r.id()) }

func (r Record) id() []byte {
	b := r.raw()
	if k := bytes.IndexByte(b, '*'); k >= 0 {
		return b[:k]
	}
	return b
}

// Is reports whether the record's identifier is id.
func (r Record) Is(id string) bool {
	b := r.raw()
	return len(b) >= len(id) && string(b[:len(id)]) == id && (len(b) == len(id) || b[len(id)] == '*')
}

// Line returns the 1-based input line of the record.
// It counts line ends from the audit's DXS, so it costs a scan of the
// audit text before the record.
func (r Record) Line() int {
	a := &r.v.audits[r.a]
	from, to := r.v.segs[a.first].off, r.v.segs[r.i].off
	return a.line + bytes.Count(r.v.data[from:to], []byte{'\n'})
}

// Raw returns the record text without its line end, sharing the input.
func (r Record) Raw() []byte { return r.raw() }

// NumFields returns the number of data elements.
func (r Record) NumFields() int { return bytes.Count(r.raw(), []byte{'*'}) }

// Field returns data element n (1-based, as in "PA102"), sharing the
// input, or nil when the record has fewer elements.
func (r Record) Field(n int) []byte {
	if n < 1 {
		return nil
	}
	b := r.raw()
	for k := 0; k < n; k++ {
		i := bytes.IndexByte(b, '*')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	if i := bytes.IndexByte(b, '*'); i >= 0 {
		b = b[:i]
	}
	return b
}

// Text returns data element n as a string (a copy), "" when absent.
func (r Record) Text(n int) string { return string(r.Field(n)) }

// Int reads data element n as an integer the way Parse reads numeric
// elements: absent or empty is 0, padding spaces are ignored. Anything else
// gives 0 and a *ParseError wrapping ErrBadNumber, positioned at the record
// and element.
func (r Record) Int(n int) (int64, error) {
	f := r.Field(n)
	x, ok := parseInt(unsafe.String(unsafe.SliceData(f), len(f)))
	if !ok {
		return 0, &ParseError{Line: r.Line(), Segment: r.ID(), Field: n, Err: ErrBadNumber}
	}
	return x, nil
}

// Segment returns the record as a Segment (the same value Reader.Read gives
// for it), with copied strings.
func (r Record) Segment() Segment {
	raw := string(r.raw())
	s := Segment{ID: raw[:len(r.id())], Raw: raw, Line: r.Line(), EOL: eols[r.v.eol(r.i)]}
	if len(s.ID) < len(raw) {
		s.Elements = strings.Split(raw[len(s.ID)+1:], "*")
	}
	return s
}
