package evadts

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type readResult struct {
	segs []Segment
	errs []error // non-nil errors in order (io.EOF excluded)
}

func readAll(t *testing.T, r io.Reader) readResult {
	t.Helper()
	rd := NewReader(r)
	var res readResult
	for i := 0; ; i++ {
		require.Less(t, i, 10000, "reader does not terminate")
		s, err := rd.Read()
		if err == io.EOF {
			return res
		}
		if err != nil {
			res.errs = append(res.errs, err)
		}
		if s.ID != "" || s.Raw != "" {
			res.segs = append(res.segs, s)
		}
	}
}

func ids(segs []Segment) string {
	var b []string
	for _, s := range segs {
		b = append(b, s.ID)
	}
	return strings.Join(b, " ")
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ids     string
		errs    []error
		errLine []int
	}{
		{"crlf", "DXS*A*VA*V0/6*1\r\nST*001*0001\r\nID1*X\r\nSE*3*0001\r\nDXE*1*1\r\n",
			"DXS ST ID1 SE DXE", nil, nil},
		{"lf", "DXS*A\nST*001*0001\nSE*2*0001\nDXE*1*1\n", "DXS ST SE DXE", nil, nil},
		{"junk lines before", "Slot 010: Sprite: 25\r\n\r\nDXS*A\r\nDXE*1*1\r\n", "DXS DXE", nil, nil},
		{"banner on the dxs line", "<000|Operations|N&W\f>DXS*NEC\nDXE\n", "DXS DXE", nil, nil},
		{"EADXS is no dxs", "EADXS*9*VA\nDXS*1\nDXE\n", "DXS DXE", nil, nil},
		{"junk between audits", "DXS*1\nDXE\nnotes\nDXS*2\nDXE\ntrailing junk", "DXS DXE DXS DXE", nil, nil},
		{"no final newline", "DXS*1\nDXE*1*1", "DXS DXE", nil, nil},
		{"truncated at eof", "DXS*1\nST*001\nPA2*1*100*", "DXS ST PA2", []error{ErrTruncated}, []int{3}},
		{"new dxs cuts audit", "DXS*1\nCA2*0*0*\nDXS*2\nDXE\n", "DXS CA2 DXS DXE", []error{ErrTruncated}, []int{3}},
		{"bad segment", "DXS*1\n*oops\nDXE\n", "DXS  DXE", []error{ErrBadSegment}, []int{2}},
		{"blank lines inside skipped", "DXS*1\r\n\r\n\nDXE\r\n", "DXS DXE", nil, nil},
		{"no audit", "hello\nworld\n", "", nil, nil},
		{"empty", "", "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in)),
				iotest.DataErrReader(strings.NewReader(tc.in))} {
				res := readAll(t, r)
				assert.Equal(t, tc.ids, ids(res.segs))
				require.Len(t, res.errs, len(tc.errs))
				for i, want := range tc.errs {
					require.ErrorIs(t, res.errs[i], want)
					var pe *ParseError
					require.ErrorAs(t, res.errs[i], &pe)
					assert.Equal(t, tc.errLine[i], pe.Line)
				}
			}
		})
	}
}

func TestReaderSegmentFields(t *testing.T) {
	in := "junk\r\nDXS*9259630009*VA*V1/1*1**\r\nPA1**1*5\nLS*0100\r\nXYZ9*a*b\r\nDXE*1*1\r\n"
	res := readAll(t, strings.NewReader(in))
	require.Len(t, res.segs, 5)
	dxs := res.segs[0]
	assert.Equal(t, "DXS", dxs.ID)
	assert.Equal(t, []string{"9259630009", "VA", "V1/1", "1", "", ""}, dxs.Elements)
	assert.Equal(t, 2, dxs.Line)
	assert.Equal(t, "\r\n", dxs.EOL)
	assert.Equal(t, "DXS*9259630009*VA*V1/1*1**", dxs.Raw)
	pa := res.segs[1]
	assert.Equal(t, "", pa.Field(1))
	assert.Equal(t, "1", pa.Field(2))
	assert.Equal(t, "5", pa.Field(3))
	assert.Equal(t, "", pa.Field(4), "omitted trailing element")
	assert.Equal(t, "", pa.Field(0))
	assert.Equal(t, "\n", pa.EOL)
	assert.Equal(t, "XYZ9*a*b", res.segs[3].Raw, "unknown segment kept raw")
	assert.Equal(t, 5, res.segs[3].Line)
}

func TestReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", 3*readChunk)
	res := readAll(t, strings.NewReader("DXS*1\nMA5*"+long+"\nDXE\n"))
	require.Len(t, res.segs, 3)
	assert.Equal(t, long, res.segs[1].Field(1))
}

func TestReaderIOError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("DXS*1\nST*001*0001\n"), iotest.ErrReader(boom))
	res := readAll(t, r)
	assert.Equal(t, "DXS ST", ids(res.segs))
	require.Len(t, res.errs, 1)
	assert.ErrorIs(t, res.errs[0], boom)
}

func TestParseErrorMessage(t *testing.T) {
	e := &ParseError{Line: 12, Segment: "PA1", Field: 2, Err: ErrBadNumber}
	assert.Equal(t, "evadts: line 12, segment PA102: not an integer", e.Error())
	e = &ParseError{Line: 3, Err: ErrTruncated}
	assert.Equal(t, "evadts: line 3: audit cut short before DXE", e.Error())
	b, err := e.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"line":3,"segment":"","field":0,"error":"audit cut short before DXE"}`, string(b))
}
