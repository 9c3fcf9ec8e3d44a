// Package petrosoft emulates the Petrosoft Monitoring Data API
// (specs/petrosoft-monitoring-data-api.txt, "PUSH integration monitoring
// status"): it takes POSTed cash-register statuses per station, checks the
// Bearer token and the body ({status: 0|2|3|5|6, time: Unix time,
// received_from_cloud?, cloud_online?}), answers HTTP 200 with
// {"status": true, "success": true}, and records every push accepted. On
// demand it fails (down, 500, 200 with success false) or is slow, for a given
// time, so tests can check that the gateway retries and keeps order.
package petrosoft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Mode is how the emulator answers.
type Mode string

// Modes.
const (
	ModeOK     Mode = ""       // accept valid pushes
	ModeDown   Mode = "down"   // cut the connection without answering
	Mode500    Mode = "500"    // HTTP 500
	ModeReject Mode = "reject" // HTTP 200 with status and success false
	ModeSlow   Mode = "slow"   // answer after Config.Slow
)

// ParseMode reads a mode name ("ok" or "" for normal).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "ok", ModeOK:
		return ModeOK, nil
	case ModeDown, Mode500, ModeReject, ModeSlow:
		return m, nil
	}
	return ModeOK, fmt.Errorf("petrosoft: unknown mode %q (ok, down, 500, reject, slow)", s)
}

// Push is one accepted push.
type Push struct {
	Station           string    `json:"station"`
	Status            int       `json:"status"`
	Time              int64     `json:"time"`
	ReceivedFromCloud *int64    `json:"received_from_cloud,omitempty"`
	CloudOnline       *bool     `json:"cloud_online,omitempty"`
	At                time.Time `json:"at"` // when it arrived
}

// Config configures a Server.
type Config struct {
	Token  string           // the Bearer token accepted (required)
	Prefix string           // pushes are POST PREFIX{stationId} (default "/monitoring/")
	Slow   time.Duration    // delay of ModeSlow (default 30s)
	Now    func() time.Time // default time.Now
}

// Server is the emulated monitoring API; an http.Handler.
type Server struct {
	cfg Config

	mu       sync.Mutex
	pushes   []Push
	mode     Mode
	until    time.Time // mode ends (zero: until changed)
	refused  map[string]int
	requests int
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Prefix == "" {
		cfg.Prefix = "/monitoring/"
	}
	if cfg.Slow <= 0 {
		cfg.Slow = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg, refused: map[string]int{}}
}

// URL is the push URL template for a server at base ("http://host:port").
func (s *Server) URL(base string) string {
	return strings.TrimRight(base, "/") + s.cfg.Prefix + "{stationId}"
}

// SetMode switches the mode for d (0: until switched again).
func (s *Server) SetMode(m Mode, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode, s.until = m, time.Time{}
	if d > 0 {
		s.until = s.cfg.Now().Add(d)
	}
}

func (s *Server) currentMode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.until.IsZero() && !s.cfg.Now().Before(s.until) {
		s.mode, s.until = ModeOK, time.Time{}
	}
	return s.mode
}

// Pushes returns the accepted pushes in arrival order; station "" is all.
func (s *Server) Pushes(station string) []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Push
	for _, p := range s.pushes {
		if station == "" || p.Station == station {
			out = append(out, p)
		}
	}
	return out
}

// Refused counts the requests refused, by reason (token, body, mode, method).
func (s *Server) Refused() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.refused))
	for k, v := range s.refused {
		out[k] = v
	}
	return out
}

// Requests counts every request to the push path.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

type answer struct {
	Status  bool              `json:"status"`
	Success bool              `json:"success"`
	Message string            `json:"message,omitempty"`
	Errors  map[string]string `json:"errors,omitempty"`
}

