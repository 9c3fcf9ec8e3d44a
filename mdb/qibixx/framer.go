package qibixx

import (
	"fmt"
	"io"
)

// DefaultMaxLine bounds a line. The longest documented line is a sniffed
// 36-byte block: 2+1+2+1+10+1+2+1+70 characters; 512 leaves room for text
// messages while stopping a runaway stream from growing the buffer.
const DefaultMaxLine = 512

// LineTooLongError reports a line that exceeded the framer's limit; the line
// was dropped up to its end.
type LineTooLongError struct{ Len int }

// Error implements error.
func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("%v: dropped %d bytes", ErrLineTooLong, e.Len)
}

// Unwrap returns ErrLineTooLong.
func (e *LineTooLongError) Unwrap() error { return ErrLineTooLong }

// Framer cuts a byte stream into lines. It is resumable: bytes can arrive in
// any chunking. Lines end with "\n" (QBX api-general); "\r" also ends a line
// so "\r\n" works, and empty lines are skipped.
type Framer struct {
	// MaxLine is the longest line kept; 0 means DefaultMaxLine.
	MaxLine int

	buf     []byte
	dropped int // > 0 while skipping the rest of an over-long line
}

// Line is one framed line, or the error for one that was dropped.
type Line struct {
	Text string
	Err  error
}

// Feed consumes p and returns the lines it completes, in order.
func (f *Framer) Feed(p []byte) []Line {
	var out []Line
	max := f.MaxLine
	if max <= 0 {
		max = DefaultMaxLine
	}
	for _, b := range p {
		if b == '\n' || b == '\r' {
			switch {
			case f.dropped > 0:
				out = append(out, Line{Err: &LineTooLongError{Len: f.dropped}})
				f.dropped = 0
			case len(f.buf) > 0:
				out = append(out, Line{Text: string(f.buf)})
			}
			f.buf = f.buf[:0]
			continue
		}
		if f.dropped > 0 {
			f.dropped++
			continue
		}
		if len(f.buf) >= max {
			f.dropped = len(f.buf) + 1
			f.buf = f.buf[:0]
			continue
		}
		f.buf = append(f.buf, b)
	}
	return out
}

// Pending reports whether a partial line is buffered.
func (f *Framer) Pending() bool { return len(f.buf) > 0 || f.dropped > 0 }

// Reset drops a partial line.
func (f *Framer) Reset() { f.buf, f.dropped = f.buf[:0], 0 }

// LineReader reads lines from an io.Reader with a Framer.
type LineReader struct {
	r    io.Reader
	f    Framer
	q    []Line
	rbuf []byte
}

// NewLineReader returns a LineReader over r; maxLine 0 means DefaultMaxLine.
func NewLineReader(r io.Reader, maxLine int) *LineReader {
	return &LineReader{r: r, f: Framer{MaxLine: maxLine}, rbuf: make([]byte, 256)}
}

// ReadLine returns the next line. An over-long line is returned as a
// *LineTooLongError with an empty text (reading can go on). Errors from the
// reader are returned as they are; a partial line before io.EOF is dropped.
// After a read error (e.g. a deadline), calling again resumes where it was.
func (lr *LineReader) ReadLine() (string, error) {
	for len(lr.q) == 0 {
		n, err := lr.r.Read(lr.rbuf)
		lr.q = append(lr.q, lr.f.Feed(lr.rbuf[:n])...)
		if len(lr.q) > 0 {
			break
		}
		if err != nil {
			return "", err
		}
	}
	l := lr.q[0]
	lr.q = lr.q[1:]
	return l.Text, l.Err
}
