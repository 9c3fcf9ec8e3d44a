package evadts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
)

// Sentinel errors. They are wrapped in a *ParseError carrying the position, so
// test them with errors.Is.
var (
	// ErrTruncated reports an audit cut short: the input ended, or a new DXS
	// began, before the DXE that closes the audit. It is not fatal: Read can
	// be called again and continues with the next audit, if any.
	ErrTruncated = errors.New("evadts: audit cut short before DXE")
	// ErrBadSegment reports a line inside an audit that has no segment
	// identifier (it is empty before the first '*'). The segment is still
	// returned with the error.
	ErrBadSegment = errors.New("evadts: malformed segment")
	// ErrBadNumber reports a numeric data element that is not an integer.
	// Parse records it in Report.Issues and uses 0.
	ErrBadNumber = errors.New("evadts: not an integer")
	// ErrNoAudit means the input contained no DXS segment at all.
	ErrNoAudit = errors.New("evadts: no audit (DXS) found")
	// ErrNotEncodable means a Report holds something Encode cannot write
	// faithfully (a separator or line end inside an element, or a reserved
	// segment such as SE or G85 among the raw segments).
	ErrNotEncodable = errors.New("evadts: report cannot be encoded")
)

// ParseError is a positioned error from reading or parsing an audit.
type ParseError struct {
	Line    int    // 1-based line in the input
	Segment string // segment identifier, e.g. "PA2"; "" when unknown
	Field   int    // 1-based data element (PA102 is field 2); 0 for the whole segment
	Err     error  // one of the sentinels above, or an I/O error
}

