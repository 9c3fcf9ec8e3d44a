package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vendgate/emulator/fleet"
)

// restLoad is one rest-load run.
type restLoad struct {
	api, token string
	auth       string      // "Bearer " + token
	lean       *leanClient // plain http: the lean client (see httplean.go); nil: net/http
	hc         *http.Client
	poll       time.Duration
	pollMax    time.Duration
	longPoll   bool
	timeout    time.Duration
	// posts, with --once and every command outstanding at once: each command
	// waits for all POSTs to be answered before it polls, so long polls that
	// hold the --max-conns connections cannot delay the submission of the
	// rest (a storm's commands are then all queued right after the restart).
	posts    *sync.WaitGroup
	postedAt atomic.Int64 // with posts: ns after start when the last POST was answered
	start    time.Time

	mu     sync.Mutex
	rtts   []time.Duration
	errs   map[string]uint64
	states map[string]uint64
	done   atomic.Int64
}

func (l *restLoad) note(kind string) {
	l.mu.Lock()
	l.errs[kind]++
	l.mu.Unlock()
}

func runRESTLoad(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("rest-load", flag.ContinueOnError)
	api := fs.String("api", "http://127.0.0.1:8080", "gateway REST base URL")
	user := fs.String("user", "admin@vendgate.local", "operator e-mail")
	password := fs.String("password", "", "operator password (required)")
	rate := fs.Float64("rate", 100, "commands per second (open loop)")
	duration := fs.Duration("duration", 10*time.Second, "how long to submit commands (required > 0; at most 1h)")
	modems := fs.Int("modems", 0, "use the first N modems of GET /v2/modems (0 = all)")
	poll := fs.Duration("poll", 2*time.Millisecond, "GET /v2/commands/{id} interval for the first 25 ms; then it grows (a quarter of the time waited) up to --poll-max (bounded polling load)")
	pollMax := fs.Duration("poll-max", 100*time.Millisecond, "longest GET /v2/commands/{id} interval (raise it with many commands outstanding, e.g. a storm's)")
	longPoll := fs.Bool("long-poll", true, "wait for each command with GET /v2/commands/{id}?wait=2 (answered when it ends); false: poll as --poll/--poll-max say")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on one command after this long")
	conc := fs.Int("concurrency", 256, "commands outstanding at most")
	maxConns := fs.Int("max-conns", 256, "HTTP connections to the gateway at most (each is a file descriptor of the gateway's: keep modems + this under its open-file limit)")
	once := fs.Bool("once", false, "submit one command to each modem as fast as possible, then wait for all (reconnect storms)")
	if code, ok := parse(fs, args, e); !ok {
		return code
	}
	if *password == "" || *rate <= 0 || *duration <= 0 || *duration > time.Hour || *conc < 1 || *maxConns < 1 || *poll <= 0 || *pollMax < *poll {
		fmt.Fprintln(e.stderr, "vendemu rest-load: --password is required; --rate, --duration (<= 1h), --concurrency, --max-conns and --poll must be positive")
		return 2
	}
	l := &restLoad{api: strings.TrimRight(*api, "/"), poll: *poll, pollMax: *pollMax, longPoll: *longPoll, timeout: *timeout,
		errs: map[string]uint64{}, states: map[string]uint64{},
		// No Client.Timeout: it costs a timer and a context per request; each
		// command has one deadline for its POST and GETs instead (see one).
		// The gateway does not compress, so do not ask (no gzip reader per body).
		hc: &http.Client{Transport: &http.Transport{MaxConnsPerHost: *maxConns,
			MaxIdleConns: *maxConns, MaxIdleConnsPerHost: *maxConns, IdleConnTimeout: time.Minute, DisableCompression: true}}}
	l.lean = newLeanClient(l.api, *maxConns)
	setupCtx, cancelSetup := context.WithTimeout(ctx, 30*time.Second)
	defer cancelSetup()
	tok, err := l.login(setupCtx, *user, *password)
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu rest-load:", err)
		return 1
	}
	l.token, l.auth = tok, "Bearer "+tok
	ids, err := l.modemIDs(setupCtx)
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu rest-load:", err)
		return 1
	}
	if *modems > 0 && *modems < len(ids) {
		ids = ids[:*modems]
	}
	if len(ids) == 0 {
		fmt.Fprintln(e.stderr, "vendemu rest-load: the gateway has no modems")
		return 1
	}
	paths := make([]string, len(ids)) // built once, not per command
	for i, id := range ids {
		paths[i] = "/v2/modems/" + strconv.FormatInt(id, 10) + "/set"
	}
	sem := make(chan struct{}, *conc)
	var wg sync.WaitGroup
	start := time.Now()
	l.start = start
	if *once && *conc >= len(ids) {
		l.posts = new(sync.WaitGroup)
		l.posts.Add(len(ids))
	}
	var submitted atomic.Int64 // read by the progress goroutine
	var skipped int
	launch := func(i int, wait bool) {
		if wait {
			sem <- struct{}{}
		} else {
			select {
			case sem <- struct{}{}:
			default:
				// Open loop: when --concurrency commands are outstanding the
				// gateway is not keeping up; count it rather than slow down.
				skipped++
				return
			}
		}
		submitted.Add(1)
		url := paths[i%len(ids)]
		mode := (i / len(ids)) % 2 // alternate cashless_mode per modem
		wg.Go(func() {
			defer func() { <-sem }()
			l.one(ctx, url, mode)
		})
	}
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				fmt.Fprintf(e.stderr, "t=%s submitted=%d done=%d outstanding=%d\n",
					time.Since(start).Truncate(time.Second), submitted.Load(), l.done.Load(), len(sem))
			}
		}
	}()
	if *once {
		launched := 0
		for i := range ids {
			if ctx.Err() != nil {
				break
			}
			launch(i, true)
			launched++
		}
		if l.posts != nil {
			for range len(ids) - launched { // interrupted: release the launched ones
				l.posts.Done()
			}
		}
	} else {
		interval := time.Duration(float64(time.Second) / *rate)
		end := start.Add(*duration)
		for i := 0; ctx.Err() == nil; i++ {
			due := start.Add(time.Duration(i) * interval)
			if !due.Before(end) {
				break
			}
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			launch(i, false)
		}
	}
	submitEnd := time.Since(start)
	wg.Wait()
	close(stopProgress)
	total := time.Since(start)

	p := fleet.PercentilesOf(l.rtts)
	n := int(submitted.Load())
	fmt.Fprintf(e.stdout, "commands submitted=%d in %s (%.0f/s) skipped_overload=%d all finished after %s\n", n,
		submitEnd.Round(time.Millisecond), float64(n)/submitEnd.Seconds(), skipped, total.Round(time.Millisecond))
	if l.posts != nil {
		fmt.Fprintf(e.stdout, "all POSTs answered (commands stored) after %s\n", time.Duration(l.postedAt.Load()).Round(time.Millisecond))
	}
	fmt.Fprintf(e.stdout, "succeeded round trip (POST to succeeded visible) %s\n", p)
	fmt.Fprintf(e.stdout, "final states %s\n", formatCounts(l.states))
	fmt.Fprintf(e.stdout, "errors %s\n", formatCounts(l.errs))
	if p.Count != n || skipped > 0 {
		return 1
	}
	return 0
}

