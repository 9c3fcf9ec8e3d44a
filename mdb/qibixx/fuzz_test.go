package qibixx

import (
	"reflect"
	"strings"
	"testing"
)

var parseSeeds = []string{
	"C,1", "C,0", "C,START,5.00", "C,VEND,1.00", "C,VEND,1,5", "C,STOP", "C,SETCONF,a=b",
	"D,2", "D,READER,1", "D,REQ,1,5", "D,END", "D,END,-1", "X,1", "X,0", "F,RESPTIMEOUT,100",
	"c,STATUS,INACTIVE", "c,STATUS,VEND,1.00,2", "d,STATUS,RESULT,1,1.00", "c,VEND,SUCCESS",
	"c,ERR,VEND 3", `d,ERR,"-1"`, "r,ACK", "x,ACK", "c,1", "x,00,0006493742,10,",
	"x,80,0006527730,ACK", "x,80,0006528824,00", "x,00,0006529862,11,0003000000", "x,01,1,12,",
	"C,FROB", "V", "", "CC,1", "c,ERR", "x,00,,12,", "C,VEND,.5,00007",
}

// FuzzParse: Parse never panics, and a parsed line formats to a line that
// parses to the same message (and formats identically again).
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := Parse(line)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "qibixx: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		text := m.String()
		m2, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v formats as %q which does not parse: %v", line, m, text, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip of %q: %#v → %q → %#v", line, m, text, m2)
		}
		if m2.String() != text {
			t.Fatalf("format not stable: %q then %q", text, m2.String())
		}
		if s, ok := m.(Sniff); ok {
			_ = s.Frame()
		}
	})
}

// FuzzFramer: whatever the chunking, the framer yields the same lines, none
// with a line end inside or longer than the limit.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("c,STATUS,INACTIVE\r\nc,1\n\nr,ACK\r"), uint8(1))
	f.Add([]byte(strings.Repeat("x", 40)+"\nC,1\n"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		whole := Framer{MaxLine: 32}
		want := whole.Feed(data)
		step := int(chunk%16) + 1
		parts := Framer{MaxLine: 32}
		var got []Line
		for i := 0; i < len(data); i += step {
			got = append(got, parts.Feed(data[i:min(i+step, len(data))])...)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("chunk %d: %q vs %q", step, got, want)
		}
		for _, l := range got {
			if strings.ContainsAny(l.Text, "\r\n") || len(l.Text) > 32 || (l.Err == nil) == (l.Text == "") {
				t.Fatalf("bad line %+v", l)
			}
		}
	})
}
