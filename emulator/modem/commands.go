package modem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"vendgate/emulator/machine"
	"vendgate/protocol"
)

// exeResetTimeout bounds the Executive master's reset poll: a VEND in
// progress holds the line for the machine's vend time first.
const exeResetTimeout = 5 * time.Second

// onCommand handles one request from vm/v1/{imei}/cmd/req/{cmdId}. It runs on a paho
// goroutine of its own (OrderMatters is off), so a slow command does not hold others.
func (m *Modem) onCommand(sess *session, topic string, payload []byte) {
	m.mu.Lock()
	m.st.CmdReceived++
	m.mu.Unlock()

	t, terr := protocol.ParseTopic(topic)
	if terr != nil || t.Class != protocol.ClassCommandRequest || t.IMEI != m.cfg.IMEI {
		m.noteError("decode", fmt.Errorf("modem: command on unexpected topic %q", topic))
		return
	}
	req, err := protocol.DecodeCommandRequest(payload)
	if err != nil {
		// Recover the name and expiry if the JSON allows, so the answer can still say
		// "unknown command" or "expired"; the topic's id is authoritative.
		var loose protocol.CommandRequest
		_ = json.Unmarshal(payload, &loose)
		req = loose
	}
	if req.ID != t.CmdID {
		if err == nil {
			err = fmt.Errorf("modem: payload id %q does not match topic id %q", req.ID, t.CmdID)
		}
		req.ID = t.CmdID
	}

	if prev, dup := m.remember(req.ID); dup {
		m.mu.Lock()
		m.st.CmdDuplicates++
		m.mu.Unlock()
		if prev != nil {
			m.enqueue(protocol.CommandResultTopic(m.cfg.IMEI, req.ID), prev, false)
		}
		return
	}

	if req.Exp > 0 && req.Exp <= millis(m.now()) {
		m.answer(req, protocol.StatusExpired, protocol.CodeExpired, "expired before execution", nil)
		return
	}
	if err != nil {
		code := protocol.CodeBadArgs
		if !knownCommand(req.Name) {
			code = protocol.CodeUnknown
		}
		m.noteError("decode", err)
		m.answer(req, protocol.StatusRejected, code, err.Error(), nil)
		return
	}
	args, err := req.DecodeArgs()
	if err != nil {
		m.answer(req, protocol.StatusRejected, protocol.CodeBadArgs, err.Error(), nil)
		return
	}
	if code, why := m.precheck(args); code != protocol.CodeOK {
		m.answer(req, protocol.StatusRejected, code, why, nil)
		return
	}
	m.answer(req, protocol.StatusAccepted, protocol.CodeOK, "", nil)
	m.execute(sess, req, args)
}

// precheck finds the commands the modem will not try (protocol.md §7: answered
// "rejected" directly, without "accepted").
func (m *Modem) precheck(args any) (int, string) {
	switch a := args.(type) {
	case protocol.DispenseArgs:
		if m.cfg.Bus != protocol.BusMDB && m.cfg.Bus != protocol.BusEXE {
			return protocol.CodeUnsupported, "dispense needs an mdb or exe bus"
		}
		if m.exe != nil && !m.exe.PriceHolding() {
			return protocol.CodeUnsupported, exeDispenseRefusal
		}
		if !m.hasSelection(a.Number) {
			return protocol.CodeBadArgs, fmt.Sprintf("no selection %d", a.Number)
		}
		if code, why := m.busPrecheck(); code != protocol.CodeOK {
			return code, why
		}
	case protocol.CashlessAddressArgs:
		if m.exe != nil {
			return protocol.CodeUnsupported, exeAddressRefusal
		}
		if a.Address != 1 && a.Address != 2 {
			return protocol.CodeBadArgs, "address must be 1 or 2"
		}
	case protocol.CashlessCreditArgs:
		if a.Amount <= 0 {
			return protocol.CodeBadArgs, "amount must be > 0"
		}
		if code, why := m.busPrecheck(); code != protocol.CodeOK {
			return code, why
		}
	case protocol.RequestArgs:
		if !a.Report && !a.Config {
			return protocol.CodeBadArgs, "nothing requested"
		}
	case protocol.SetConfigArgs:
		if a.HBInterval != nil && (*a.HBInterval < 1 || *a.HBInterval > 3600) {
			return protocol.CodeBadArgs, "hb_interval must be 1..3600"
		}
	}
	return protocol.CodeOK, ""
}

