package executive

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vectorFile finds ../shared/testdata/mdb/<name> relative to the repository
// root (the directory holding go.mod), skipping when the shared data is absent.
func vectorFile(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root (go.mod) not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "testdata", "mdb", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("Executive vectors not available at %s (shared test data absent): %v", p, err)
	}
	return p
}

// meaning names a decoded reply the way SOFTJOURN's enums do.
func meaning(r Reply) string {
	switch r := r.(type) {
	case PNAK:
		return "PNAK"
	case Status:
		switch {
		case r.Inhibited:
			return "INHIBITED"
		case r.FreeVend:
			return "FREEVEND"
		}
		return "ACK"
	case CreditReply:
		if r.Requested {
			return "VEND_REQUESTED"
		}
		return "NO_VEND_REQUEST"
	case VendResult:
		if r.OK() {
			return "SUCCESS"
		}
		return "ERROR"
	}
	return "?"
}

var (
	vectorLine = regexp.MustCompile(`^([0-9A-F]{2})?\s*(\([A-Z ]+\))?\s*\|\s*([0-9A-F]{2}|\(no reply\))?\s*\|\s*(.*)$`)
	firstName  = regexp.MustCompile(`[A-Z][A-Z_]{2,}`)
)

// TestSoftjournVectors checks every master→VMC vector of
// executive-softjourn-vectors.txt: the command byte is the opcode, and the
// decoded reply means what the vector's interpretation column says.
func TestSoftjournVectors(t *testing.T) {
	f, err := os.Open(vectorFile(t, "executive-softjourn-vectors.txt"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var op Opcode
	n := 0
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		m := vectorLine.FindStringSubmatch(text)
		require.NotNil(t, m, "line %d: %q", line, text)
		if m[1] != "" {
			v, err := strconv.ParseUint(m[1], 16, 8)
			require.NoError(t, err)
			op = Opcode(v)
		}
		if m[3] == "" {
			continue // continuation of the interpretation column
		}
		want := firstName.FindString(m[4])
		t.Run(strconv.Itoa(line)+"_"+op.String()+"_"+m[3], func(t *testing.T) {
			require.True(t, op.Known(), "opcode %02X", byte(op))
			if name := strings.Trim(m[2], "()"); name != "" {
				assert.Equal(t, name, op.String())
			}
			assert.Equal(t, []Word{Word(op) | NinthBit}, Command{Op: op}.AppendWords(nil, FramingModeBit))
			if m[3] == "(no reply)" {
				// The master waits for the VEND answer without resending,
				// "at least 60 seconds".
				require.Equal(t, OpVend, op)
				assert.GreaterOrEqual(t, DefaultVendTimeout.Seconds(), 60.0)
				return
			}
			b, err := strconv.ParseUint(m[3], 16, 8)
			require.NoError(t, err)
			r, err := DecodeReply(op, byte(b))
			require.NoError(t, err)
			assert.Equal(t, want, meaning(r), "interpretation %q", m[4])
			assert.Equal(t, byte(b), r.Byte())
			if s, ok := r.(Status); ok && strings.Contains(m[4], "audit") {
				assert.Equal(t, byte(b)&0x0F, s.Audit, "low nibble is audit data")
			}
			if c, ok := r.(CreditReply); ok && c.Requested {
				assert.Equal(t, byte(b), c.Value, "the value is the requested price / price line")
			}
		})
		n++
	}
	require.NoError(t, sc.Err())
	assert.GreaterOrEqual(t, n, 12, "every vector line was parsed")
}
