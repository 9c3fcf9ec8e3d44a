package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRESTLoadRun drives rest-load against a fake API whose answers vary the
// HTTP framing the lean client must read: chunked bodies, Connection: close,
// and a first GET that finds the command still "sent" (rest-load asks again).
func TestRESTLoadRun(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var n int
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"access_token":"tok"}`)
	})
	mux.HandleFunc("GET /v2/modems", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `[{"id":1},{"id":2},{"id":3}]`)
	})
	mux.HandleFunc("POST /v2/modems/{id}/set", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]int
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body) != 1 || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		n++
		id := r.PathValue("id") + "-" + strings.Repeat("x", n%3) + "c" + string(rune('a'+n%26)) + "-" + strings.Repeat("y", n)
		mu.Unlock()
		_, _ = io.WriteString(w, `{"commands":["`+id+`"],"res":true}`)
	})
	mux.HandleFunc("GET /v2/commands/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("wait") != "2" {
			http.Error(w, "no long poll", http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[r.PathValue("id")]++
		k := seen[r.PathValue("id")]
		mu.Unlock()
		state := "succeeded"
		if k == 1 {
			state = "sent"
			w.Header().Set("Connection", "close")
		}
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`","args":{"enabled":true},`)
		w.(http.Flusher).Flush() // forces a chunked body
		_, _ = io.WriteString(w, `"state":"`+state+`","message":null}`)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/auth/" && r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()

	var out, errOut bytes.Buffer
	code := runRESTLoad(context.Background(), []string{"--api", srv.URL, "--password", "x", "--rate", "100",
		"--duration", "200ms", "--max-conns", "4"}, env{stdout: &out, stderr: &errOut})
	require.Equal(t, 0, code, out.String()+errOut.String())
	assert.Contains(t, out.String(), "commands submitted=20 ")
	assert.Contains(t, out.String(), "final states succeeded=20\n")
	assert.Contains(t, out.String(), "errors none\n")
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, seen, 20)
	for id, k := range seen {
		assert.Equal(t, 2, k, id)
	}
}

func TestNewLeanClient(t *testing.T) {
	tests := []struct {
		base string
		addr string // "" = nil client (net/http is used)
	}{
		{"http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://gw.local/", "gw.local:80"},
		{"https://gw.local", ""},
		{"http://gw.local/prefix", ""},
		{"http://u:p@gw.local", ""},
		{"::bad", ""},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			c := newLeanClient(tt.base, 4)
			if tt.addr == "" {
				assert.Nil(t, c)
				return
			}
			require.NotNil(t, c)
			assert.Equal(t, tt.addr, c.addr)
		})
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code int
		keep bool
		body string
		ok   bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, true, "{}", true},
		{"chunked with extension and trailer", "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n2;x=1\r\n{\"\r\n3\r\na\"}\r\n0\r\nT: 1\r\n\r\n", 201, true, `{"a"}`, true},
		{"close delimited", "HTTP/1.1 200 OK\r\n\r\nabc", 200, false, "abc", true},
		{"connection close", "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 404, false, "x", true},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, false, "x", true},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 204, true, "", true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 200, false, "ab", false},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", 0, false, "", false},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 200, false, "", false},
		{"gzip encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 200, false, "", false},
		{"not http", "SSH-2.0-x\r\n", 0, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code, keep, _, err := readResponse(bufio.NewReader(strings.NewReader(tt.in)), &out)
			if !tt.ok {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.keep, keep)
			assert.Equal(t, tt.body, out.String())
		})
	}
}

// FuzzReadResponse: any bytes from the peer give an answer or an error, never
// a panic, and never more body than was sent.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 500 x\r\nConnection: keep-alive\r\n\r\nabc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		_, _, _, _ = readResponse(bufio.NewReaderSize(bytes.NewReader(b), 64), &out)
		if out.Len() > len(b) {
			t.Fatalf("body of %d bytes from %d input bytes", out.Len(), len(b))
		}
	})
}

// FuzzFastDecode: whenever the scanners accept an answer, encoding/json
// accepts it too and reads the same values.
func FuzzFastDecode(f *testing.F) {
	f.Add([]byte(`{"commands":["01M8AW9QB4W7WC0VKTGTJS689P"],"res":true}`))
	f.Add([]byte(`{"id":"x","modem_id":1,"vm_id":null,"args":{"enabled":true,"l":[1,-2.5e3,"\""]},"state":"queued","status":null}`))
	f.Add([]byte(` {"state" : "a" , "state":"b"} `))
	f.Fuzz(func(t *testing.T, b []byte) {
		lower := bytes.ToLower(b)
		var c commandAnswer
		if fastDecode(b, &c) && bytes.Count(lower, []byte(`"state"`)) == bytes.Count(b, []byte(`"state"`)) {
			var want commandAnswer
			require.NoError(t, json.Unmarshal(b, &want), "%q", b)
			assert.Equal(t, want, c)
		}
		var s setAnswer
		if fastDecode(b, &s) && bytes.Count(lower, []byte(`"commands"`)) == bytes.Count(b, []byte(`"commands"`)) &&
			bytes.Count(lower, []byte(`"res"`)) == bytes.Count(b, []byte(`"res"`)) {
			var want setAnswer
			require.NoError(t, json.Unmarshal(b, &want), "%q", b)
			assert.Equal(t, want.Commands, s.Commands)
			if !bytes.Contains(b, []byte(`"res"`)) || want.Res {
				assert.Equal(t, want.Res, s.Res)
			}
		}
	})
}

// TestRESTLoadOnceSubmitsAllFirst: with --once and every command outstanding
// at once, no command is polled before all of them are stored, even with
// fewer connections than commands (long polls would otherwise hold the
// connections the remaining POSTs wait for).
func TestRESTLoadOnceSubmitsAllFirst(t *testing.T) {
	const modems = 8
	var mu sync.Mutex
	posts, early := 0, 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"access_token":"tok"}`)
	})
	mux.HandleFunc("GET /v2/modems", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5},{"id":6},{"id":7},{"id":8}]`)
	})
	mux.HandleFunc("POST /v2/modems/{id}/set", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts++
		mu.Unlock()
		_, _ = io.WriteString(w, `{"commands":["c`+r.PathValue("id")+`"],"res":true}`)
	})
	mux.HandleFunc("GET /v2/commands/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if posts < modems {
			early++
		}
		mu.Unlock()
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`","state":"succeeded"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var out, errOut bytes.Buffer
	code := runRESTLoad(context.Background(), []string{"--api", srv.URL, "--password", "x", "--once",
		"--concurrency", "8", "--max-conns", "2"}, env{stdout: &out, stderr: &errOut})
	require.Equal(t, 0, code, out.String()+errOut.String())
	assert.Contains(t, out.String(), "final states succeeded=8\n")
	assert.Contains(t, out.String(), "all POSTs answered")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, modems, posts)
	assert.Zero(t, early, "commands polled before every POST was answered")
}
