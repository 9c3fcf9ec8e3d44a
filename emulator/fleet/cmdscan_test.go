package fleet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

func encodedRequest(t testing.TB) []byte {
	req, err := protocol.NewCommandRequest("01JCMD-7", protocol.CmdCashlessMode, protocol.CashlessModeArgs{Enabled: true},
		time.UnixMilli(1760000000000), time.UnixMilli(1760000060000))
	require.NoError(t, err)
	b, err := protocol.Encode(req)
	require.NoError(t, err)
	return b
}

func TestScanCommand(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		id      string
		ts, exp int64
		ok      bool
	}{
		{"plain", `{"v":1,"id":"c1","ts":5,"name":"reset","exp":9}`, "c1", 5, 9, true},
		{"spaces and nesting", ` { "exp" : 9 , "args" : {"a":[1,{"b":"x\"}"}],"c":null}, "id":"c1", "ts":5 } `, "c1", 5, 9, true},
		{"missing exp", `{"id":"c1","ts":5}`, "", 0, 0, false},
		{"escaped id", `{"id":"c\u0031","ts":5,"exp":9}`, "", 0, 0, false},
		{"float ts", `{"id":"c1","ts":5.0,"exp":9}`, "", 0, 0, false},
		{"leading zero", `{"id":"c1","ts":05,"exp":9}`, "", 0, 0, false},
		{"overflow", `{"id":"c1","ts":99999999999999999999,"exp":9}`, "", 0, 0, false},
		{"trailing", `{"id":"c1","ts":5,"exp":9}x`, "", 0, 0, false},
		{"unterminated", `{"id":"c1","ts":5,"exp":9`, "", 0, 0, false},
		{"not an object", `["id","c1"]`, "", 0, 0, false},
		{"empty", ``, "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ts, exp, ok := scanCommand([]byte(tt.in))
			require.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, tt.id, id)
				assert.Equal(t, tt.ts, ts)
				assert.Equal(t, tt.exp, exp)
			}
		})
	}
	t.Run("protocol encoding", func(t *testing.T) {
		id, ts, exp, ok := scanCommand(encodedRequest(t))
		require.True(t, ok)
		assert.Equal(t, "01JCMD-7", id)
		assert.Equal(t, int64(1760000000000), ts)
		assert.Equal(t, int64(1760000060000), exp)
	})
}

// FuzzScanCommand: never panics, and whenever both the scan and the full
// protocol decoder accept a request they agree on id, ts and exp.
func FuzzScanCommand(f *testing.F) {
	f.Add(encodedRequest(f))
	f.Add([]byte(`{"v":1,"id":"c1","ts":5,"name":"reset","exp":9}`))
	f.Add([]byte(` { "exp" : 9 , "args" : {"a":[1,{"b":"x\"}"}]}, "id":"c1", "ts":5 } `))
	f.Add([]byte(`{"id":"c1","ts":-0,"exp":1e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ts, exp, ok := scanCommand(b)
		req, err := protocol.DecodeCommandRequest(b)
		if !ok || err != nil {
			return
		}
		if id != req.ID || ts != req.TS || exp != req.Exp {
			t.Fatalf("scan %q %d %d, decoder %q %d %d", id, ts, exp, req.ID, req.TS, req.Exp)
		}
	})
}