func formatCounts(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func (l *restLoad) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		raw = b
	}
	return l.doRaw(ctx, method, path, raw, out)
}

// Request bodies of POST /v2/modems/{id}/set, encoded once.
var cashlessModeBody = [2][]byte{[]byte(`{"cashless_mode":0}`), []byte(`{"cashless_mode":1}`)}

// doRaw sends body (nil: none) to path (below --api) and decodes a 2xx JSON
// answer into out.
func (l *restLoad) doRaw(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	bp := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(bp)
	bp.Reset()
	var code int
	var err error
	if l.lean != nil {
		code, err = l.lean.do(ctx, method, path, l.auth, body, bp)
	} else {
		code, err = l.doStd(ctx, method, l.api+path, body, bp)
	}
	if err != nil {
		return code, err
	}
	if out != nil && code/100 == 2 {
		if fastDecode(bp.Bytes(), out) {
			return code, nil
		}
		if err := json.Unmarshal(bp.Bytes(), out); err != nil {
			return code, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return code, nil
}

// setAnswer and commandAnswer are what rest-load reads of the gateway's
// answers to POST /v2/modems/{id}/set and GET /v2/commands/{id}.
type (
	setAnswer struct {
		Res      bool     `json:"res"`
		Commands []string `json:"commands"`
	}
	commandAnswer struct {
		State string `json:"state"`
	}
)

// fastDecode fills a *setAnswer or *commandAnswer with the scanners of
// jsonscan.go; false: use encoding/json.
func fastDecode(b []byte, out any) bool {
	switch v := out.(type) {
	case *commandAnswer:
		raw, ok := topField(b, "state")
		if !ok {
			return false
		}
		v.State, ok = plainStringValue(raw)
		return ok
	case *setAnswer:
		raw, ok := topField(b, "commands")
		if !ok {
			return false
		}
		cmds, ok := plainStringArray(raw)
		if !ok {
			return false
		}
		res, _ := topField(b, "res")
		switch string(res) {
		case "", "null", "false":
			v.Commands, v.Res = cmds, false
		case "true":
			v.Commands, v.Res = cmds, true
		default:
			return false
		}
		return true
	}
	return false
}

// doStd is doRaw's transport through net/http (for https:// gateways).
func (l *restLoad) doStd(ctx context.Context, method, url string, body []byte, bp *bytes.Buffer) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header["Content-Type"] = jsonContentType
	}
	if l.auth != "" {
		req.Header["Authorization"] = []string{l.auth}
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = bp.ReadFrom(resp.Body)
	return resp.StatusCode, err
}

var (
	jsonContentType = []string{"application/json"}
	bodyPool        = sync.Pool{New: func() any { return new(bytes.Buffer) }} // response bodies: read, decoded, dropped
)

func (l *restLoad) login(ctx context.Context, user, password string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	code, err := l.do(ctx, "POST", "/auth/", map[string]string{"grant_type": "password", "username": user, "password": password}, &tok)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK || tok.AccessToken == "" {
		return "", fmt.Errorf("login: status %d", code)
	}
	return tok.AccessToken, nil
}

func (l *restLoad) modemIDs(ctx context.Context) ([]int64, error) {
	var ms []struct {
		ID int64 `json:"id"`
	}
	code, err := l.do(ctx, "GET", "/v2/modems", nil, &ms)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /v2/modems: status %d", code)
	}
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids, nil
}

