package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
