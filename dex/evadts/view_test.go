package evadts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkView asserts that the View of b agrees with the reader and parser:
// the same error, the same reports (Reports, Audit.Report and every typed
// helper), the same validation, and records equal to the Reader's segments.
func checkView(t *testing.T, b []byte) {
	t.Helper()
	want, wantErr := Parse(bytes.NewReader(b)) // the Reader path; ParseBytes uses the View
	v, err := Index(b)
	require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(err), "Index error")
	if v == nil {
		require.Nil(t, want)
		require.Error(t, err)
		return
	}
	got, err := v.Reports()
	require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(err), "Reports error")
	require.Equal(t, want, got)
	require.Equal(t, len(want), v.Len())

	var segs []Segment
	rd := NewReader(bytes.NewReader(b))
	for {
		s, err := rd.Read()
		if err == io.EOF {
			break
		}
		if s.Raw != "" {
			segs = append(segs, s)
		}
	}
	k := 0
	for a := range v.Audits() {
		r := want[a.i]
		require.Equal(t, r.Validate(), a.Validate(), "audit %d", a.i)
		require.Equal(t, r.Truncated, a.Truncated())
		require.Equal(t, r, a.Report())
		require.Equal(t, r.Header, a.Header())
		require.Equal(t, r.Machine, a.Machine())
		require.Equal(t, r.Meters, a.Meters())
		require.Equal(t, r.Cash, a.Cash())
		require.Equal(t, r.Cashless, a.Cashless())
		require.Equal(t, r.Products, a.Products())
		require.Equal(t, r.Events, a.Events())
		require.Equal(t, "DXS", a.Record(0).ID())
		require.Equal(t, a.Record(0).Line(), a.Line())
		// Per record, what the View says and what the Reader's segment
		// says, compared once per audit (require per field is slow).
		var got, exp []recordObs
		for rec := range a.Records() {
			require.Less(t, k, len(segs), "more records than the Reader returns")
			s := segs[k]
			k++
			exp = append(exp, observe(s))
			o := recordObs{Seg: rec.Segment(), ID: rec.ID(), Raw: string(rec.Raw()), N: rec.NumFields(),
				Is: rec.Is(s.ID) && !rec.Is(s.ID+"X")}
			for n := 0; n <= len(s.Elements)+1; n++ {
				o.Texts = append(o.Texts, rec.Text(n))
				x, err := rec.Int(n)
				o.Ints = append(o.Ints, x)
				var pe *ParseError
				if errors.As(err, &pe) {
					o.Errs = append(o.Errs, *pe)
				} else {
					o.Errs = append(o.Errs, ParseError{})
				}
			}
			if f, ok := a.Find(s.ID); ok && f.Is(s.ID) && f.Line() <= rec.Line() {
				o.Found = true
			}
			got = append(got, o)
		}
		require.Equal(t, exp, got, "audit %d records", a.i)
	}
	require.Equal(t, len(segs), k, "fewer records than the Reader returns")
}

// recordObs is what checkView reads from one record.
type recordObs struct {
	Seg   Segment
	ID    string
	Raw   string
	N     int
	Is    bool
	Texts []string
	Ints  []int64
	Errs  []ParseError // zero when the element reads as a number
	Found bool         // Find(ID) returns a record with that ID, not later than this one
}

// observe is recordObs as the Reader's segment says it should be.
func observe(s Segment) recordObs {
	o := recordObs{Seg: s, ID: s.ID, Raw: s.Raw, N: len(s.Elements), Is: true, Found: true}
	for n := 0; n <= len(s.Elements)+1; n++ {
		o.Texts = append(o.Texts, s.Field(n))
		x, ok := parseInt(s.Field(n))
		o.Ints = append(o.Ints, x)
		if ok {
			o.Errs = append(o.Errs, ParseError{})
		} else {
			o.Errs = append(o.Errs, ParseError{Line: s.Line, Segment: s.ID, Field: n, Err: ErrBadNumber})
		}
	}
	return o
}

// TestViewSamples is the differential test over every shared sample and
// the package's fuzz corpus.
func TestViewSamples(t *testing.T) {
	for _, name := range sampleNames(t) {
		t.Run(name, func(t *testing.T) { checkView(t, sharedFile(t, name)) })
	}
	t.Run("all samples concatenated", func(t *testing.T) {
		var all []byte
		for _, name := range sampleNames(t) {
			all = append(all, sharedFile(t, name)...)
		}
		checkView(t, all)
	})
	dirs, _ := filepath.Glob("testdata/fuzz/*")
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*"))
		for _, f := range files {
			t.Run(filepath.Base(d)+"/"+filepath.Base(f), func(t *testing.T) {
				checkView(t, corpusBytes(t, f))
			})
		}
	}
}

// corpusBytes reads the first []byte value of a Go fuzz corpus file.
func corpusBytes(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(line, "[]byte("); ok {
			u, err := strconv.Unquote(strings.TrimSuffix(s, ")"))
			require.NoError(t, err)
			return []byte(u)
		}
	}
	t.Fatalf("%s: no []byte value", path)
	return nil
}

// crlf joins records with CRLF.
func crlf(recs ...string) string { return strings.Join(recs, "\r\n") + "\r\n" }

// g85 returns the check value a VMD computes over recs (the ST .. record
// before G85 span).
func g85(recs ...string) string {
	return fmt.Sprintf("%04X", CRC16(0, []byte(crlf(recs...))))
}

