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

// payBus is what credit and dispense need of a payment bus; *bus.MDB and
// *bus.EXE both provide it.
type payBus interface {
	Busy() bool
	Credit(ctx context.Context, req bus.CreditRequest) (bus.Result, error)
	Dispense(ctx context.Context, sel int, timeout time.Duration, onVend func(bus.Vend)) (bus.Result, error)
}

// payment returns the emulated payment bus, or nil when Bus is none.
func (m *Modem) payment() payBus {
	switch {
	case m.mdb != nil:
		return m.mdb
	case m.exe != nil:
		return m.exe
	}
	return nil
}

// busPrecheck refuses remote payments the bus cannot start: payments
// switched off by cashless_mode, or another credit/dispense in flight.
func (m *Modem) busPrecheck() (int, string) {
	pb := m.payment()
	if pb == nil {
		return protocol.CodeOK, ""
	}
	m.mu.Lock()
	on := m.cashless.Enabled
	m.mu.Unlock()
	switch {
	case !on:
		return protocol.CodeUnsupported, "cashless payments are disabled (cashless_mode 0)"
	case pb.Busy():
		return protocol.CodeBusy, "a remote credit or dispense is in progress"
	}
	return protocol.CodeOK, ""
}

// exeDispenseRefusal is why a dispense is refused on an Executive bus in
// non-price-holding mode.
const exeDispenseRefusal = "dispense needs executive price-holding mode: in non-price-holding mode " +
	"the machine reports only the price of the pressed selection, so a vend of one selection cannot be authorised"

// exeAddressRefusal is why cashless_address is refused on an Executive bus.
const exeAddressRefusal = "executive has no bus addresses: one payment system on a point-to-point loop"

// busFailure maps a bus error to the terminal status and result code.
func busFailure(err error) (protocol.Status, int) {
	switch {
	case errors.Is(err, bus.ErrBusy), errors.Is(err, bus.ErrInterrupted):
		return protocol.StatusFailed, protocol.CodeBusy
	case errors.Is(err, bus.ErrDisabled), errors.Is(err, bus.ErrVendFailed), errors.Is(err, bus.ErrUnsupported):
		return protocol.StatusFailed, protocol.CodeUnsupported
	case errors.Is(err, bus.ErrNoVend):
		return protocol.StatusFailed, protocol.CodeTimeout
	case errors.Is(err, bus.ErrNotRunning), errors.Is(err, bus.ErrNoSession), errors.Is(err, bus.ErrNoInit),
		errors.Is(err, bus.ErrOffline):
		return protocol.StatusFailed, protocol.CodeVMUnreachable
	}
	return protocol.StatusFailed, protocol.CodeInternal
}

// unknownSelection is the vend's selection when the bus does not say which
// product it was: Executive in non-price-holding mode reports only prices.
const unknownSelection = "?"

// selCode names the bus's selection number as the machine does.
func (m *Modem) selCode(n int) string {
	if n < 0 {
		return unknownSelection
	}
	for _, s := range m.mach.Selections() {
		if s.Number == n {
			return s.Code
		}
	}
	return strconv.Itoa(n)
}

// sendBusVend queues the vend the bus saw, for command cmdID.
func (m *Modem) sendBusVend(v bus.Vend, payment protocol.Payment, cmdID string) {
	rec := machine.VendRecord{
		Selection: m.selCode(v.Selection), Number: v.Selection, Price: v.Price,
		Payment: payment, Type: protocol.VendPaid, OK: v.OK, Time: v.Time,
	}
	if payment == protocol.PayNone {
		rec.Type = protocol.VendFree
	}
	if err := m.SendVend(rec, cmdID); err != nil {
		m.noteError("encode", err)
	}
}

// busResult is the result object of a credit or dispense that vended.
func (m *Modem) busResult(res bus.Result) map[string]any {
	out := map[string]any{"vends": res.OK(), "charged": res.Charged()}
	for _, v := range res.Vends {
		if v.OK {
			out["sel"], out["price"] = m.selCode(v.Selection), v.Price
			break
		}
	}
	return out
}

// busCredit grants the credit on the bus; the machine's customer buys,
// each vend goes up as a cashless paid vend naming the command, and the
// command succeeds once the session (MDB) or the credit's visit (Executive:
// Vends vends, a failed vend or the timeout) has ended with at least one vend.
func (m *Modem) busCredit(req protocol.CommandRequest, a protocol.CashlessCreditArgs) {
	res, err := m.payment().Credit(context.Background(), bus.CreditRequest{
		Amount: a.Amount, AutoApprove: a.AutoApprove, Vends: a.Vends,
		Timeout: time.Duration(a.Timeout) * time.Second,
		OnVend:  func(v bus.Vend) { m.sendBusVend(v, protocol.PayCashless, req.ID) },
	})
	m.busAnswer(req, res, err)
}

// busDispense pays for one vend of the selection through the bus. Neither
// MDB 4.2 nor Executive can make the machine vend by itself (see
// emulator/bus doc.go): the emulated customer is told to press the
// selection. The vend goes up as a free vend (payment none): the operator,
// not a customer, paid for it.
func (m *Modem) busDispense(req protocol.CommandRequest, a protocol.DispenseArgs) {
	res, err := m.payment().Dispense(context.Background(), a.Number, 0, func(v bus.Vend) {
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
	m.answer(req, protocol.StatusSucceeded, protocol.CodeOK, "", m.busResult(res))
}
