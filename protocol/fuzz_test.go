package protocol

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// numClasses is the number of Class values including ClassUnknown.
const numClasses = uint8(ClassCommandRequest) + 1

func FuzzDecode(f *testing.F) {
	for name, c := range goldenFiles(f) {
		b, err := os.ReadFile(filepath.Join(goldenDir, name))
		require.NoError(f, err)
		f.Add(uint8(c), b)
	}
	for c := ClassHello; c <= ClassCommandRequest; c++ {
		b, err := json.Marshal(validObj(c))
		require.NoError(f, err)
		f.Add(uint8(c), b)
	}
	f.Add(uint8(ClassHeartbeat), []byte(`{"v":1} {}`))
	f.Add(uint8(ClassEvent), []byte(`{"v":1,"id":"e","ts":1,"code":"A","time":1,"payload":[ {"<":"\u2028"} ]}`))
	f.Add(uint8(ClassCommandRequest), []byte(`{"v":1,"id":"c","ts":1,"name":"set_config","exp":2,"args":{"phone":null,"hb_interval":5}}`))

	f.Fuzz(func(t *testing.T, class uint8, data []byte) {
		c := Class(class % numClasses)
		v, err := Decode(c, data)
		if err != nil {
			var de *DecodeError
			require.True(t, errors.As(err, &de), "error %v is not a *DecodeError", err)
			require.NotEqual(t, "other", Reason(err))
			require.Nil(t, v)
			return
		}
		require.Equal(t, c, ClassOf(v))
		// What decodes re-encodes, and decodes to the same value.
		b, err := Encode(v)
		require.NoError(t, err)
		back, err := Decode(c, b)
		require.NoError(t, err)
		require.Equal(t, v, back)
		// And encoding is stable.
		b2, err := Encode(back)
		require.NoError(t, err)
		require.Equal(t, string(b), string(b2))
		if r, ok := v.(CommandRequest); ok {
			_, err := r.DecodeArgs()
			require.NoError(t, err)
		}
		if a, ok := v.(Audit); ok {
			txt, err := a.Text()
			require.NoError(t, err)
			require.NotEmpty(t, txt)
			require.LessOrEqual(t, len(txt), MaxAuditText)
		}
	})
}

func FuzzDecodeArgs(f *testing.F) {
	seeds := []struct{ name, args string }{
		{"reset", ""}, {"reset", "{}"}, {"cashless_mode", `{"enabled":true}`},
		{"cashless_address", `{"address":2}`}, {"cashless_credit", `{"amount":5,"auto_approve":true,"timeout":9}`},
		{"dispense", `{"number":1,"cup":true,"sugar":2,"discount":3}`}, {"request", `{"report":true,"config":true}`},
		{"set_config", `{"hb_interval":60,"phone":"+1"}`}, {"set_config", `{"phone":null}`}, {"fly", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.name, []byte(s.args))
	}
	ts := time.UnixMilli(testTS)
	f.Fuzz(func(t *testing.T, name string, args []byte) {
		r := CommandRequest{Name: CommandName(name), Args: args}
		a, err := r.DecodeArgs()
		if err != nil {
			var de *DecodeError
			require.True(t, errors.As(err, &de), "error %v is not a *DecodeError", err)
			require.NotEqual(t, "other", Reason(err))
			require.Nil(t, a)
			return
		}
		// Decoded arguments build a valid request whose args decode the same.
		req, err := NewCommandRequest("c1", r.Name, a, ts, ts.Add(time.Minute))
		require.NoError(t, err)
		b, err := Encode(req)
		require.NoError(t, err)
		back, err := DecodeCommandRequest(b)
		require.NoError(t, err)
		require.Equal(t, req, back)
		a2, err := back.DecodeArgs()
		require.NoError(t, err)
		require.Equal(t, a, a2)
	})
}
