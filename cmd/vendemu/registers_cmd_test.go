package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuf is a bytes.Buffer safe for the subcommand and the test to share.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitLine(t *testing.T, b *syncBuf) string {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s := b.String(); strings.Contains(s, "\n") {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no output")
	return ""
}

func TestUKM5Command(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"ukm5", "--n", "3", "--listen", "127.0.0.1:0", "--fault", "401", "--fault-count", "1"}, env{&out, &errb})
	}()
	sc := bufio.NewScanner(strings.NewReader(waitLine(t, &out)))
	require.True(t, sc.Scan())
	var first struct {
		N   int    `json:"n"`
		URL string `json:"url"`
	}
	require.NoError(t, json.Unmarshal(sc.Bytes(), &first))
	time.Sleep(50 * time.Millisecond) // all three lines written
	require.Equal(t, 3, strings.Count(out.String(), "\n"))
	resp, err := http.Get(first.URL + "/api/v1/status/paper")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "register 0 has the fault")
	second := strings.Replace(first.URL, "/r/0", "/r/1", 1)
	resp, err = http.Get(second + "/api/v1/status/ofd")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "0", string(body))
	cancel()
	assert.Equal(t, 0, <-done)
	assert.Equal(t, 2, run(context.Background(), []string{"ukm5", "--fault", "bogus"}, env{io.Discard, io.Discard}))
	assert.Equal(t, 2, run(context.Background(), []string{"ukm5", "--per-port"}, env{io.Discard, io.Discard}))
}

func TestPetrosoftCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"petrosoft", "--listen", "127.0.0.1:0", "--token", "t0k"}, env{&out, &errb})
	}()
	u := strings.Replace(strings.TrimSpace(waitLine(t, &out)), "{stationId}", "st-1", 1)
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(`{"status":0,"time":1714554000}`))
	req.Header.Set("Authorization", "Bearer t0k")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.JSONEq(t, `{"status":true,"success":true}`, string(body))
	cancel()
	assert.Equal(t, 0, <-done)
	assert.Contains(t, errb.String(), "1 pushes accepted")
	assert.Equal(t, 2, run(context.Background(), []string{"petrosoft"}, env{io.Discard, io.Discard}), "token required")
}