func (m *Modem) hasSelection(n int) bool {
	for _, s := range m.mach.Selections() {
		if s.Number == n {
			return true
		}
	}
	return false
}

func knownCommand(n protocol.CommandName) bool {
	for _, c := range caps {
		if string(n) == c {
			return true
		}
	}
	return false
}

// remember records id and reports whether it was seen before, with the payload of the
// last answer given to it (nil if none yet). Only the last 32 ids are kept.
func (m *Modem) remember(id string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.cmds[id]; ok {
		if e.last.Status == "" {
			return nil, true
		}
		b, err := encode(e.last)
		if err != nil {
			return nil, true
		}
		return b, true
	}
	m.cmds[id] = &cmdEntry{}
	m.cmdOrder = append(m.cmdOrder, id)
	if len(m.cmdOrder) > rememberedCommands {
		delete(m.cmds, m.cmdOrder[0])
		m.cmdOrder = m.cmdOrder[1:]
	}
	return nil, false
}

// answer publishes a command result and remembers it for repeats of the id.
func (m *Modem) answer(req protocol.CommandRequest, st protocol.Status, code int, msg string, result any) {
	res := protocol.CommandResult{Header: m.header(), Cmd: req.ID, Status: st, Code: code, Message: clip(msg)}
	if result != nil {
		raw, err := jsonRaw(result)
		if err != nil {
			res.Status, res.Code, res.Message = protocol.StatusFailed, protocol.CodeInternal, err.Error()
		} else {
			res.Result = raw
		}
	}
	b, err := encode(res)
	if err != nil {
		// The detail or result broke a rule of the contract: answer without them
		// rather than leave the gateway waiting.
		m.noteError("encode", err)
		res.Message, res.Result = "", nil
		if b, err = encode(res); err != nil {
			return
		}
	}
	m.mu.Lock()
	if e, ok := m.cmds[req.ID]; ok {
		e.last = res
		e.done = res.Status.Terminal()
	}
	m.st.CmdResults[res.Status]++
	m.mu.Unlock()
	m.enqueue(protocol.CommandResultTopic(m.cfg.IMEI, req.ID), b, false)
	if res.Status.Terminal() && m.cfg.OnResult != nil {
		lat := time.Duration(0)
		if req.TS > 0 {
			lat = time.Duration(millis(m.now())-req.TS) * time.Millisecond
		}
		m.cfg.OnResult(req, res, lat)
	}
}

// clip keeps a result message within a sane size for the wire.
func clip(s string) string {
	const maxMsg = 200
	if len(s) > maxMsg {
		return s[:maxMsg]
	}
	return s
}

func (m *Modem) execute(sess *session, req protocol.CommandRequest, args any) {
	ok := func(result any) { m.answer(req, protocol.StatusSucceeded, protocol.CodeOK, "", result) }
	switch a := args.(type) {
	case protocol.ResetArgs:
		if m.mdb != nil {
			m.mdb.Reset() // JUST RESET: the machine re-initialises the reader
		}
		if m.exe != nil {
			// Executive cannot reset the machine: the payment system drops
			// credit and authorisations and polls STATUS once. A silent
			// machine does not stop the modem's own reboot.
			ctx, cancel := context.WithTimeout(context.Background(), exeResetTimeout)
			if err := m.exe.Reset(ctx); err != nil {
				m.noteError("bus", err)
			}
			cancel()
		}
		ok(nil)
		go m.reboot(sess)
	case protocol.CashlessModeArgs:
		m.mu.Lock()
		m.cashless.Enabled = a.Enabled
		m.mu.Unlock()
		if m.mdb != nil {
			m.mdb.SetEnabled(a.Enabled)
		}
		if m.exe != nil {
			m.exe.SetEnabled(a.Enabled)
		}
		ok(nil)
		_ = m.SendHello()
	case protocol.CashlessAddressArgs:
		m.mu.Lock()
		m.cashless.Address = a.Address
		m.mu.Unlock()
		if m.mdb != nil {
			// Answered once the machine has initialised the reader at the new address.
			if err := m.mdb.SetAddress(context.Background(), a.Address); err != nil {
				st, code := busFailure(err)
				m.answer(req, st, code, err.Error(), nil)
				_ = m.SendHello()
				return
			}
		}
		ok(nil)
		_ = m.SendHello()
	case protocol.CashlessCreditArgs:
		if m.payment() != nil {
			m.busCredit(req, a)
			return
		}
		m.credit(req, a)
	case protocol.DispenseArgs:
		if m.payment() != nil {
			m.busDispense(req, a)
			return
		}
		m.dispense(req, a)
	case protocol.RequestArgs:
		if a.Report {
			if err := m.sendAudit(context.Background(), req.ID); err != nil {
				code := protocol.CodeInternal
				if errors.Is(err, ErrDEX) {
					code = protocol.CodeVMUnreachable // the machine did not answer on its DEX jack
				}
				m.answer(req, protocol.StatusFailed, code, err.Error(), nil)
				return
			}
		}
		if a.Config {
			ok(m.configView())
			return
		}
		ok(nil)
	case protocol.SetConfigArgs:
		m.mu.Lock()
		if a.HBInterval != nil {
			m.hb = time.Duration(*a.HBInterval) * time.Second
		}
		if a.Phone != nil {
			m.phone = *a.Phone
		}
		m.mu.Unlock()
		select {
		case m.hbReset <- struct{}{}:
		default:
		}
		ok(nil)
		_ = m.SendHello()
	default:
		m.answer(req, protocol.StatusRejected, protocol.CodeUnknown, fmt.Sprintf("unsupported command %q", req.Name), nil)
	}
}