// one submits a command to setURL (POST /v2/modems/{id}/set) and polls until it
// is terminal.
func (l *restLoad) one(ctx context.Context, setURL string, mode int) {
	defer l.done.Add(1)
	t0 := time.Now()
	// One deadline for all of the command's requests (instead of a client
	// timeout per request): --timeout, plus room for the last long poll.
	ctx, cancel := context.WithDeadline(ctx, t0.Add(l.timeout+requestGrace))
	defer cancel()
	var res setAnswer
	code, err := l.doRaw(ctx, "POST", setURL, cashlessModeBody[mode], &res)
	if l.posts != nil {
		l.posts.Done()
		l.posts.Wait()
		l.postedAt.CompareAndSwap(0, int64(time.Since(l.start)))
	}
	switch {
	case err != nil:
		l.note(httpErrKind("post", err))
		return
	case code != http.StatusOK || len(res.Commands) != 1:
		l.note(fmt.Sprintf("post_status_%d", code))
		return
	}
	id := res.Commands[0]
	deadline := t0.Add(l.timeout)
	url := "/v2/commands/" + id
	if l.longPoll {
		// Short waits: with more commands outstanding than --max-conns,
		// the other requests queue for a connection meanwhile.
		url += "?wait=2"
	}
	for {
		var c commandAnswer
		code, err := l.doRaw(ctx, "GET", url, nil, &c)
		if err != nil {
			l.note(httpErrKind("get", err))
		} else if code != http.StatusOK {
			l.note(fmt.Sprintf("get_status_%d", code))
		}
		switch c.State {
		case "succeeded":
			d := time.Since(t0)
			l.mu.Lock()
			l.rtts = append(l.rtts, d)
			l.states[c.State]++
			l.mu.Unlock()
			return
		case "failed", "rejected", "expired", "timed_out":
			l.mu.Lock()
			l.states[c.State]++
			l.mu.Unlock()
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			l.mu.Lock()
			l.states["gave_up_"+c.State]++
			l.mu.Unlock()
			return
		}
		if l.longPoll && err == nil && code == http.StatusOK {
			continue // the gateway waited already
		}
		wait := l.poll
		if since := time.Since(t0); since > 25*time.Millisecond {
			wait = min(l.pollMax, max(l.poll, since/4))
		}
		time.Sleep(wait)
	}
}

// requestGrace lets the long poll in flight when --timeout passes finish (the
// gateway answers ?wait=2 within 2 s), as a per-request client timeout did.
const requestGrace = 5 * time.Second

func httpErrKind(stage string, err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return stage + "_canceled"
	case errors.Is(err, context.DeadlineExceeded): // the command's deadline (see one)
		return stage + "_timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return stage + "_refused"
	case strings.Contains(err.Error(), "Timeout"), strings.Contains(err.Error(), "timeout"):
		return stage + "_timeout"
	}
	return stage + "_other"
}
