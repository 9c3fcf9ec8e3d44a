package main

import (
	"bytes"
	"cmp"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"vendgate/internal/pty"
	"vendgate/mdb"
	"vendgate/mdb/qibixx"
)

func runTool(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	return out.String(), errb.String(), code
}

func TestMDBDecodeStdin(t *testing.T) {
	trace := "12* 12 03 00 64 67* 00\n" +
		"113 000 000 032 000 005 04A 100\n" +
		"VMC 112 012 PER 006 00A 007 004 11B\n" +
		"112 013\n"
	out, errs, code := runTool(t, trace, "mdb", "decode", "-")
	require.Equal(t, 0, code, errs)
	assert.Equal(t, strings.Join([]string{
		"VMC #1 POLL",
		"PER BEGIN SESSION funds=100",
		"VMC ACK",
		"VMC #1 VEND REQUEST price=50 item=5",
		"PER ACK",
		"VMC #1 POLL",
		"PER VEND DENIED + MALFUNCTION/ERROR error=07 + SESSION CANCEL REQUEST",
		"VMC #1 POLL [bad CHK 13, want 12]",
	}, "\n")+"\n", out)
}

func TestMDBDecodeVectorFile(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "testdata", "mdb", "senvend-cashless-l3-init-and-vend.txt")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("MDB vectors not available (%v)", err)
	}
	out, errs, code := runTool(t, "", "mdb", "decode", path)
	require.Equal(t, 0, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 15)
	assert.Equal(t, "PER READER CONFIG level=3 country=1978 scale=5 decimals=2 max_response=200s misc=09", lines[2])
	assert.Equal(t, "VMC #1 VEND REQUEST price=60 item=11", lines[12])
	assert.Equal(t, "PER VEND APPROVED amount=60", lines[13])
}

func TestMDBDecodeErrors(t *testing.T) {
	_, errs, code := runTool(t, "12* zz\n", "mdb", "decode")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "-:1:")
	_, _, code = runTool(t, "", "mdb")
	assert.Equal(t, 2, code)
	_, _, code = runTool(t, "", "mdb", "frobnicate")
	assert.Equal(t, 2, code)
	_, errs, code = runTool(t, "", "mdb", "decode", "/nonexistent")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "no such file")
	_, errs, code = runTool(t, "", "mdb", "cashless")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "--port")
}

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
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

// sniffLines is a made-up sniffer capture in the format of the Qibixx
// api-sniff page: init, a vend request and its approval, with one slave
// answer that reaches the host before the master block it answers.
var sniffLines = []string{
	"x,ACK",
	"x,00,0000100000,10,",
	"x,80,0000100058,ACK",
	"x,80,0000101060,00", // arrives before the POLL it answers
	"x,00,0000101000,12,",
	"x,00,0000101085,ACK",
	"x,00,0000102000,11,0003000000",
	"x,80,0000102110,0103197801020a00",
	"x,00,0000102140,ACK",
	"x,00,0000103000,13,0000320005",
	"x,80,0000103050,ACK",
	"x,00,0000104000,12,",
	"x,80,0000104070,050032",
	"x,00,0000104095,ACK",
	"x,01,0000105000,12,",
}

