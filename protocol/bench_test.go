package protocol

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// auditText30K is a synthetic EVA-DTS-shaped text of about 30 KB (the size of
// a large real audit), CRLF line ends.
func auditText30K() string {
	var b strings.Builder
	b.WriteString("DXS*VGT0000001*VA*V1/1*1\r\nST*001*0001\r\nID1*SN000123*MODEL7*0001**0\r\n")
	for i := 0; b.Len() < 30_000; i++ {
		fmt.Fprintf(&b, "PA1*%d*%d\r\nPA2*%d*%d*%d*%d\r\n", i, 100+i, i*3, i*300, i, i*100)
	}
	b.WriteString("G85*0000\r\nSE*9*0001\r\nDXE*1*1\r\n")
	return b.String()
}

func BenchmarkDecodeHeartbeat(b *testing.B) {
	payload := []byte(`{"v":1,"id":"hb-000019","ts":1732560060000,"uptime":86400,"signal":21,"vm_link":true,"errors":0,"epoch":42}`)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeHeartbeat(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEvent decodes the load run's flood event (no payload) and
// one with a small payload; "json" is the encoding/json path the typed fast
// path replaces.
func BenchmarkDecodeEvent(b *testing.B) {
	benchDecode(b, []benchPayload{
		{"flood", `{"v":1,"id":"f-1732560000-123456","ts":1732560060000,"code":"LOADTEST","time":1732560060000}`},
		{"payload", `{"v":1,"id":"e-000019","ts":1732560060000,"code":"EA1A","time":1732560060000,"payload":{"n":19}}`},
	}, decodeEvent)
}

func BenchmarkDecodeAudit(b *testing.B) {
	text := auditText30K()
	for _, enc := range []string{"", "base64"} {
		a := Audit{Header: Header{V: 1, ID: "a-1", TS: 1732560000000}, Port: 2, Time: 1732560000000, Enc: enc, Data: text}
		name := "raw"
		if enc == "base64" {
			a.Data = base64.StdEncoding.EncodeToString([]byte(text))
			name = "base64"
		}
		payload, err := Encode(a)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeAudit(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Reconnect-storm payloads: every modem sends a state and a hello after
// each connect (compact, as the emulator's encoder writes them).
var (
	benchStates = []benchPayload{
		{"online", `{"v":1,"id":"k3f9q2-18","ts":1732560000010,"online":true,"epoch":42}`},
		{"lwt", `{"v":1,"id":"k3f9q2-1","ts":1732560000010,"online":false,"epoch":42,"reason":"lwt"}`},
	}
	benchHellos = []benchPayload{
		{"full", `{"v":1,"id":"k3f9q2-17","ts":1732560000000,"imei":"861234567890123","iccid":"8970101234567890123","hw_version":"TM-2.1","boot_version":"1.04","firmware":"3.2.7","phone":"+79001234567","bus":"mdb","cashless":{"enabled":true,"address":1,"level":3},"hb_interval":60,"caps":["reset","cashless_mode","cashless_address","cashless_credit","dispense","request","set_config"]}`},
		{"minimal", `{"v":1,"id":"h1","ts":1732560000000,"imei":"3569380356438091","firmware":"1.0","bus":"none","cashless":{"enabled":false,"address":0},"hb_interval":300}`},
	}
)

// BenchmarkDecodeState and BenchmarkDecodeHello: "json" is the
// encoding/json path the typed fast path replaces.
func BenchmarkDecodeState(b *testing.B) { benchDecode(b, benchStates, decodeState) }

func BenchmarkDecodeHello(b *testing.B) { benchDecode(b, benchHellos, decodeHello) }

type benchPayload struct{ name, payload string }

// benchDecode runs decode on each payload through the typed fast path
// ("name/fast") and through encoding/json ("name/json").
func benchDecode[T any](b *testing.B, payloads []benchPayload, decode func([]byte, bool) (T, error)) {
	for _, tt := range payloads {
		for _, fast := range []bool{true, false} {
			name := tt.name + "/fast"
			if !fast {
				name = tt.name + "/json"
			}
			b.Run(name, func(b *testing.B) {
				payload := []byte(tt.payload)
				b.SetBytes(int64(len(payload)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := decode(payload, fast); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// Command results as every command brings them: accepted, then the outcome
// (as the e2e command benchmark's modems send them), and one with a message
// and a result object.
var benchResults = []benchPayload{
	{"accepted", `{"v":1,"id":"r0-01JDB6Z3K2Q9C0MMAND0000002","ts":1732560100100,"cmd":"01JDB6Z3K2Q9C0MMAND0000002","status":"accepted","code":0}`},
	{"succeeded", `{"v":1,"id":"r1-01JDB6Z3K2Q9C0MMAND0000002","ts":1732560100100,"cmd":"01JDB6Z3K2Q9C0MMAND0000002","status":"succeeded","code":0}`},
	{"result", `{"v":1,"id":"r-000028","ts":1732560100900,"cmd":"01JDB6Z3K2Q9C0MMAND0000002","status":"succeeded","code":0,"msg":"config sent","result":{"hb_interval":60,"phone":"+79001234567","bus":"mdb"}}`},
}

// BenchmarkDecodeCommandResult: "json" is the encoding/json path the typed
// fast path replaces.
func BenchmarkDecodeCommandResult(b *testing.B) { benchDecode(b, benchResults, decodeCommandResult) }

// BenchmarkEncodeCommandRequest encodes requests as the gateway sends them
// (Encode of a CommandRequest value, as gateway/internal/command does):
// "fast" is Encode, "json" the same validation (typed arguments included)
// then encoding/json instead of the reflection-free encoder.
func BenchmarkEncodeCommandRequest(b *testing.B) {
	for _, tt := range []struct{ name, args string }{
		{"cashless_mode", `{"enabled":true}`},
		{"dispense", `{"number":7,"cup":true,"sugar":2,"discount":500}`},
		{"reset", ``},
	} {
		r := CommandRequest{Header: Header{V: Version, ID: "01JDB6Z3K2Q9C0MMAND0000002", TS: 1732560100000},
			Name: CommandName(tt.name), Args: json.RawMessage(tt.args), Exp: 1732563700000}
		for _, fast := range []bool{true, false} {
			name := tt.name + "/fast"
			encode := Encode
			if !fast {
				name = tt.name + "/json"
				encode = encodeJSONRef
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := encode(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
