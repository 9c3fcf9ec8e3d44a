package evadts

import (
	"errors"
	"fmt"
	"io"
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
	lastID  string
	lastLn  int
	arena   []string
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
	for {
		line, nl, ok := rd.nextLine()
		if !ok {
			if rd.done {
				return Segment{}, io.EOF
			}
			rd.done = true
			if rd.rerr != nil {
				rd.inAudit = false
				return Segment{}, &ParseError{Line: rd.line, Segment: rd.lastID, Err: rd.rerr}
			}
			if rd.inAudit {
				rd.inAudit = false
				return Segment{}, &ParseError{Line: rd.lastLn, Segment: rd.lastID, Err: ErrTruncated}
			}
			return Segment{}, io.EOF
		}
		rd.line++
		eol := ""
		if nl {
			eol = "\n"
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
			if nl {
				eol = "\r\n"
			} else {
				eol = "\r"
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
		seg := rd.split(line)
		seg.Line = rd.line
		seg.EOL = eol
		var err error
		switch {
		case seg.ID == "DXS":
			if rd.inAudit {
				err = &ParseError{Line: rd.line, Segment: rd.lastID, Err: ErrTruncated}
			}
			rd.inAudit = true
		case seg.ID == "DXE":
			rd.inAudit = false
		case seg.ID == "":
			err = &ParseError{Line: rd.line, Err: ErrBadSegment}
		}
		rd.lastID, rd.lastLn = seg.ID, rd.line
		return seg, err
	}
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

// split cuts a line at '*' into ID and elements, taking the element slice
// from a shared arena to avoid one allocation per segment.
func (rd *Reader) split(line string) Segment {
	n := strings.Count(line, "*")
	i := strings.IndexByte(line, '*')
	if i < 0 {
		return Segment{ID: line, Raw: line}
	}
	if len(rd.arena) < n {
		rd.arena = make([]string, max(n, 1024))
	}
	el := rd.arena[:n:n]
	rd.arena = rd.arena[n:]
	rest := line[i+1:]
	for k := 0; k < n-1; k++ {
		j := strings.IndexByte(rest, '*')
		el[k] = rest[:j]
		rest = rest[j+1:]
	}
	el[n-1] = rest
	return Segment{ID: line[:i], Elements: el, Raw: line}
}