func TestViewCases(t *testing.T) {
	body := []string{"ST*001*0001", "ID1*S1*M1", "VA1*100*1*0*0", "LS*0100", "PA1*1*150*Cola", "PA2*3*450*1*150",
		"EA2*ELA*1*1", "LE*0100", "CA2*10*1*0*0", "EA1*EGS*250101*1200*5"}
	good := g85(body...)
	swapped := good[2:] + good[:2]
	noLast := fmt.Sprintf("%04X", CRC16(0, []byte(strings.TrimSuffix(crlf(body...), "\r\n"))))
	audit := func(check, se string, eol string, extra ...string) string {
		recs := append([]string{"DXS*X*VA*V1/1*1"}, body...)
		recs = append(recs, extra...)
		recs = append(recs, "G85*"+check, "SE*"+se+"*0001", "DXE*1*1")
		return strings.Join(recs, eol) + eol
	}
	n := strconv.Itoa(len(body) + 2)
	nNoLoops := strconv.Itoa(len(body))
	tests := []struct {
		name  string
		in    string
		check CheckOutcome
		devs  []Deviation
	}{
		{"crlf ok", audit(good, n, "\r\n"), CheckOK, nil},
		{"lf line ends", audit(good, n, "\n"), CheckOK, []Deviation{DevLFLineEnds}},
		{"lowercase hex", audit(strings.ToLower(good), n, "\r\n"), CheckOK, lowerDevs(good)},
		{"without last crlf", audit(noLast, n, "\r\n"), CheckDeviation, []Deviation{DevWithoutLastCRLF}},
		{"byte swapped", audit(swapped, n, "\r\n"), CheckDeviation, []Deviation{DevByteSwapped}},
		{"mismatch", audit("0000", n, "\r\n"), CheckMismatch, nil},
		{"se excludes loops", audit(good, nNoLoops, "\r\n"), CheckOK, []Deviation{DevSECountExcludesLoops}},
		{"missing g85", strings.Replace(audit(good, strconv.Itoa(len(body)+1), "\r\n"), "G85*"+good+"\r\n", "", 1),
			CheckMissing, []Deviation{DevMissingCheck}},
		{"missing dxe", strings.TrimSuffix(audit(good, n, "\r\n"), "DXE*1*1\r\n"), CheckOK, []Deviation{DevMissingDXE}},
		{"junk and blank lines", "modem banner\r\n\f>" + strings.Replace(audit(good, n, "\r\n"), "ID1", "\r\nID1", 1) + "trailer junk", CheckOK, nil},
		{"bad segment and number", strings.Replace(audit(good, n, "\r\n"), "CA2*10", "*x\r\nCA2*1x", 1), CheckMismatch, nil},
		{"truncated then next", "DXS*A\r\nST*001*0001\r\nPA1*1\r\n" + audit(good, n, "\r\n"), CheckMissing, []Deviation{DevMissingCheck}},
		{"truncated at end", audit(good, n, "\r\n") + "DXS*B\nST*001\nVA1*1", CheckOK, nil},
		{"cr at end", strings.TrimSuffix(audit(good, n, "\r\n"), "\n"), CheckOK, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkView(t, []byte(tc.in))
			v, _ := Index([]byte(tc.in))
			require.NotNil(t, v)
			val := v.Audit(0).Validate()
			assert.Equal(t, tc.check, val.Check, "%s", val)
			assert.Equal(t, tc.devs, val.Deviations)
		})
	}
}

// lowerDevs is the deviation list of a lowercase G85: none when the value
// has no hex letters.
func lowerDevs(hex string) []Deviation {
	if strings.ToLower(hex) == hex {
		return nil
	}
	return []Deviation{DevLowercaseHex}
}

func TestIndexErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
		line int
	}{
		{"empty", "", ErrNoAudit, 0},
		{"no dxs", "ST*001\r\nSE*1\r\n", ErrNoAudit, 0},
		{"eadxs is no dxs", "EADXS*1\r\n", ErrNoAudit, 0},
		{"cut by new dxs", "DXS*1\r\nST*001\r\nDXS*2\r\nST*1\r\nSE*2\r\nDXE\r\n", ErrTruncated, 3},
		{"cut by end", "junk\nDXS*1\nST*001\nPA1*1\n\n", ErrTruncated, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Index([]byte(tc.in))
			require.ErrorIs(t, err, tc.want)
			if tc.line > 0 {
				var pe *ParseError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tc.line, pe.Line)
				require.NotNil(t, v)
				assert.True(t, v.Audit(0).Truncated())
			} else {
				assert.Nil(t, v)
			}
			checkView(t, []byte(tc.in))
		})
	}
}

func TestViewFieldsShareInput(t *testing.T) {
	in := []byte("DXS*1\r\nST*001*0001\r\nID1*SER*MOD\r\nSE*3*0001\r\nDXE*1\r\n")
	v, err := Index(in)
	require.NoError(t, err)
	id1, ok := v.Audit(0).Find("ID1")
	require.True(t, ok)
	f := id1.Field(1)
	require.Equal(t, "SER", string(f))
	s := id1.Text(2)
	m := v.Audit(0).Machine()
	in[bytes.Index(in, []byte("SER"))] = 'X'
	assert.Equal(t, "XER", string(f), "Field shares the input")
	assert.Equal(t, "MOD", s)
	assert.Equal(t, "SER", m.Serial, "typed results are copies")
	_, ok = v.Audit(0).Find("PA1")
	assert.False(t, ok)
	assert.Panics(t, func() { v.Audit(0).Record(5) })
	assert.True(t, errors.Is(func() error { _, err := Index(nil); return err }(), ErrNoAudit))
}
