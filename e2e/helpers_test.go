// Package e2e runs the gateway and emulated modems together over loopback,
// the way real devices and operators reach it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"vendgate/gateway"
)

const adminPassword = "e2e-admin-password"

// gw is a gateway running for one test.
type gw struct {
	*gateway.Gateway
	cancel context.CancelFunc
	done   chan error
	base   string
	token  string
}

func logger(t testing.TB) *slog.Logger {
	if os.Getenv("E2E_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// Warnings and errors are kept and shown when the test fails: a failure
	// seen once in CI then says what the gateway complained about.
	kept := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			if s := kept.String(); s != "" {
				t.Logf("gateway warnings and errors:\n%s", s)
			}
		}
	})
	return slog.New(slog.NewTextHandler(kept, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// lockedBuffer is a bytes.Buffer for concurrent loggers, bounded to its
// first 64 KB.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startGateway runs a gateway on dataDir; mqtt may be "127.0.0.1:0" or a fixed
// address from an earlier run.
func startGateway(t testing.TB, dataDir, mqtt string, tune func(*gateway.Config)) *gw {
	t.Helper()
	cfg := gateway.Config{MQTTListen: mqtt, HTTPListen: "127.0.0.1:0", DataDir: dataDir, AdminPassword: adminPassword,
		DefaultHeartbeat: gateway.Duration(time.Second)}
	if tune != nil {
		tune(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, logger(t))
	if err != nil {
		cancel()
		t.Fatalf("gateway.New: %v", err)
	}
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, func() { close(started) }) }()
	select {
	case <-started:
	case err := <-done:
		cancel()
		t.Fatalf("gateway.Run: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("gateway did not start")
	}
	w := &gw{Gateway: g, cancel: cancel, done: done, base: "http://" + g.HTTPAddr().String()}
	w.token = w.login(t)
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (g *gw) stop(t testing.TB) {
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case err := <-g.done:
		if err != nil {
			t.Errorf("gateway.Run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("gateway did not stop within 15s")
	}
}

func (g *gw) login(t testing.TB) string {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	code := g.call(t, "POST", "/auth/", "", map[string]string{"grant_type": "password", "username": "admin@vendgate.local", "password": adminPassword}, &tok)
	if code != 200 || tok.AccessToken == "" {
		t.Fatalf("login: status %d", code)
	}
	return tok.AccessToken
}

// call does one REST request and decodes the JSON answer into out (if not nil).
func (g *gw) call(t testing.TB, method, path, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: status %d, body %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// api does an authenticated call that must answer want.
func (g *gw) api(t testing.TB, method, path string, body any, want int, out any) {
	t.Helper()
	if code := g.call(t, method, path, g.token, body, out); code != want {
		t.Fatalf("%s %s: status %d, want %d", method, path, code, want)
	}
}

// metric returns the sum of the samples of a metric whose labels contain all of want.
func (g *gw) metric(t testing.TB, name string, want ...string) float64 {
	t.Helper()
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(rest, w) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		var v float64
		f := strings.Fields(line)
		fmt.Sscanf(f[len(f)-1], "%g", &v)
		sum += v
	}
	return sum
}

// eventually polls cond until it is true or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
