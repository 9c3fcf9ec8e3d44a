package ukm5

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// ListenEach gives every register a listener of its own on host (port 0:
// any free port) and returns their base URLs, "http://host:port". In this
// mode FaultDown closes the register's listener, so connections are refused.
func (f *Fleet) ListenEach(host string) ([]string, error) {
	urls := make([]string, len(f.regs))
	for i, r := range f.regs {
		r.lnMu.Lock()
		err := r.serve(net.JoinHostPort(host, "0"))
		addr := r.addr
		r.lnMu.Unlock()
		if err != nil {
			f.Close()
			return nil, err
		}
		urls[i] = "http://" + addr
	}
	return urls, nil
}

// serve starts the register's own server on addr (lnMu held).
func (r *Register) serve(addr string) error {
	var ln net.Listener
	var err error
	for try := 0; try < 50; try++ { // the old socket may linger for a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("ukm5: register %d: %w", r.n, err)
	}
	r.addr = ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	go r.srv.Serve(ln)
	return nil
}

// stopServing closes the listener and every connection (lnMu held).
func (r *Register) stopServing() error {
	if r.srv == nil {
		return nil
	}
	err := r.srv.Close()
	r.srv = nil
	return err
}

// Close stops every per-register listener.
func (f *Fleet) Close() {
	for _, r := range f.regs {
		r.lnMu.Lock()
		r.closed = true
		_ = r.stopServing()
		r.lnMu.Unlock()
	}
}

// Handler serves every register behind one listener: register n's base URL is
// "http://LISTENER/r/n" (so its endpoints are /r/n/api/v1/status/NAME). The
// control surface is mounted at /control/.
func (f *Fleet) Handler() http.Handler {
	ctl := f.Control()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/control/") {
			ctl.ServeHTTP(w, req)
			return
		}
		rest, ok := strings.CutPrefix(req.URL.Path, "/r/")
		if !ok {
			http.NotFound(w, req)
			return
		}
		num, _, _ := strings.Cut(rest, "/")
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n >= len(f.regs) {
			http.NotFound(w, req)
			return
		}
		f.regs[n].ServeHTTP(w, req)
	})
}

// BaseURLs are the registers' base URLs behind one listener serving Handler.
func (f *Fleet) BaseURLs(listener string) []string {
	urls := make([]string, len(f.regs))
	for i := range f.regs {
		urls[i] = fmt.Sprintf("http://%s/r/%d", listener, i)
	}
	return urls
}

// ErrRefused is the dial error of a register that is down in memory.
var ErrRefused = errors.New("ukm5: connection refused")

// Transport reaches the registers in memory: the host "reg-N" is register N
// (see MemURLs). A register that is down fails like a refused dial; a
// hang-up fails like a connection cut mid-answer.
func (f *Fleet) Transport() http.RoundTripper { return memTransport{f} }

// MemURLs are the registers' base URLs for Transport.
func (f *Fleet) MemURLs() []string {
	urls := make([]string, len(f.regs))
	for i := range f.regs {
		urls[i] = fmt.Sprintf("http://reg-%d", i)
	}
	return urls
}

type memTransport struct{ f *Fleet }

func (t memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	num, ok := strings.CutPrefix(req.URL.Host, "reg-")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 || n >= len(t.f.regs) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: req.URL.Host, IsNotFound: true}}
	}
	r := t.f.regs[n]
	switch r.Fault() {
	case FaultDown:
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ErrRefused}
	case FaultHangup:
		r.record(req.URL.Path, r.cfg.Now())
		return nil, io.ErrUnexpectedEOF
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

// Control is the control surface:
//
//	GET  /control/registers                 every register's fault and counters
//	GET  /control/registers/{n}             one register: state, fault, counters
//	GET  /control/registers/{n}/requests    its latest requests with their times
//	POST /control/registers/{n}/fault?kind=down|slow|500|401|malformed|hangup|none
//	POST /control/registers/{n}/state       JSON fields of State to set
//	POST /control/fault?kind=K&from=A&to=B  fault for registers A..B-1 (default all)
func (f *Fleet) Control() http.Handler {
	mux := http.NewServeMux()
	reg := func(w http.ResponseWriter, req *http.Request) *Register {
		n, err := strconv.Atoi(req.PathValue("n"))
		if err != nil || n < 0 || n >= len(f.regs) {
			http.Error(w, "no such register", http.StatusNotFound)
			return nil
		}
		return f.regs[n]
	}
	mux.HandleFunc("GET /control/registers", func(w http.ResponseWriter, req *http.Request) {
		out := make([]Stats, len(f.regs))
		for i, r := range f.regs {
			out[i] = r.Stats()
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /control/registers/{n}", func(w http.ResponseWriter, req *http.Request) {
		if r := reg(w, req); r != nil {
			writeJSON(w, map[string]any{"state": r.State(), "stats": r.Stats()})
		}
	})
	mux.HandleFunc("GET /control/registers/{n}/requests", func(w http.ResponseWriter, req *http.Request) {
		if r := reg(w, req); r != nil {
			writeJSON(w, r.Requests())
		}
	})
	mux.HandleFunc("POST /control/registers/{n}/fault", func(w http.ResponseWriter, req *http.Request) {
		r := reg(w, req)
		if r == nil {
			return
		}
		flt, err := ParseFault(req.URL.Query().Get("kind"))
		if err == nil {
			err = r.SetFault(flt)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, r.Stats())
	})
	mux.HandleFunc("POST /control/registers/{n}/state", func(w http.ResponseWriter, req *http.Request) {
		r := reg(w, req)
		if r == nil {
			return
		}
		var err error
		r.Update(func(s *State) {
			// Decode onto a copy so a bad body changes nothing.
			c := *s
			if err = json.NewDecoder(io.LimitReader(req.Body, 1<<16)).Decode(&c); err == nil {
				*s = c
			}
		})
		if err != nil {
			http.Error(w, "bad state: "+err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, r.State())
	})
	mux.HandleFunc("POST /control/fault", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		flt, err := ParseFault(q.Get("kind"))
		from, to := 0, len(f.regs)
		if s := q.Get("from"); s != "" && err == nil {
			from, err = strconv.Atoi(s)
		}
		if s := q.Get("to"); s != "" && err == nil {
			to, err = strconv.Atoi(s)
		}
		if err == nil && (from < 0 || to > len(f.regs) || from > to) {
			err = errors.New("from/to out of range")
		}
		for i := from; err == nil && i < to; i++ {
			err = f.regs[i].SetFault(flt)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]int{"changed": to - from})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriter(w)
	_ = json.NewEncoder(bw).Encode(v)
	_ = bw.Flush()
}
