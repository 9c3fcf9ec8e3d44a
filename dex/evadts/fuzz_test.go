package evadts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func addSeeds(f *testing.F) {
	f.Add([]byte(audit("ID1*S1", "VA1*100*1", "LS*0100", "PA1*1*100", "PA2*1*100", "EA2*ELA*1*1", "LE*0100", "MA5*X*1")), 7)
	f.Add([]byte("junk\nDXS*1\nST*001*0001\nCA2*0*0*"), 3)
	f.Add([]byte("DXS*1\r\n*bad\r\nDXS*2\r\nEA1*EGS*1*2*x\r\nG85*zz\r\nSE*x\r\nG85\r\nDXE\r\n"), 5)
	if names, err := os.ReadDir(sharedDir); err == nil {
		for _, n := range names {
			if b, err := os.ReadFile(filepath.Join(sharedDir, n.Name())); err == nil && n.Name() != "SOURCES.md" {
				f.Add(b, len(b)/2)
			}
		}
	}
}

// chunks returns b as two reads split at cut, so line and CRLF boundaries
// fall across Read calls.
type chunks struct{ parts [][]byte }

func (c *chunks) Read(p []byte) (int, error) {
	for len(c.parts) > 0 && len(c.parts[0]) == 0 {
		c.parts = c.parts[1:]
	}
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts[0] = c.parts[0][n:]
	return n, nil
}

func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		if cut < 0 {
			cut = -cut
		}
		if len(b) > 0 {
			cut %= len(b) + 1
		} else {
			cut = 0
		}
		whole := collect(t, bytes.NewReader(b))
		split := collect(t, &chunks{parts: [][]byte{bytes.Clone(b[:cut]), bytes.Clone(b[cut:])}})
		require.Equal(t, whole, split, "result must not depend on read boundaries")
	})
}

type item struct {
	Seg Segment
	Err string
}

func collect(t *testing.T, r io.Reader) []item {
	rd := NewReader(r)
	var out []item
	for i := 0; ; i++ {
		require.Less(t, i, 1<<20)
		s, err := rd.Read()
		if err == io.EOF {
			return out
		}
		it := item{Seg: s}
		if err != nil {
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "error %v is not positioned", err)
			it.Err = err.Error()
		}
		out = append(out, it)
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		rs, err := ParseBytes(b)
		// Parse over a reader that splits the input at cut must agree.
		cut = min(max(cut, 0), len(b))
		rs2, err2 := Parse(&chunks{parts: [][]byte{bytes.Clone(b[:cut]), bytes.Clone(b[cut:])}})
		require.Equal(t, fmt.Sprint(err), fmt.Sprint(err2))
		require.Equal(t, rs, rs2)
		for _, r := range rs {
			_ = r.Validate()
			if _, err := JSON(r); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Encode(&buf, r); err != nil {
				require.ErrorIs(t, err, ErrNotEncodable)
				continue
			}
			back, err := ParseBytes(buf.Bytes())
			require.NoError(t, err, "%q", buf.String())
			require.Len(t, back, 1, "%q", buf.String())
			require.Equal(t, canon(r), canon(back[0]), "%q", buf.String())
			require.True(t, back[0].Validate().Valid())
		}
	})
}
