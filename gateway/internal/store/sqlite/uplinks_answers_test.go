package sqlite

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// Random command answers applied in one batch (where pairAnswers lets a final
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			absorbed, ackOf := pairAnswers(tt.ups)
			var got []int
			for i := range tt.ups {
				if absorbed[i] {
					got = append(got, i)
				}
			}
			assert.Equal(t, tt.absorbed, got)
			if tt.ackOf == nil {
				assert.Empty(t, ackOf)
			} else {
				assert.Equal(t, tt.ackOf, ackOf)
			}
		})
	}
}