// credit spends a remote cashless credit on a modem without a payment bus (the
// model is acted on directly): with auto_approve the "customer" takes the
// dearest product the remaining credit covers, up to Vends times.
func (m *Modem) credit(req protocol.CommandRequest, a protocol.CashlessCreditArgs) {
	m.answer(req, protocol.StatusSucceeded, protocol.CodeOK, "", nil)
	if !a.AutoApprove {
		return
	}
	left := a.Amount
	for range max(1, a.Vends) {
		sel, found := m.mach.CheapestUpTo(left)
		if !found {
			return
		}
		rec, err := m.mach.Vend(sel, protocol.PayCashless)
		if rec.Selection != "" {
			_ = m.SendVend(rec, req.ID)
		}
		if err != nil {
			return
		}
		left -= rec.Price
	}
}

// dispense vends a product for free, acting on the model directly (a modem
// whose bus is not emulated).
func (m *Modem) dispense(req protocol.CommandRequest, a protocol.DispenseArgs) {
	rec, err := m.mach.Vend(a.Number, protocol.PayNone)
	if rec.Selection != "" {
		_ = m.SendVend(rec, req.ID)
	}
	switch {
	case errors.Is(err, machine.ErrUnknownSelection):
		m.answer(req, protocol.StatusFailed, protocol.CodeBadArgs, err.Error(), nil)
	case errors.Is(err, machine.ErrOutOfService):
		m.answer(req, protocol.StatusFailed, protocol.CodeVMUnreachable, err.Error(), nil)
	case err != nil:
		m.answer(req, protocol.StatusFailed, protocol.CodeUnsupported, err.Error(), nil)
	default:
		m.answer(req, protocol.StatusSucceeded, protocol.CodeOK, "", map[string]any{"sel": rec.Selection, "price": rec.Price})
	}
}

// configView is the modem's configuration as "request {config}" returns it (no secrets).
func (m *Modem) configView() map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return map[string]any{
		"imei":        m.cfg.IMEI,
		"iccid":       m.cfg.ICCID,
		"firmware":    m.cfg.Firmware,
		"phone":       m.phone,
		"bus":         m.cfg.Bus,
		"cashless":    m.cashless,
		"hb_interval": int(m.hb / time.Second),
		"keepalive":   int(m.cfg.Keepalive / time.Second),
		"broker":      m.cfg.Broker,
	}
}

// reboot acts out a "reset": wait (briefly) until the answers are acknowledged, say
// goodbye with a retained State{online:false, reason:"reboot"}, disconnect cleanly and
// stay offline for RebootDelay; Run then reconnects with a new epoch and uptime 0.
func (m *Modem) reboot(sess *session) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		idle := len(m.queue) == 0 && len(sess.inflight) == 0
		m.mu.Unlock()
		if idle {
			break
		}
		select {
		case <-sess.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	sess.reboot.Store(true)
	m.offline(sess, "reboot")
}
