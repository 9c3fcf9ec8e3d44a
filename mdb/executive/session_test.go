package executive

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The standard event of each kind used by the exhaustive table.
var tableEvents = [numEvents]Event{
	EvStatus:      {Kind: EvStatus},
	EvNoRequest:   {Kind: EvNoRequest},
	EvVendRequest: {Kind: EvVendRequest, Value: 5},
	EvPrice:       {Kind: EvPrice, Amount: 30, Known: true},
	EvVendResult:  {Kind: EvVendResult, Value: 0},
	EvAck:         {Kind: EvAck},
	EvPNAK:        {Kind: EvPNAK},
	EvCorrupt:     {Kind: EvCorrupt},
	EvSilence:     {Kind: EvSilence},
	EvGrant:       {Kind: EvGrant, Amount: 100},
	EvDispense:    {Kind: EvDispense, Value: 7},
	EvReset:       {Kind: EvReset},
}

// sessionIn builds a session in state st by feeding ordinary events.
// Non-price-holding: the Denied request is a price of 50 with no credit, the
// Vending one a price of 50 with credit 100. Price-holding: selection 5
// priced 30; Denied has no credit, Vending and PriceRequest have 100.
func sessionIn(t *testing.T, ph bool, st State) *Session {
	t.Helper()
	s := NewSession(SessionConfig{PriceHolding: ph, AnnounceCredit: true})
	step := func(ev Event) Effects {
		t.Helper()
		eff := s.Step(ev)
		require.NoError(t, eff.Err)
		return eff
	}
	if st != StateOffline {
		step(Event{Kind: EvStatus})
	}
	switch st {
	case StateCredit:
		step(Event{Kind: EvGrant, Amount: 100})
	case StatePriceRequest:
		require.True(t, ph)
		step(Event{Kind: EvGrant, Amount: 100})
		step(Event{Kind: EvVendRequest, Value: 5})
	case StateDenied:
		if ph {
			step(Event{Kind: EvVendRequest, Value: 5})
			step(Event{Kind: EvPrice, Amount: 30, Known: true})
		} else {
			step(Event{Kind: EvVendRequest, Value: 50})
		}
	case StateVending:
		step(Event{Kind: EvGrant, Amount: 100})
		if ph {
			step(Event{Kind: EvVendRequest, Value: 5})
			step(Event{Kind: EvPrice, Amount: 30, Known: true})
		} else {
			step(Event{Kind: EvVendRequest, Value: 50})
		}
	}
	require.Equal(t, st, s.State())
	return s
}

type cell struct {
	next   State
	lookup bool
	record bool
	denied bool
	err    error
}

