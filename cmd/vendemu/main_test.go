package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/emulator/fleet"
)

func runArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{&out, &errb})
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		in   string // where the usage goes
	}{
		{"help", []string{"--help"}, 0, "out"},
		{"none", nil, 2, "err"},
		{"unknown", []string{"toaster"}, 2, "err"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runArgs(tt.args...)
			assert.Equal(t, tt.code, code)
			text := out
			if tt.in == "err" {
				text = errs
			}
			assert.Contains(t, text, "vendemu fleet")
			assert.Contains(t, text, "vendemu modem")
		})
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"fleet without secret", []string{"fleet", "--secret", ""}},
		{"bad ramp", []string{"fleet", "--secret", "s", "--ramp", "fast"}},
		{"bad bus", []string{"modem", "--bus", "can"}},
		{"bad imei", []string{"modem", "--imei", "12"}},
		{"stray argument", []string{"modem", "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runArgs(tt.args...)
			assert.Equal(t, 2, code)
			assert.NotEmpty(t, errs)
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  bool
	}{
		{"200/s", 200, false}, {"50", 50, false}, {"120/m", 2, false}, {"0", 0, false},
		{"x/s", 0, true}, {"5/h", 0, true}, {"-1", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRate(tt.in)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.InDelta(t, tt.want, got, 1e-9)
		})
	}
}

func TestProvisionFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.txt")
	code, out, errs := runArgs("fleet", "-n", "4", "--secret", "S", "--imei-base", "86", "--provision-file", path)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "wrote 4")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 4)
	imei, pw, _ := strings.Cut(lines[3], " ")
	assert.Equal(t, "860000000000004", imei)
	assert.Equal(t, fleet.Password("S", imei), pw)
}

func startBroker(t *testing.T) string {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(new(auth.AllowHook), nil))
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	require.NoError(t, srv.AddListener(l))
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })
	return "tcp://" + l.Address()
}

func TestFleetAndModemRun(t *testing.T) {
	broker := startBroker(t)
	t.Run("fleet", func(t *testing.T) {
		code, out, errs := runArgs("fleet", "--broker", broker, "-n", "3", "--secret", "S", "--hb", "100ms",
			"--duration", "1200ms", "--ramp", "0", "--vend-rate", "600")
		require.Equal(t, 0, code, errs)
		assert.Contains(t, out, "modems=3 connected=3")
		assert.Contains(t, errs, "started=3 connected=3", "the progress line")
	})
	t.Run("modem", func(t *testing.T) {
		code, out, errs := runArgs("modem", "--broker", broker, "--imei", "350000000000009", "--password", "p",
			"--hb", "100ms", "--duration", "1200ms")
		require.Equal(t, 0, code, errs)
		assert.Contains(t, out, "epoch=1")
		assert.Contains(t, errs, "connected=true")
	})
}
