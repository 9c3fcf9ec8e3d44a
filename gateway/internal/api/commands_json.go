package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"vendgate/gateway/internal/store"
)

// The command answers (GET /v2/commands/{id}, POST /set) are written by hand:
// they are the hot answers of the command round trip, and encoding/json's
// reflection and the pointers of commandJSON were a tenth of the REST CPU of a
// command. appendCommandJSON is byte for byte what writeJSON writes for
// toCommandJSON (TestCommandJSONMatchesEncodingJSON, FuzzCommandJSON).

// cmdBufs recycles the answer buffers (a command answer is a few hundred
// bytes; larger ones are left to the collector).
var cmdBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxCmdBuf = 64 << 10

// writeCommandJSON answers 200 with c as writeJSON(toCommandJSON(c)) would.
func writeCommandJSON(w http.ResponseWriter, c store.Command) {
	bp := cmdBufs.Get().(*[]byte)
	b := appendCommandJSON((*bp)[:0], c)
	b = append(b, '\n')
	writeRawJSON(w, http.StatusOK, b)
	if cap(b) <= maxCmdBuf {
		*bp = b[:0]
		cmdBufs.Put(bp)
	}
}

// appendCommandJSON appends the commandJSON of c, as encoding/json encodes it
// (HTML escaping off), without the newline.
func appendCommandJSON(b []byte, c store.Command) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, c.ID)
	b = append(b, `,"modem_id":`...)
	b = strconv.AppendInt(b, c.ModemID, 10)
	b = append(b, `,"vm_id":`...)
	if c.VMID != 0 {
		b = strconv.AppendInt(b, c.VMID, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"name":`...)
	b = appendJSONString(b, c.Name)
	b = append(b, `,"args":`...)
	b = appendRawOrNull(b, c.Args)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(c.State))
	b = append(b, `,"status":`...)
	b = appendNullStr(b, c.Status)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(c.Code), 10)
	b = append(b, `,"message":`...)
	b = appendNullStr(b, c.Message)
	b = append(b, `,"result":`...)
	b = appendRawOrNull(b, c.Result)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(c.Attempts), 10)
	for _, f := range [...]struct {
		name string
		t    time.Time
	}{{`,"created_at":`, c.CreatedAt}, {`,"sent_at":`, c.SentAt}, {`,"acked_at":`, c.AckedAt},
		{`,"done_at":`, c.DoneAt}, {`,"expires_at":`, c.ExpiresAt}} {
		b = append(b, f.name...)
		b = appendUTCTime(b, f.t)
	}
	return append(b, '}')
}

// appendUTCTime is appendTime(b, t, time.UTC) without time's layout
// interpreter (five times an answer): digits of the years 0..9999, which is
// every time a command carries; others go the general way.
func appendUTCTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	u := t.UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		return appendTime(b, t, time.UTC)
	}
	hour, minute, sec := u.Clock()
	b = append(b, '"')
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append2(b, int(month), '-')
	b = append2(b, day, 'T')
	b = append2(b, hour, ':')
	b = append2(b, minute, ':')
	b = append2(b, sec, '+')
	return append(b, "00:00\""...)
}

// append2 appends v (0..99) as two digits, then sep.
func append2(b []byte, v int, sep byte) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10), sep)
}

// appendRawOrNull appends rawOrNull(raw) as encoding/json writes a
// json.RawMessage: compacted, or null when it is empty or not valid JSON.
func appendRawOrNull(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, raw); err != nil {
		return append(b, "null"...)
	}
	return buf.Bytes()
}

// appendSetAnswer appends the answer of POST /v2/modems/{id}/set,
// {"commands":[ids],"res":true} as encoding/json writes that map (keys
// sorted), with the newline.
func appendSetAnswer(b []byte, ids []string) []byte {
	b = append(b, `{"commands":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, id)
	}
	return append(b, "],\"res\":true}\n"...)
}