func (s *Server) refuse(w http.ResponseWriter, reason string, code int, a answer) {
	s.mu.Lock()
	s.refused[reason]++
	s.mu.Unlock()
	writeJSON(w, code, a)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP serves the push endpoint and the control surface:
//
//	POST PREFIX{stationId}                       a push
//	GET  /_control/pushes[?station=S]            the accepted pushes
//	POST /_control/mode?mode=M[&for=DURATION]    ok, down, 500, reject, slow
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_control/") {
		s.control(w, r)
		return
	}
	esc, ok := strings.CutPrefix(r.URL.EscapedPath(), s.cfg.Prefix)
	station, err := url.PathUnescape(esc)
	if !ok || err != nil || station == "" || strings.Contains(esc, "/") {
		writeJSON(w, http.StatusNotFound, answer{Message: "not found"})
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	switch s.currentMode() {
	case ModeDown:
		s.mu.Lock()
		s.refused["mode"]++
		s.mu.Unlock()
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case Mode500:
		s.refuse(w, "mode", http.StatusInternalServerError, answer{Message: "internal error"})
		return
	case ModeReject:
		s.refuse(w, "mode", http.StatusOK, answer{Message: "temporarily not accepted"})
		return
	case ModeSlow:
		select {
		case <-time.After(s.cfg.Slow):
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost {
		s.refuse(w, "method", http.StatusMethodNotAllowed, answer{Message: "POST only"})
		return
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" || tok != s.cfg.Token {
		s.refuse(w, "token", http.StatusUnauthorized, answer{Message: "Unauthenticated"})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		s.refuse(w, "body", http.StatusBadRequest, answer{Message: "cannot read body"})
		return
	}
	p, errs := Parse(raw)
	if errs != nil {
		s.refuse(w, "body", http.StatusUnprocessableEntity, answer{Message: "invalid body", Errors: errs})
		return
	}
	p.Station, p.At = station, s.cfg.Now()
	s.mu.Lock()
	s.pushes = append(s.pushes, p)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, answer{Status: true, Success: true})
}

// Parse checks a push body: a JSON object with an integer status of 0, 2, 3,
// 5 or 6, a positive integer time, optionally an integer received_from_cloud
// and a boolean cloud_online, and nothing else. It returns the problems by
// field.
func Parse(raw []byte) (Push, map[string]string) {
	var p Push
	var body map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&body); err != nil || body == nil {
		return p, map[string]string{"body": "must be a JSON object"}
	}
	if dec.More() {
		return p, map[string]string{"body": "trailing data"}
	}
	errs := map[string]string{}
	integer := func(name string, dst *int64) bool {
		v, ok := body[name]
		if !ok {
			return false
		}
		var n json.Number
		if t := bytes.TrimSpace(v); len(t) == 0 || t[0] == '"' {
			errs[name] = "must be an integer"
			return false
		}
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		if d.Decode(&n) != nil {
			errs[name] = "must be an integer"
			return false
		}
		i, err := n.Int64()
		if err != nil {
			errs[name] = "must be an integer"
			return false
		}
		*dst = i
		return true
	}
	var st int64
	if !integer("status", &st) {
		if _, bad := errs["status"]; !bad {
			errs["status"] = "required"
		}
	} else if st != 0 && st != 2 && st != 3 && st != 5 && st != 6 {
		errs["status"] = "must be 0, 2, 3, 5 or 6"
	}
	p.Status = int(st)
	if !integer("time", &p.Time) {
		if _, bad := errs["time"]; !bad {
			errs["time"] = "required"
		}
	} else if p.Time <= 0 {
		errs["time"] = "must be a Unix time"
	}
	var rfc int64
	if integer("received_from_cloud", &rfc) {
		p.ReceivedFromCloud = &rfc
	}
	if v, ok := body["cloud_online"]; ok {
		var b bool
		if json.Unmarshal(v, &b) != nil {
			errs["cloud_online"] = "must be a boolean"
		} else {
			p.CloudOnline = &b
		}
	}
	for k := range body {
		switch k {
		case "status", "time", "received_from_cloud", "cloud_online":
		default:
			errs[k] = "unknown field"
		}
	}
	if len(errs) > 0 {
		return Push{}, errs
	}
	return p, nil
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_control/pushes":
		writeJSON(w, http.StatusOK, s.Pushes(r.URL.Query().Get("station")))
	case r.Method == http.MethodPost && r.URL.Path == "/_control/mode":
		m, err := ParseMode(r.URL.Query().Get("mode"))
		var d time.Duration
		if f := r.URL.Query().Get("for"); f != "" && err == nil {
			d, err = time.ParseDuration(f)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, answer{Message: err.Error()})
			return
		}
		s.SetMode(m, d)
		writeJSON(w, http.StatusOK, map[string]any{"mode": m, "for": d.String()})
	default:
		writeJSON(w, http.StatusNotFound, answer{Message: "not found"})
	}
}