func TestSessionTable(t *testing.T) {
	const (
		off = StateOffline
		idl = StateIdle
		crd = StateCredit
		prq = StatePriceRequest
		den = StateDenied
		vnd = StateVending
	)
	// Columns: status, no-request, vend-request, price, vend-result, ack,
	// pnak, corrupt, silence, grant, dispense, reset.
	nph := map[State][numEvents]cell{
		off: {{next: idl}, {next: idl}, {next: den, denied: true}, {next: off}, {next: idl}, {next: idl},
			{next: off}, {next: off}, {next: off}, {next: off, err: ErrOffline}, {next: off, err: ErrUnsupported}, {next: off}},
		idl: {{next: idl}, {next: idl}, {next: den, denied: true}, {next: idl}, {next: idl}, {next: idl},
			{next: idl}, {next: idl}, {next: idl}, {next: crd}, {next: idl, err: ErrUnsupported}, {next: idl}},
		crd: {{next: crd}, {next: crd}, {next: vnd}, {next: crd}, {next: crd}, {next: crd},
			{next: crd}, {next: crd}, {next: crd}, {next: crd}, {next: crd, err: ErrUnsupported}, {next: idl}},
		den: {{next: den}, {next: idl}, {next: den, denied: true}, {next: den}, {next: den}, {next: den},
			{next: den}, {next: den}, {next: den}, {next: vnd}, {next: den, err: ErrUnsupported}, {next: idl}},
		vnd: {{next: vnd}, {next: vnd}, {next: vnd}, {next: vnd}, {next: idl, record: true}, {next: vnd},
			{next: vnd}, {next: crd, record: true}, {next: crd, record: true}, {next: vnd}, {next: vnd, err: ErrUnsupported}, {next: vnd}},
	}
	ph := map[State][numEvents]cell{
		off: {{next: idl}, {next: idl}, {next: prq, lookup: true}, {next: off}, {next: idl}, {next: idl},
			{next: off}, {next: off}, {next: off}, {next: off, err: ErrOffline}, {next: off, err: ErrOffline}, {next: off}},
		idl: {{next: idl}, {next: idl}, {next: prq, lookup: true}, {next: idl}, {next: idl}, {next: idl},
			{next: idl}, {next: idl}, {next: idl}, {next: crd}, {next: crd}, {next: idl}},
		crd: {{next: crd}, {next: crd}, {next: prq, lookup: true}, {next: crd}, {next: crd}, {next: crd},
			{next: crd}, {next: crd}, {next: crd}, {next: crd}, {next: crd}, {next: idl}},
		prq: {{next: prq}, {next: crd}, {next: prq, lookup: true}, {next: vnd}, {next: prq}, {next: prq},
			{next: prq}, {next: prq}, {next: prq}, {next: prq}, {next: prq}, {next: idl}},
		den: {{next: den}, {next: idl}, {next: den}, {next: den}, {next: den}, {next: den},
			{next: den}, {next: den}, {next: den}, {next: vnd}, {next: den}, {next: idl}},
		vnd: {{next: vnd}, {next: vnd}, {next: vnd}, {next: vnd}, {next: idl, record: true}, {next: vnd},
			{next: vnd}, {next: crd, record: true}, {next: crd, record: true}, {next: vnd}, {next: vnd}, {next: vnd}},
	}
	for _, mode := range []struct {
		name  string
		ph    bool
		table map[State][numEvents]cell
	}{{"non-price-holding", false, nph}, {"price-holding", true, ph}} {
		for st := State(0); st < numStates; st++ {
			row, reachable := mode.table[st]
			if !reachable {
				require.False(t, mode.ph, "every state is reachable in price-holding mode")
				require.Equal(t, StatePriceRequest, st)
				continue
			}
			for k := EventKind(0); k < numEvents; k++ {
				t.Run(fmt.Sprintf("%s/%v/%v", mode.name, st, k), func(t *testing.T) {
					s := sessionIn(t, mode.ph, st)
					eff := s.Step(tableEvents[k])
					want := row[k]
					assert.Equal(t, want.next, s.State(), "next state")
					assert.Equal(t, want.lookup, eff.Lookup, "lookup")
					assert.Equal(t, want.record, eff.Record != nil, "record")
					assert.Equal(t, want.denied, eff.Denied, "denied")
					if want.err != nil {
						assert.ErrorIs(t, eff.Err, want.err)
					} else {
						assert.NoError(t, eff.Err)
					}
					if eff.Lookup {
						assert.Equal(t, byte(5), eff.Selection)
					}
				})
			}
		}
	}
}