// Error implements error.
func (e *ParseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "evadts: line %d", e.Line)
	if e.Segment != "" {
		fmt.Fprintf(&b, ", segment %s", e.Segment)
		if e.Field > 0 {
			fmt.Fprintf(&b, "%02d", e.Field)
		}
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "evadts: "))
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// MarshalJSON renders the error as {"line":..,"segment":..,"field":..,"error":".."}
// so it can appear in Report.Issues of the JSON output.
func (e *ParseError) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"line":%d,"segment":%q,"field":%d,"error":%q}`,
		e.Line, e.Segment, e.Field, strings.TrimPrefix(e.Err.Error(), "evadts: ")), nil
}

// Segment is one record of an audit.
type Segment struct {
	// ID is the segment identifier before the first '*', e.g. "PA1".
	ID string `json:"id"`
	// Elements are the data elements after the identifier: Elements[0] is
	// element 01 (PA101), Elements[1] is element 02, and so on. Use Field
	// for 1-based access that tolerates omitted trailing elements.
	Elements []string `json:"elements"`
	// Line is the 1-based line number in the input (0 for segments built in code).
	Line int `json:"line,omitempty"`
	// Raw is the record text as read, without its line end (and without any
	// junk before DXS on the same line).
	Raw string `json:"raw"`
	// EOL is the line end as read: "\r\n", "\n", or "" when the input
	// ended without one. G85 validation uses it to name LF-only storage.
	EOL string `json:"-"`
}

// Field returns data element n (1-based, as in the spec's "PA102"), or ""
// when the segment has fewer elements.
func (s Segment) Field(n int) string {
	if n < 1 || n > len(s.Elements) {
		return ""
	}
	return s.Elements[n-1]
}

// Reader streams segments from EVA-DTS text. Lines before a DXS and between
// a DXE and the next DXS are skipped. It tolerates CRLF or LF line ends.
//
// Strings returned by Read share memory with internal chunks of the input
// (one allocation per chunk instead of per element), so a retained Segment
// keeps its chunk (up to ~64 KiB) alive.
type Reader struct {
	r       io.Reader
	buf     []byte // read buffer; bytes buf[start:end] not yet turned into chunk
	start   int
	end     int
	eof     bool
	rerr    error  // read error other than io.EOF
	chunk   string // complete lines not yet returned
	pos     int
	line    int
	inAudit bool
	lastID  idBuf // identifier of the last record (for errors)
	lastLn  int
	arena   []string // element storage for Read; arena[:used] handed out
	used    int
	stars   []int // '*' offsets of the last record (see rec), storage only
	nstars  int   // len of the last record's stars
	eol     uint8 // index in eols of the last record's line end
	// With crcOn (set by the parser), next also computes crcLine, the
	// CRC16 of the record text continuing from crcSeed, in the same pass
	// over the text as the '*' search.
	crcOn   bool
	crcSeed uint16
	crcLine uint16
	done    bool
}

const readChunk = 64 << 10

// NewReader returns a Reader reading EVA-DTS text from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

// nextLine returns the next line without its '\n' (a trailing '\r' is kept)
// and whether it ended with '\n'. ok is false at end of input.
func (rd *Reader) nextLine() (line string, nl bool, ok bool) {
	for {
		if rd.pos < len(rd.chunk) {
			rest := rd.chunk[rd.pos:]
			if i := strings.IndexByte(rest, '\n'); i >= 0 {
				rd.pos += i + 1
				return rest[:i], true, true
			}
			// Only the final chunk at EOF can lack a trailing '\n'.
			rd.pos = len(rd.chunk)
			return rest, false, true
		}
		if !rd.fill() {
			return "", false, false
		}
	}
}

// fill turns the next run of complete lines (or the unterminated tail at EOF)
// into rd.chunk. It reports false when there is nothing more.
func (rd *Reader) fill() bool {
	rd.chunk, rd.pos = "", 0
	for {
		if rd.start < rd.end {
			data := rd.buf[rd.start:rd.end]
			if i := lastIndexNL(data); i >= 0 {
				rd.chunk = string(data[:i+1])
				rd.start += i + 1
				return true
			}
			if rd.eof {
				rd.chunk = string(data)
				rd.start = rd.end
				return true
			}
		} else if rd.eof {
			return false
		}
		// Need more data: compact, grow if full, read.
		if rd.start > 0 {
			n := copy(rd.buf, rd.buf[rd.start:rd.end])
			rd.start, rd.end = 0, n
		}
		if rd.end == len(rd.buf) {
			nb := make([]byte, max(readChunk, 2*len(rd.buf)))
			copy(nb, rd.buf[:rd.end])
			rd.buf = nb
		}
		n, err := rd.r.Read(rd.buf[rd.end:])
		rd.end += n
		if err != nil {
			rd.eof = true
			if err != io.EOF {
				rd.rerr = err
			}
		}
	}
}

func lastIndexNL(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

// Read returns the next segment of an audit.
//
// At the end of input it returns io.EOF. Like encoding/csv it may return a
// segment together with a non-nil *ParseError:
//   - a DXS that begins before the previous audit's DXE comes with
//     ErrTruncated (the previous audit was cut short; the DXS is valid);
//   - a line without identifier comes with ErrBadSegment.
//
// When the input ends inside an audit, Read returns an empty Segment and a
// *ParseError wrapping ErrTruncated, then io.EOF. A read error from the
// underlying reader is returned wrapped in a *ParseError after the data
// read before it.
func (rd *Reader) Read() (Segment, error) {
	line, err := rd.next()
	if line == "" {
		return Segment{}, err
	}
	r := rd.rec(line)
	seg := Segment{ID: r.ID, Raw: r.Raw, Line: r.Line, EOL: r.EOL}
	if n := r.n(); n > 0 {
		if len(rd.arena)-rd.used < n {
			rd.arena = make([]string, max(n, 1024))
			rd.used = 0
		}
		rd.used += n
		seg.Elements = r.elements(rd.arena[rd.used-n : rd.used : rd.used])
	}
	return seg, err
}

// rec is a segment as the parser sees it. Element boundaries are offsets
// into Raw (a pointer-free slice reused from record to record, so filling
// it costs neither allocations nor GC write barriers); elements are cut
// from Raw on demand.
type rec struct {
	ID   string
	Raw  string
	EOL  string
	Line int
	// stars holds the offset in Raw of every '*', then len(Raw); it is
	// empty when Raw has no '*' (no elements). Element k (1-based) is
	// Raw[stars[k-1]+1 : stars[k]].
	stars []int
}

// n is the number of data elements.
func (r *rec) n() int {
	if len(r.stars) == 0 {
		return 0
	}
	return len(r.stars) - 1
}

// field returns data element k (1-based), or "" when there are fewer.
func (r *rec) field(k int) string {
	if k >= len(r.stars) {
		return ""
	}
	a, b := r.stars[k-1]+1, r.stars[k]
	if a >= b {
		// A literal "" holds no pointer: less for the GC to trace than an
		// empty string pointing into the input chunk.
		return ""
	}
	return r.Raw[a:b]
}

// empty reports whether element k (1-based, k <= n) is empty.
func (r *rec) empty(k int) bool {
	return r.stars[k] == r.stars[k-1]+1
}

// elements fills dst (len(dst) == r.n(), all "") with the data elements.
func (r *rec) elements(dst []string) []string {
	for k := range dst {
		// dst is fresh (zero): leave empty elements alone, sparing the
		// GC write barrier.
		if a, b := r.stars[k]+1, r.stars[k+1]; a < b {
			dst[k] = r.Raw[a:b]
		}
	}
	return dst
}

// Line ends as read, indexed by Reader.eol.
var eols = [...]string{"", "\n", "\r\n", "\r"}

// next reads the next record and returns its text ("" with io.EOF or an
// error that comes without a record; see Read). The rest of the record
// (rd.rec) stays in pointer-free fields of rd, valid until the following
// call, so that nothing per record is copied or stored through a pointer
// (which would cost GC write barriers).
func (rd *Reader) next() (string, error) {
	for {
		line, nl, ok := rd.nextLine()
		if !ok {
			if rd.done {
				return "", io.EOF
			}
			rd.done = true
			if rd.rerr != nil {
				rd.inAudit = false
				return "", &ParseError{Line: rd.line, Segment: rd.lastID.String(), Err: rd.rerr}
			}
			if rd.inAudit {
				rd.inAudit = false
				return "", &ParseError{Line: rd.lastLn, Segment: rd.lastID.String(), Err: ErrTruncated}
			}
			return "", io.EOF
		}
		rd.line++
		eol := uint8(0)
		if nl {
			eol = 1
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
			eol = 2 // "\r\n"
			if !nl {
				eol = 3 // "\r" at the end of input
			}
		}
		if !rd.inAudit {
			i := findDXS(line)
			if i < 0 {
				continue // junk between audits
			}
			line = line[i:]
		} else if len(line) == 0 {
			continue // blank line inside an audit carries nothing
		}
		var stars []int
		if rd.crcOn {
			stars, rd.crcLine = findStarsCRC(rd.stars[:0], line, rd.crcSeed)
		} else {
			stars = findStars(rd.stars[:0], line)
		}
		idEnd := len(line)
		if len(stars) > 0 {
			idEnd = stars[0]
			stars = append(stars, len(line))
		}
		if cap(stars) != cap(rd.stars) {
			rd.stars = stars[:0] // grown; stored only then (a pointer store)
		}
		rd.nstars, rd.eol = len(stars), eol
		id := line[:idEnd]
		var err error
		switch {
		case id == "DXS":
			if rd.inAudit {
				err = &ParseError{Line: rd.line, Segment: rd.lastID.String(), Err: ErrTruncated}
			}
			rd.inAudit = true
		case id == "DXE":
			rd.inAudit = false
		case id == "":
			err = &ParseError{Line: rd.line, Err: ErrBadSegment}
		}
		rd.lastID.set(line, idEnd)
		rd.lastLn = rd.line
		return line, err
	}
}

// rec returns the record whose text next just returned.
func (rd *Reader) rec(line string) rec {
	stars := rd.stars[:rd.nstars]
	id := line
	if len(stars) > 0 {
		id = line[:stars[0]]
	}
	return rec{ID: id, Raw: line, EOL: eols[rd.eol], Line: rd.line, stars: stars}
}

// idBuf holds a segment identifier packed into an integer when it is short
// (all real ones are), so that remembering it for every record costs
// neither a copy nor a GC write barrier.
type idBuf struct {
	n      int
	packed uint64 // the identifier's bytes, little-endian, when n <= 8
	long   string // the identifier when n > 8
}

// set remembers line[:n] (the common case is inlined).
func (x *idBuf) set(line string, n int) {
	x.n = n
	if n <= 8 && len(line) >= 8 {
		x.packed = load64(line) & (1<<(8*n) - 1) // n == 8: the mask is all ones
		return
	}
	x.setSlow(line, n)
}

func (x *idBuf) setSlow(line string, n int) {
	if n > 8 {
		x.long = line[:n]
		return
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(line[i])
	}
	x.packed = v
}

// String returns the identifier.
func (x *idBuf) String() string {
	if x.n > 8 {
		return x.long
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], x.packed)
	return string(b[:x.n])
}

// findStars appends the offset of every '*' in line to dst. It tests eight
// bytes per step (SWAR): elements are a few bytes long, so a strings.IndexByte
// call per element costs more than it saves.
func findStars(dst []int, line string) []int {
	const (
		ones  = 0x0101010101010101
		low7  = 0x7F7F7F7F7F7F7F7F
		stars = '*' * ones
	)
	j := 0
	for ; j+8 <= len(line); j += 8 {
		x := load64(line[j:]) ^ stars // '*' bytes become zero
		// High bit set exactly in the zero bytes (no carries between bytes).
		z := ^((x&low7 + low7) | x | low7)
		for z != 0 {
			dst = append(dst, j+bits.TrailingZeros64(z)>>3)
			z &= z - 1
		}
	}
	for ; j < len(line); j++ {
		if line[j] == '*' {
			dst = append(dst, j)
		}
	}
	return dst
}

// findStarsCRC is findStars that also returns CRC16(crc, line), sharing
// the loads of the word loop.
func findStarsCRC(dst []int, line string, crc uint16) ([]int, uint16) {
	const (
		ones  = 0x0101010101010101
		low7  = 0x7F7F7F7F7F7F7F7F
		stars = '*' * ones
	)
	j := 0
	for ; j+8 <= len(line); j += 8 {
		w := load64(line[j:])
		crc = crcWord(crc, w)
		x := w ^ stars
		z := ^((x&low7 + low7) | x | low7)
		for z != 0 {
			dst = append(dst, j+bits.TrailingZeros64(z)>>3)
			z &= z - 1
		}
	}
	for ; j < len(line); j++ {
		c := line[j]
		crc = crcTab[0][byte(crc)^c] ^ crc>>8
		if c == '*' {
			dst = append(dst, j)
		}
	}
	return dst, crc
}

// findDXS locates the start of a DXS record in a line outside an audit: at
// the start, or after junk that does not end in a letter or digit (real
// captures carry terminal banners like "...\f>DXS*"; "EADXS" is no DXS).
func findDXS(line string) int {
	from := 0
	for {
		i := strings.Index(line[from:], "DXS")
		if i < 0 {
			return -1
		}
		i += from
		end := i + 3
		if (end == len(line) || line[end] == '*') && (i == 0 || !isAlnum(line[i-1])) {
			return i
		}
		from = i + 1
	}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
