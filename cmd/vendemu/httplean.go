package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// leanClient is the HTTP/1.1 client of rest-load's command requests (plain
// http:// only; https goes through net/http). rest-load runs on the machine of
// the gateway it measures, and net/http's client spends most of its CPU on the
// machinery around a request (a read and a write goroutine per connection, the
// channel hops between them and the caller, a context and timer per request):
// here the requesting goroutine writes the request in one write and reads the
// answer itself on a kept-alive connection, at most maxConns of them.
type leanClient struct {
	addr     string // host:port to dial
	host     string // Host header
	maxConns int
	idle     time.Duration // idle connections older than this are closed, not reused

	mu     sync.Mutex
	free   []*leanConn
	open   int
	waitCh chan struct{} // signalled when a connection is released
}

type leanConn struct {
	nc   net.Conn
	r    *bufio.Reader
	w    []byte
	used time.Time
	hot  bool // served a request before (a failure may be the server's idle close)
}

// errLeanProtocol is an answer leanClient cannot read.
var errLeanProtocol = errors.New("vendemu: malformed http response")

// newLeanClient returns a client for base (http://host:port), or nil when base
// is not plain http.
func newLeanClient(base string, maxConns int) *leanClient {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &leanClient{addr: addr, host: u.Host, maxConns: maxConns, idle: time.Minute, waitCh: make(chan struct{}, 1)}
}

func (c *leanClient) get(ctx context.Context) (*leanConn, error) {
	for {
		c.mu.Lock()
		for len(c.free) > 0 {
			lc := c.free[len(c.free)-1]
			c.free = c.free[:len(c.free)-1]
			if time.Since(lc.used) < c.idle {
				c.mu.Unlock()
				return lc, nil
			}
			lc.nc.Close()
			c.open--
		}
		if c.open < c.maxConns {
			c.open++
			c.mu.Unlock()
			var d net.Dialer
			nc, err := d.DialContext(ctx, "tcp", c.addr)
			if err != nil {
				c.mu.Lock()
				c.open--
				c.mu.Unlock()
				c.signal()
				return nil, err
			}
			return &leanConn{nc: nc, r: bufio.NewReaderSize(nc, 4096)}, nil
		}
		c.mu.Unlock()
		select {
		case <-c.waitCh:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *leanClient) signal() {
	select {
	case c.waitCh <- struct{}{}:
	default:
	}
}

func (c *leanClient) put(lc *leanConn, reuse bool) {
	c.mu.Lock()
	if reuse {
		lc.used, lc.hot = time.Now(), true
		c.free = append(c.free, lc)
	} else {
		lc.nc.Close()
		c.open--
	}
	c.mu.Unlock()
	c.signal()
}

// do sends one request (path with its query; body nil: none) and appends the
// answer's body to out. A GET that fails on a reused connection before any
// answer arrives is sent once more on a new one (the server may have closed it
// as idle), as net/http does for idempotent requests.
func (c *leanClient) do(ctx context.Context, method, path, auth string, body []byte, out *bytes.Buffer) (int, error) {
	for try := 0; ; try++ {
		lc, err := c.get(ctx)
		if err != nil {
			return 0, err
		}
		hot := lc.hot
		code, keep, answered, err := c.roundTrip(ctx, lc, method, path, auth, body, out)
		c.put(lc, err == nil && keep)
		if err != nil && hot && !answered && method == "GET" && try == 0 && ctx.Err() == nil {
			continue
		}
		return code, err
	}
}

func (c *leanClient) roundTrip(ctx context.Context, lc *leanConn, method, path, auth string, body []byte, out *bytes.Buffer) (code int, keep, answered bool, err error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = lc.nc.SetDeadline(dl)
	} else {
		_ = lc.nc.SetDeadline(time.Time{})
	}
	// A cancelled run (Ctrl-C) ends a request waiting on the gateway.
	stop := context.AfterFunc(ctx, func() { _ = lc.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	w := append(lc.w[:0], method...)
	w = append(w, ' ')
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, c.host...)
	w = append(w, "\r\nUser-Agent: vendemu-rest-load\r\n"...)
	if auth != "" {
		w = append(w, "Authorization: "...)
		w = append(w, auth...)
		w = append(w, "\r\n"...)
	}
	if body != nil {
		w = append(w, "Content-Type: application/json\r\nContent-Length: "...)
		w = strconv.AppendInt(w, int64(len(body)), 10)
		w = append(w, "\r\n"...)
	}
	w = append(w, "\r\n"...)
	w = append(w, body...)
	lc.w = w
	if _, err := lc.nc.Write(w); err != nil {
		return 0, false, false, c.ctxErr(ctx, err)
	}
	code, keep, answered, err = readResponse(lc.r, out)
	return code, keep, answered, c.ctxErr(ctx, err)
}

// ctxErr reports a cancelled or expired context rather than the deadline
// error it caused on the connection.
func (c *leanClient) ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// readResponse reads one HTTP/1.1 response (Content-Length, chunked, or until
// close) and appends its body to out. answered: a status line arrived.
func readResponse(r *bufio.Reader, out *bytes.Buffer) (code int, keep, answered bool, err error) {
	line, err := readLine(r)
	if err != nil {
		return 0, false, false, err
	}
	// HTTP/1.x SP 3DIGIT ...
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, true, errLeanProtocol
	}
	code, err = strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 {
		return 0, false, true, errLeanProtocol
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		h, err := readLine(r)
		if err != nil {
			return code, false, true, err
		}
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return code, false, true, errLeanProtocol
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "content-length"):
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				return code, false, true, errLeanProtocol
			}
			length = n
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = asciiEqualFold(v, "chunked")
			if !chunked {
				return code, false, true, errLeanProtocol
			}
		case asciiEqualFold(k, "connection"):
			if asciiEqualFold(v, "close") {
				keep = false
			} else if asciiEqualFold(v, "keep-alive") {
				keep = true
			}
		}
	}
	if code < 200 || code == 204 || code == 304 {
		return code, keep, true, nil // no body (1xx is not expected: nothing asks for it)
	}
	switch {
	case chunked:
		for {
			l, err := readLine(r)
			if err != nil {
				return code, false, true, err
			}
			if i := bytes.IndexByte(l, ';'); i >= 0 {
				l = l[:i]
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 64)
			if err != nil || n < 0 {
				return code, false, true, errLeanProtocol
			}
			if n == 0 {
				for { // trailers
					t, err := readLine(r)
					if err != nil {
						return code, false, true, err
					}
					if len(t) == 0 {
						return code, keep, true, nil
					}
				}
			}
			if _, err := io.CopyN(out, r, n); err != nil {
				return code, false, true, noEOF(err)
			}
			if l, err := readLine(r); err != nil || len(l) != 0 {
				return code, false, true, errLeanProtocol
			}
		}
	case length >= 0:
		if _, err := io.CopyN(out, r, length); err != nil {
			return code, false, true, noEOF(err)
		}
		return code, keep, true, nil
	default:
		_, err := out.ReadFrom(r)
		return code, false, true, err
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLine reads a CRLF (or LF) terminated line of at most the reader's size.
func readLine(r *bufio.Reader) ([]byte, error) {
	l, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errLeanProtocol
		}
		return nil, err
	}
	l = l[:len(l)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l, nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
