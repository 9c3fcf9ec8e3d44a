package modem

import (
	"context"
	"errors"
	"strconv"
	"time"

	"vendgate/emulator/bus"
	"vendgate/emulator/machine"
	"vendgate/protocol"
)

// busPrecheck refuses remote payments the reader cannot start: payments
// switched off by cashless_mode, or another credit/dispense in flight.
func (m *Modem) busPrecheck() (int, string) {
	if m.mdb == nil {
		return protocol.CodeOK, ""
	}
	m.mu.Lock()
	on := m.cashless.Enabled
	m.mu.Unlock()
	switch {
	case !on:
		return protocol.CodeUnsupported, "cashless payments are disabled (cashless_mode 0)"
	case m.mdb.Busy():
		return protocol.CodeBusy, "a remote credit or dispense is in progress"
	}
	return protocol.CodeOK, ""
}

// busFailure maps a bus error to the terminal status and result code.
func busFailure(err error) (protocol.Status, int) {
	switch {
	case errors.Is(err, bus.ErrBusy), errors.Is(err, bus.ErrInterrupted):
		return protocol.StatusFailed, protocol.CodeBusy
	case errors.Is(err, bus.ErrDisabled), errors.Is(err, bus.ErrVendFailed):
		return protocol.StatusFailed, protocol.CodeUnsupported
	case errors.Is(err, bus.ErrNoVend):
		return protocol.StatusFailed, protocol.CodeTimeout
	case errors.Is(err, bus.ErrNotRunning), errors.Is(err, bus.ErrNoSession), errors.Is(err, bus.ErrNoInit):
		return protocol.StatusFailed, protocol.CodeVMUnreachable
	}
	return protocol.StatusFailed, protocol.CodeInternal
}

// sendBusVend queues the vend the reader saw, for command cmdID.
func (m *Modem) sendBusVend(v bus.Vend, payment protocol.Payment, cmdID string) {
	rec := machine.VendRecord{
		Selection: strconv.Itoa(v.Selection), Number: v.Selection, Price: v.Price,
		Payment: payment, Type: protocol.VendPaid, OK: v.OK, Time: v.Time,
	}
	for _, s := range m.mach.Selections() {
		if s.Number == v.Selection {
			rec.Selection = s.Code
		}
	}
	if payment == protocol.PayNone {
		rec.Type = protocol.VendFree
	}
	if err := m.SendVend(rec, cmdID); err != nil {
		m.noteError("encode", err)
	}
}

// busResult is the result object of a credit or dispense that vended.
func busResult(res bus.Result) map[string]any {
	out := map[string]any{"vends": res.OK(), "charged": res.Charged()}
	for _, v := range res.Vends {
		if v.OK {
			out["sel"], out["price"] = strconv.Itoa(v.Selection), v.Price
			break
		}
	}
	return out
}

// busCredit grants the credit on the reader; the machine's customer buys,
// each vend goes up as a cashless paid vend naming the command, and the
// command succeeds once the session has ended with at least one vend.
func (m *Modem) busCredit(req protocol.CommandRequest, a protocol.CashlessCreditArgs) {
	res, err := m.mdb.Credit(context.Background(), bus.CreditRequest{
		Amount: a.Amount, AutoApprove: a.AutoApprove, Vends: a.Vends,
		Timeout: time.Duration(a.Timeout) * time.Second,
		OnVend:  func(v bus.Vend) { m.sendBusVend(v, protocol.PayCashless, req.ID) },
	})
	m.busAnswer(req, res, err)
}

// busDispense pays for one vend of the selection through the reader. MDB 4.2
// cannot make the machine vend by itself (see emulator/bus doc.go): the
// emulated customer is told to press the selection. The vend goes up as a
// free vend (payment none): the operator, not a customer, paid for it.
func (m *Modem) busDispense(req protocol.CommandRequest, a protocol.DispenseArgs) {
	res, err := m.mdb.Dispense(context.Background(), a.Number, 0, func(v bus.Vend) {
		m.sendBusVend(v, protocol.PayNone, req.ID)
	})
	m.busAnswer(req, res, err)
}

func (m *Modem) busAnswer(req protocol.CommandRequest, res bus.Result, err error) {
	if err != nil {
		st, code := busFailure(err)
		m.answer(req, st, code, err.Error(), nil)
		return
	}
	m.answer(req, protocol.StatusSucceeded, protocol.CodeOK, "", busResult(res))
}