func TestMDBMonitorQibixxPTY(t *testing.T) {
	m, path, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer m.Close()
	hold, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	defer hold.Close()
	require.NoError(t, pty.MakeRaw(hold))

	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"mdb", "monitor", "--port", path, "--link", "qibixx"}, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	}()
	// The fake adapter waits for the sniffer to be switched on.
	require.NoError(t, m.SetReadDeadline(time.Now().Add(5*time.Second)))
	lr := qibixx.NewLineReader(m, 0)
	first, err := lr.ReadLine()
	require.NoError(t, err)
	require.Equal(t, "X,1", first)
	_, err = m.Write([]byte(strings.Join(sniffLines, "\n") + "\n"))
	require.NoError(t, err)

	want := []string{
		"10.0000 VMC #1 RESET",
		"10.0058 PER ACK",
		"10.1000 VMC #1 POLL",
		"10.1060 PER JUST RESET",
		"10.1085 VMC ACK",
		"10.2000 VMC #1 SETUP CONFIG vmc_level=3 columns=0 rows=0 display_type=0",
		"10.2110 PER READER CONFIG level=3 country=1978 scale=1 decimals=2 max_response=10s misc=00",
		"10.2140 VMC ACK",
		"10.3000 VMC #1 VEND REQUEST price=50 item=5",
		"10.3050 PER ACK",
		"10.4000 VMC #1 POLL",
		"10.4070 PER VEND APPROVED amount=50",
		"10.4095 VMC ACK",
		"10.5000 VMC #1 POLL [qibixx: sniffer bus error 01]",
	}
	require.Eventually(t, func() bool { return strings.Count(out.String(), "\n") >= len(want) }, 5*time.Second, 10*time.Millisecond,
		"monitor printed %q, stderr %q", out.String(), errb.String())
	m.Close() // hang up: the monitor ends
	select {
	case code := <-done:
		assert.Equal(t, 1, code, "a hang-up is a read error")
		assert.Contains(t, errb.String(), "vendtool mdb monitor: serialport: ")
	case <-time.After(5 * time.Second):
		t.Fatal("monitor did not end after the adapter hung up")
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Equal(t, want, got)

	// The names are exactly what "mdb decode" prints for the same frames,
	// in time order, as 9-bit words.
	var sniffs []qibixx.Sniff
	for _, l := range sniffLines[1:] {
		msg, err := qibixx.Parse(l)
		require.NoError(t, err)
		sniffs = append(sniffs, msg.(qibixx.Sniff))
	}
	slices.SortStableFunc(sniffs, func(a, b qibixx.Sniff) int { return cmp.Compare(a.Time, b.Time) })
	var trace strings.Builder
	for _, s := range sniffs {
		trace.WriteString(mdb.FormatWords(s.Frame().Encode(nil)) + "\n")
	}
	dec, errs, code := runTool(t, trace.String(), "mdb", "decode", "-")
	require.Equal(t, 0, code, errs)
	decoded := strings.Split(strings.TrimSpace(dec), "\n")
	require.Len(t, decoded, len(want))
	for i, w := range want {
		name := strings.SplitN(w, " ", 2)[1]
		name = strings.TrimSuffix(name, " [qibixx: sniffer bus error 01]")
		assert.Equal(t, name, decoded[i], "line %d", i)
	}
}

func TestMDBCashlessQibixxPTY(t *testing.T) {
	m, path, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer m.Close()
	hold, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	defer hold.Close()
	require.NoError(t, pty.MakeRaw(hold))

	stdin, typing := io.Pipe()
	defer typing.Close()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"mdb", "cashless", "--port", path, "--link", "qibixx"}, env{stdin: stdin, stdout: &out, stderr: &errb})
	}()
	require.NoError(t, m.SetReadDeadline(time.Now().Add(5*time.Second)))
	lr := qibixx.NewLineReader(m, 0)
	expectHost := func(want string) {
		t.Helper()
		got, err := lr.ReadLine()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	adapter := func(lines ...string) {
		_, err := m.Write([]byte(strings.Join(lines, "\n") + "\n"))
		require.NoError(t, err)
	}
	printed := func(s string) {
		t.Helper()
		require.Eventually(t, func() bool { return strings.Contains(out.String(), s) }, 5*time.Second, 5*time.Millisecond,
			"want %q in %q (stderr %q)", s, out.String(), errb.String())
	}
	expectHost("C,1")
	adapter("c,STATUS,INACTIVE", "c,STATUS,ENABLED", "c,STATUS,VEND,1.00,2")
	printed("vend request item=2 price=1.00")
	_, _ = typing.Write([]byte("approve\n"))
	expectHost("C,VEND,1.00")
	adapter("c,VEND,SUCCESS", "c,STATUS,IDLE", "c,STATUS,ENABLED")
	printed("vend-success item=2 price=1.00")
	_, _ = typing.Write([]byte("deny\n"))
	printed("error: qibixx: command not allowed in this state: no vend request to deny")
	_, _ = typing.Write([]byte("quit\n"))
	expectHost("C,0")
	select {
	case code := <-done:
		assert.Equal(t, 0, code, errb.String())
	case <-time.After(5 * time.Second):
		t.Fatal("cashless did not end on quit")
	}
	assert.Contains(t, out.String(), "state ENABLED")
}
