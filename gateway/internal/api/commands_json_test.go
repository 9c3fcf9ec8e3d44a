package api

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// oddRaw are stored args and results: compact, spaced, nested, HTML
// characters, invalid, empty, trailing data, a bare scalar.
var oddRaw = []string{
	"", "null", "{}", `{"enabled":true}`, "{ \"a\" : [1, 2 ,{\"b\":null}] }\n", `{"h":"<b>&amp;</b>"}`,
	`{"bad":`, `{} {}`, "  ", "42", `"s"`, "[1,\n 2]", `{"u":"\u2028"}`,
}

// requireCommandJSON checks appendCommandJSON of c against encoding/json of
// toCommandJSON(c), as writeJSON writes it.
func requireCommandJSON(t testing.TB, c store.Command) {
	t.Helper()
	want := encodingJSON(t, toCommandJSON(c))
	got := append(appendCommandJSON(nil, c), '\n')
	require.Equal(t, string(want), string(got))
}

func TestCommandJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 10, 9, 30, 15, 123456789, time.FixedZone("MSK", 3*3600))
	base := store.Command{ID: "c1", ModemID: 7, VMID: 3, UserID: 2, Name: "cashless_mode", Args: []byte(`{"enabled":true}`),
		State: store.CmdSucceeded, Status: "succeeded", Code: 0, Result: []byte(`{"x":1}`), Attempts: 1,
		CreatedAt: ts, SentAt: ts.Add(time.Millisecond), AckedAt: ts.Add(time.Second), DoneAt: ts.Add(time.Minute),
		ExpiresAt: ts.Add(24 * time.Hour)}
	cases := map[string]store.Command{
		"full":     base,
		"queued":   {ID: "q", ModemID: 1, Name: "reset", State: store.CmdQueued, CreatedAt: ts},
		"zero":     {},
		"negative": {ID: "n", ModemID: -1, VMID: -2, Code: -300, Attempts: -1, Message: "m"},
		"utc":      {ID: "u", CreatedAt: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)},
	}
	for _, s := range oddStrings {
		c := base
		c.ID, c.Name, c.State, c.Status, c.Message = s, s, store.CommandState(s), s, s
		cases[fmt.Sprintf("string %q", s)] = c
	}
	for _, r := range oddRaw {
		c := base
		c.Args, c.Result = []byte(r), []byte(r)
		cases[fmt.Sprintf("raw %q", r)] = c
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { requireCommandJSON(t, c) })
	}
}

func TestWriteCommandJSON(t *testing.T) {
	t.Parallel()
	c := store.Command{ID: "c1", ModemID: 7, Name: "reset", State: store.CmdSent, Args: []byte(`{}`)}
	for range 3 { // the pooled buffer is reused
		rec := httptest.NewRecorder()
		writeCommandJSON(rec, c)
		want := httptest.NewRecorder()
		writeJSON(want, 200, toCommandJSON(c))
		require.Equal(t, want.Code, rec.Code)
		require.Equal(t, want.Header(), rec.Header())
		require.Equal(t, want.Body.String(), rec.Body.String())
	}
}

func TestSetAnswerMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, ids := range [][]string{{}, {"a"}, {"k.cashless_mode", "k.cashless_address", "k.cashless_credit"}, oddStrings} {
		t.Run(fmt.Sprint(len(ids)), func(t *testing.T) {
			want := encodingJSON(t, map[string]any{"res": true, "commands": ids})
			require.Equal(t, string(want), string(appendSetAnswer(nil, ids)))
		})
	}
}

func FuzzCommandJSON(f *testing.F) {
	for i, s := range oddStrings {
		r := oddRaw[i%len(oddRaw)]
		f.Add(s, s, r, r, int64(i), int64(i)-3, i, int64(1715333415123+i))
	}
	f.Fuzz(func(t *testing.T, id, text, args, result string, modem, vm int64, code int, ms int64) {
		at := time.UnixMilli(ms)
		c := store.Command{ID: id, ModemID: modem, VMID: vm, Name: text, Args: json.RawMessage(args),
			State: store.CommandState(text), Status: text, Code: code, Message: id, Result: json.RawMessage(result),
			Attempts: code, CreatedAt: at, SentAt: at.Add(time.Second)}
		if ms%2 == 0 {
			c.DoneAt = at
		}
		requireCommandJSON(t, c)
	})
}

func TestAppendUTCTime(t *testing.T) {
	t.Parallel()
	zones := []*time.Location{time.UTC, time.FixedZone("+0545", 5*3600+45*60), time.FixedZone("-0930", -(9*3600 + 30*60))}
	dates := []time.Time{
		{}, time.Unix(0, 0), time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(-1, 6, 1, 12, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(999, 3, 4, 5, 6, 7, 8, time.UTC),
	}
	for _, d := range dates {
		for _, z := range zones {
			tm := d
			if !d.IsZero() {
				tm = d.In(z)
			}
			t.Run(tm.String(), func(t *testing.T) {
				require.Equal(t, string(appendTime(nil, tm, time.UTC)), string(appendUTCTime(nil, tm)))
			})
		}
	}
}
