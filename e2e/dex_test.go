package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/internal/pty"
)

// TestDEXReadFromEmulatedVM runs the two command-line tools as a technician
// would: "vendemu vm --port pty" plays a vending machine on a
// pseudo-terminal and "vendtool dex read" reads it through the slave side,
// each as its own process, over a real tty.
func TestDEXReadFromEmulatedVM(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH: cannot build vendemu and vendtool")
	}
	if m, _, err := pty.Open(); err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	} else {
		m.Close()
	}
	bin := buildTools(t, goTool, "vendemu", "vendtool")

	t.Run("read as JSON", func(t *testing.T) {
		path := startVM(t, bin, "--serial", "E2EVM0001", "--selections", "12", "--seed", "4")
		res := vendtool(t, bin, "dex", "read", "--port", path, "--json", "--quiet")
		require.Equal(t, 0, res.code, res.stderr)
		var doc struct {
			Machine struct {
				Serial string `json:"serial"`
			} `json:"machine"`
			Products   []json.RawMessage `json:"products"`
			Validation struct {
				Check string `json:"check"`
				Count string `json:"count"`
			} `json:"validation"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc), res.stdout)
		assert.Equal(t, "E2EVM0001", doc.Machine.Serial)
		assert.Equal(t, "ok", doc.Validation.Check)
		assert.Equal(t, "ok", doc.Validation.Count)
		assert.Len(t, doc.Products, 12)
	})

	t.Run("successive reads see new vends", func(t *testing.T) {
		// 6000 vends a minute: one every 10 ms, and a DEX read at the
		// spec's pace takes far longer, so the second audit has more.
		path := startVM(t, bin, "--serial", "E2EVM0002", "--vend-rate", "6000")
		paid := func() int64 {
			res := vendtool(t, bin, "dex", "read", "--port", path, "--json", "--quiet")
			require.Equal(t, 0, res.code, res.stderr)
			var doc struct {
				Meters struct {
					Paid struct {
						CountInit int64 `json:"count_init"`
					} `json:"paid"`
				} `json:"meters"`
			}
			require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc))
			return doc.Meters.Paid.CountInit
		}
		first := paid()
		assert.Greater(t, paid(), first)
	})

	t.Run("corrupt blocks are retransmitted", func(t *testing.T) {
		path := startVM(t, bin, "--serial", "E2EVM0003", "--selections", "30", "--corrupt-every", "2")
		res := vendtool(t, bin, "dex", "read", "--port", path, "--json", "--quiet")
		require.Equal(t, 0, res.code, res.stderr)
		assert.Contains(t, res.stdout, `"check": "ok"`)
		assert.Contains(t, res.stdout, `"serial": "E2EVM0003"`)
	})

	t.Run("silent machine ends the read in bounded time", func(t *testing.T) {
		path := startVM(t, bin, "--serial", "E2EVM0004", "--selections", "30", "--silent-after-blocks", "1")
		start := time.Now()
		res := vendtool(t, bin, "dex", "read", "--port", path, "--quiet", "--timer-d", "500ms")
		elapsed := time.Since(start)
		assert.NotEqual(t, 0, res.code)
		assert.Contains(t, res.stderr, "stopped answering")
		assert.Contains(t, res.stderr, "incomplete")
		assert.Empty(t, res.stdout, "no partial audit on stdout")
		assert.Less(t, elapsed, 5*time.Second)
	})
}

// buildTools builds the named commands of this module into a temporary
// directory (the build cache makes this quick after the first time).
func buildTools(t *testing.T, goTool string, names ...string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	for _, n := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", filepath.Join(dir, n), "./cmd/"+n)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		cancel()
		require.NoError(t, err, "go build %s: %s", n, out)
	}
	return dir
}

// syncBuffer collects a subprocess's stderr while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startVM starts "vendemu vm --port pty ARGS" and returns the pty path it
// prints; the process is stopped (SIGTERM, then SIGKILL) at cleanup.
func startVM(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "vendemu"), append([]string{"vm", "--port", "pty"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("vendemu vm ignored SIGTERM")
		}
		if t.Failed() {
			t.Logf("vendemu vm stderr:\n%s", stderr.String())
		}
	})

	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = r.WriteTo(discard{}) // keep draining until the process exits
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case line := <-lines:
		path := strings.TrimSpace(line)
		require.True(t, strings.HasPrefix(path, "/dev/pts/"), "vendemu vm printed %q; stderr: %s", line, stderr.String())
		return path
	case <-time.After(30 * time.Second):
		t.Fatalf("vendemu vm printed no pty path; stderr: %s", stderr.String())
	}
	return ""
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type result struct {
	code           int
	stdout, stderr string
}

// vendtool runs vendtool to completion (at most 30 s).
func vendtool(t *testing.T, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "vendtool"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("vendtool %v: %v", args, err)
	}
	require.NoError(t, ctx.Err(), "vendtool %v did not finish", args)
	return res
}
