package sqlite

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// Random command answers applied in one batch (where answerPairs lets a final
// answer absorb the acknowledgements before it) leave every command row as
// applying them one per transaction does.
func TestAnswersInOneBatchSameAsOneByOne(t *testing.T) {
	statuses := []string{"accepted", "in_progress", "succeeded", "failed", "rejected", "expired", "weird"}
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			batched, single := openTemp(t), openTemp(t)
			const cmds = 6
			var modemsB, modemsS []int64
			for _, db := range []*DB{batched, single} {
				ids := benchModems(t, db, 2)
				for c := range cmds {
					now := t0.Add(time.Duration(c) * time.Second)
					_, _, err := db.CreateCommand(ctx, store.Command{ID: fmt.Sprint("c", c), ModemID: ids[c%2], Name: "reboot",
						Args: json.RawMessage(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
					require.NoError(t, err)
					if c%3 != 0 { // some were acknowledged before the batch
						require.NoError(t, db.MarkSent(ctx, fmt.Sprint("c", c), now))
					}
				}
				if db == batched {
					modemsB = ids
				} else {
					modemsS = ids
				}
			}
			type answer struct {
				cmd, modem int
				status     string
				result     string
				at         time.Time
			}
			var answers []answer
			for i := range 40 {
				c := rng.IntN(cmds)
				modem := c % 2
				if rng.IntN(8) == 0 {
					modem = 1 - modem // another modem's answer: ignored
				}
				a := answer{cmd: c, modem: modem, status: statuses[rng.IntN(len(statuses))],
					at: t0.Add(time.Minute + time.Duration(i)*time.Millisecond)}
				if rng.IntN(3) == 0 {
					a.result = fmt.Sprintf(`{"n":%d}`, i)
				}
				answers = append(answers, a)
			}
			up := func(a answer, modems []int64) store.Uplink {
				r := &store.CommandResult{CommandID: fmt.Sprint("c", a.cmd), Status: a.status, Code: len(a.status), Message: a.status}
				if a.result != "" {
					r.Result = json.RawMessage(a.result)
				}
				return store.Uplink{Kind: store.UpResult, ModemID: modems[a.modem], Received: a.at, Result: r}
			}
			var batch []store.Uplink
			for _, a := range answers {
				batch = append(batch, up(a, modemsB))
				require.NoError(t, single.ApplyUplinks(ctx, []store.Uplink{up(a, modemsS)}))
			}
			require.NoError(t, batched.ApplyUplinks(ctx, batch))
			for c := range cmds {
				id := fmt.Sprint("c", c)
				a, err := batched.GetCommand(ctx, id)
				require.NoError(t, err)
				b, err := single.GetCommand(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, []any{b.State, b.Status, b.Code, b.Message, string(b.Result), b.AckedAt.UnixMilli(), b.DoneAt.UnixMilli()},
					[]any{a.State, a.Status, a.Code, a.Message, string(a.Result), a.AckedAt.UnixMilli(), a.DoneAt.UnixMilli()}, id)
			}
		})
	}
}

func TestPairAnswers(t *testing.T) {
	res := func(modem int64, cmd, status string) store.Uplink {
		return store.Uplink{Kind: store.UpResult, ModemID: modem, Result: &store.CommandResult{CommandID: cmd, Status: status}}
	}
	withResult := func(u store.Uplink) store.Uplink { u.Result.Result = json.RawMessage(`{}`); return u }
	tests := []struct {
		name     string
		ups      []store.Uplink
		absorbed []int
		ackOf    map[int]absorbedAcks
	}{
		{"ack then final", []store.Uplink{res(1, "a", "accepted"), res(1, "a", "succeeded")}, []int{0}, map[int]absorbedAcks{1: {0, -1}}},
		{"two acks: the first's time, the last result", []store.Uplink{withResult(res(1, "a", "accepted")), withResult(res(1, "a", "in_progress")),
			res(1, "a", "in_progress"), res(1, "a", "failed")}, []int{0, 1, 2}, map[int]absorbedAcks{3: {0, 1}}},
		{"final then ack", []store.Uplink{res(1, "a", "succeeded"), res(1, "a", "accepted")}, nil, nil},
		{"other modem", []store.Uplink{res(2, "a", "accepted"), res(1, "a", "succeeded")}, nil, nil},
		{"other command", []store.Uplink{res(1, "b", "accepted"), res(1, "a", "succeeded")}, nil, nil},
		{"unknown status", []store.Uplink{res(1, "a", "weird"), res(1, "a", "succeeded")}, nil, nil},
		{"unknown status between", []store.Uplink{res(1, "a", "accepted"), res(1, "a", "weird"), res(1, "a", "succeeded")}, nil, nil},
		{"event between", []store.Uplink{res(1, "a", "accepted"), {Kind: store.UpEvent, ModemID: 1, Event: &store.Event{}},
			res(1, "a", "rejected")}, []int{0}, map[int]absorbedAcks{2: {0, -1}}},
	}
	check := func(t *testing.T, p *answerPairs, ups []store.Uplink, absorbed []int, ackOf map[int]absorbedAcks) {
		t.Helper()
		p.pair(ups)
		var got []int
		for i := range ups {
			if p.absorbed[i] {
				got = append(got, i)
			}
		}
		assert.Equal(t, absorbed, got)
		if ackOf == nil {
			assert.Empty(t, p.ackOf)
		} else {
			assert.Equal(t, ackOf, p.ackOf)
		}
		assert.Empty(t, p.final, "scratch left behind")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, new(answerPairs), tt.ups, tt.absorbed, tt.ackOf)
		})
	}
	// A batch's pairs are reused by the next one: each case after every
	// other, forwards and backwards, finds only its own.
	t.Run("reused", func(t *testing.T) {
		var p answerPairs
		for range 2 {
			for _, tt := range tests {
				check(t, &p, tt.ups, tt.absorbed, tt.ackOf)
			}
			slices.Reverse(tests)
		}
	})
}

// The answers of one batch leave nothing for the next (the batch and its
// pairs are reused): an acknowledgement at the index where the previous
// batch had an absorbed one is written, and a final answer at the index of
// the previous batch's final one takes no acknowledgement time from it.
func TestAnswersBatchesIndependent(t *testing.T) {
	db := openDisk(t)
	modem := benchModems(t, db, 1)[0]
	for _, id := range []string{"a", "b", "c"} {
		_, _, err := db.CreateSentCommand(ctx, store.Command{ID: id, ModemID: modem, Name: "reboot", CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour)}, t0)
		require.NoError(t, err)
	}
	res := func(id, status string, at time.Duration) store.Uplink {
		return store.Uplink{Kind: store.UpResult, ModemID: modem, Received: t0.Add(at),
			Result: &store.CommandResult{CommandID: id, Status: status}}
	}
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{res("a", "accepted", 1*time.Second), res("a", "succeeded", 2*time.Second)}))
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{res("b", "accepted", 3*time.Second)}))
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpEvent, ModemID: modem, Received: t0.Add(4 * time.Second),
		Event: &store.Event{MsgID: "e", Code: "DOOR", Time: t0}}, res("c", "succeeded", 5*time.Second)}))

	a, err := db.GetCommand(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, store.CmdSucceeded, a.State)
	assert.Equal(t, t0.Add(time.Second), a.AckedAt)
	b, err := db.GetCommand(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, store.CmdAcknowledged, b.State, "b's acknowledgement written")
	assert.Equal(t, t0.Add(3*time.Second), b.AckedAt)
	c, err := db.GetCommand(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, store.CmdSucceeded, c.State)
	assert.Zero(t, c.AckedAt, "c was never acknowledged")
}