func TestSessionVendRecords(t *testing.T) {
	t.Run("success charges and clears the rest", func(t *testing.T) {
		s := sessionIn(t, false, StateVending)
		eff := s.Step(Event{Kind: EvVendResult, Value: 0})
		require.NotNil(t, eff.Record)
		assert.Equal(t, VendRecord{Selection: SelectionUnknown, Price: 50, OK: true}, *eff.Record)
		assert.Zero(t, s.Credit())
		assert.Equal(t, Command{Op: OpAcceptData, Data: 0}, s.Next(), "credit change is announced")
	})
	t.Run("multivend keeps the rest", func(t *testing.T) {
		s := NewSession(SessionConfig{MultiVend: true})
		s.Step(Event{Kind: EvStatus})
		s.Step(Event{Kind: EvGrant, Amount: 100})
		s.Step(Event{Kind: EvVendRequest, Value: 30})
		require.Equal(t, StateVending, s.State())
		s.Step(Event{Kind: EvVendResult})
		assert.Equal(t, uint32(70), s.Credit())
		assert.Equal(t, StateCredit, s.State())
	})
	t.Run("failure charges nothing", func(t *testing.T) {
		s := sessionIn(t, true, StateVending)
		eff := s.Step(Event{Kind: EvVendResult, Value: VendFailed})
		require.NotNil(t, eff.Record)
		assert.Equal(t, VendRecord{Selection: 5, Price: 30, Code: VendFailed}, *eff.Record)
		assert.Equal(t, uint32(100), s.Credit())
	})
	t.Run("silence leaves the outcome unknown", func(t *testing.T) {
		s := sessionIn(t, false, StateVending)
		eff := s.Step(Event{Kind: EvSilence})
		require.NotNil(t, eff.Record)
		assert.ErrorIs(t, eff.Record.Err, ErrTimeout)
		assert.False(t, eff.Record.OK)
		assert.Equal(t, uint32(100), s.Credit())
	})
	t.Run("pnak repeats vend", func(t *testing.T) {
		s := sessionIn(t, false, StateVending)
		s.Step(Event{Kind: EvPNAK})
		assert.Equal(t, Command{Op: OpVend}, s.Next())
	})
	t.Run("dispense is free and single", func(t *testing.T) {
		s := sessionIn(t, true, StateIdle)
		require.NoError(t, s.Step(Event{Kind: EvDispense, Value: 7}).Err)
		eff := s.Step(Event{Kind: EvVendRequest, Value: 7})
		require.True(t, eff.Lookup)
		s.Step(Event{Kind: EvPrice, Amount: 80, Known: true})
		require.Equal(t, StateVending, s.State(), "dispensed selection needs no credit")
		eff = s.Step(Event{Kind: EvVendResult})
		assert.Equal(t, VendRecord{Selection: 7, Price: 80, OK: true, Free: true}, *eff.Record)
		_, armed := s.Armed()
		assert.False(t, armed)
		assert.Equal(t, StateIdle, s.State())
	})
	t.Run("inhibited denies", func(t *testing.T) {
		s := sessionIn(t, false, StateCredit)
		s.Step(Event{Kind: EvStatus, Status: Status{Inhibited: true}})
		eff := s.Step(Event{Kind: EvVendRequest, Value: 10})
		assert.True(t, eff.Denied)
		assert.Equal(t, StateDenied, s.State())
	})
	t.Run("free vend authorises without charge", func(t *testing.T) {
		s := sessionIn(t, false, StateIdle)
		s.Step(Event{Kind: EvStatus, Status: Status{FreeVend: true}})
		s.Step(Event{Kind: EvVendRequest, Value: 10})
		require.Equal(t, StateVending, s.State())
		eff := s.Step(Event{Kind: EvVendResult})
		assert.True(t, eff.Record.Free)
	})
	t.Run("unknown price denies", func(t *testing.T) {
		s := sessionIn(t, true, StatePriceRequest)
		eff := s.Step(Event{Kind: EvPrice, Known: false})
		assert.True(t, eff.Denied)
		assert.Equal(t, StateDenied, s.State())
	})
	t.Run("scale", func(t *testing.T) {
		s := NewSession(SessionConfig{Scale: 5})
		s.Step(Event{Kind: EvStatus})
		s.Step(Event{Kind: EvGrant, Amount: 100})
		assert.Equal(t, byte(20), s.Display())
		s.Step(Event{Kind: EvVendRequest, Value: 21}) // 105 > 100
		assert.Equal(t, StateDenied, s.State())
		s.Step(Event{Kind: EvVendRequest, Value: 20}) // 100
		assert.Equal(t, StateVending, s.State())
	})
	t.Run("grant overflow", func(t *testing.T) {
		s := sessionIn(t, false, StateIdle)
		require.NoError(t, s.Step(Event{Kind: EvGrant, Amount: 1<<32 - 1}).Err)
		assert.ErrorIs(t, s.Step(Event{Kind: EvGrant, Amount: 1}).Err, ErrRange)
		assert.ErrorIs(t, s.Step(Event{Kind: EvGrant, Amount: 0}).Err, ErrRange)
	})
}

func TestSessionOffline(t *testing.T) {
	for _, k := range []EventKind{EvSilence, EvPNAK, EvCorrupt} {
		t.Run(k.String(), func(t *testing.T) {
			s := NewSession(SessionConfig{Retries: 3})
			s.Step(Event{Kind: EvStatus})
			s.Step(Event{Kind: EvGrant, Amount: 40})
			for i := 1; i < 3; i++ {
				s.Step(Event{Kind: k})
				require.Equal(t, StateCredit, s.State(), "failure %d", i)
			}
			s.Step(Event{Kind: k})
			assert.Equal(t, StateOffline, s.State())
			assert.Equal(t, Command{Op: OpStatus}, s.Next())
			assert.Equal(t, uint32(40), s.Credit(), "credit survives a glitch")
			s.Step(Event{Kind: EvStatus})
			assert.Equal(t, StateCredit, s.State())
			assert.Zero(t, s.Failures())
		})
	}
	t.Run("pnak during vend goes offline with a record", func(t *testing.T) {
		s := NewSession(SessionConfig{Retries: 2})
		s.Step(Event{Kind: EvStatus})
		s.Step(Event{Kind: EvGrant, Amount: 100})
		s.Step(Event{Kind: EvVendRequest, Value: 10})
		require.Nil(t, s.Step(Event{Kind: EvPNAK}).Record)
		eff := s.Step(Event{Kind: EvPNAK})
		require.NotNil(t, eff.Record)
		assert.ErrorIs(t, eff.Record.Err, ErrOffline)
		assert.Equal(t, StateOffline, s.State())
	})
}

func TestSessionNextAlternates(t *testing.T) {
	s := sessionIn(t, false, StateIdle)
	var ops []Opcode
	for range 4 {
		ops = append(ops, s.Next().Op)
	}
	assert.Equal(t, []Opcode{OpCredit, OpStatus, OpCredit, OpStatus}, ops, "STATUS brought it online")
}
