package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vendgate/internal/proccpu"
)

// fakeCommandAPI answers the four REST calls rest-load makes like the gateway
// does (same shapes and sizes); every command is "succeeded" at the first GET.
func fakeCommandAPI(tb testing.TB, modems int) (*httptest.Server, *atomic.Int64) {
	var posts, gets atomic.Int64
	mux := http.NewServeMux()
	api := http.Handler(mux)
	mux.HandleFunc("POST /auth/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"access_token":"tok","token_type":"bearer"}`)
	})
	mux.HandleFunc("GET /v2/modems", func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		b.WriteByte('[')
		for i := 1; i <= modems; i++ {
			if i > 1 {
				b.WriteByte(',')
			}
			b.WriteString(`{"id":` + strconv.Itoa(i) + `,"imei":"35000000000000` + strconv.Itoa(i%10) + `"}`)
		}
		b.WriteByte(']')
		_, _ = io.WriteString(w, b.String())
	})
	mux.HandleFunc("POST /v2/modems/{id}/set", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n := posts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"commands":["01M8AW9QB4W7WC0VKT`+strconv.FormatInt(100000000+n, 10)+`"],"res":true}`)
	})
	mux.HandleFunc("GET /v2/commands/{id}", func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`","modem_id":1,"vm_id":null,"name":"cashless_mode","args":{"enabled":true},`+
			`"state":"succeeded","status":"succeeded","code":0,"message":null,"result":null,"attempts":1,"created_at":"2026-11-26T02:52:32+00:00",`+
			`"sent_at":"2026-11-26T02:52:32+00:00","acked_at":"2026-11-26T02:52:32+00:00","done_at":"2026-11-26T02:52:32+00:00","expires_at":"2026-11-27T02:52:32+00:00"}`)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/auth/" && r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		api.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv, &gets
}

// BenchmarkRESTLoad runs rest-load for 1 s per op at 1000 commands/s against an
// in-process fake API. The figure is CPU per command (rest-load + the fake
// server, which net/http makes the larger part); GETs per command shows that
// each command costs one POST and one GET.
func BenchmarkRESTLoad(b *testing.B) {
	srv, gets := fakeCommandAPI(b, 100)
	var cmds int64
	cpu0 := proccpu.Used()
	for range b.N {
		var out strings.Builder
		code := runRESTLoad(context.Background(), []string{"--api", srv.URL, "--password", "x", "--rate", "1000",
			"--duration", "1s", "--modems", "100"}, env{stdout: &out, stderr: io.Discard})
		line := out.String()
		n, _ := strconv.ParseInt(strings.Fields(strings.TrimPrefix(line+" ", "commands submitted="))[0], 10, 64)
		if code == 2 || n == 0 || !strings.Contains(line, "errors none") {
			b.Fatalf("rest-load exit %d: %s", code, line) // exit 1 is an overloaded machine: skipped commands
		}
		cmds += n
	}
	cpu := proccpu.Used() - cpu0
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(cmds), "cpu-µs/cmd")
	b.ReportMetric(float64(gets.Load())/float64(cmds), "gets/cmd")
}
