// Package modem is a software telemetry modem: it connects to the gateway's MQTT broker
// exactly like a real device (it never imports gateway code) and speaks protocol v1
// (package protocol, docs/protocol.md).
//
// It is the "driver" layer of the emulator, on top of the machine model
// (emulator/machine). It is the only package of vendgate that imports
// github.com/eclipse/paho.mqtt.golang outside tests.
//
// Session (docs/protocol.md "Connection"): client id = username = IMEI, clean
// session, keepalive > 0, and a Last Will that is a retained QoS 1
// State{online:false, epoch:N, reason:"lwt"} on vm/v1/{imei}/state, where the epoch N
// is incremented before every CONNECT attempt and kept across reconnects (protocol.md
// §6). After CONNACK the modem publishes the retained State{online:true}, publishes
// Hello and subscribes vm/v1/{imei}/cmd/req/+ at QoS 1. Every uplink is QoS 1: the PUBACK means "stored by
// the gateway", so a message counts as acked only then.
//
// Each connection attempt uses a fresh paho client with its own Will, because the Will
// carries the epoch of the session it belongs to; reconnection (exponential backoff
// with jitter) is therefore done here rather than by paho's auto-reconnect.
// Uplinks made while offline are kept in a bounded buffer (oldest dropped first) and
// sent after the next connect; messages in flight when a connection drops are sent
// again (at least once; the gateway deduplicates by message id).
//
// Commands (protocol.md §7): the modem answers "accepted" and then a terminal status;
// a command it cannot run is answered "rejected" directly. It remembers the
// results of the last 32 command ids and answers a repeated id with its stored result
// without executing it again, and answers "expired" to a command whose exp has passed.
//
// Audits (request{report}, SendAudit) are read from the machine the way a modem on
// the DEX jack reads them (EVA-DTS 6.2 chapter 4): a dex.Slave serving the machine's
// audit and a dex.Master reading it, joined by an in-memory line (net.Pipe), with
// the spec's timeouts but no turnaround delays (Config.DEX). The audit goes up on
// port 2 (DEX); a failed read answers the command failed, CodeVMUnreachable.
//
// Payment bus (Bus mdb): while Run runs, the modem's cashless reader
// (mdb/cashless Peripheral) and the machine's VMC (machine.CashlessVMC) talk MDB
// over an in-memory pipe (package emulator/bus, Config.MDB). cashless_mode,
// cashless_address, cashless_credit, dispense and reset act on the reader:
// cashless_credit grants a session, the machine's customer buys, each vend goes
// up as a vend (payment cashless, type paid, cmd = the command id), and the
// command succeeds once the session has ended with a vend — or fails with
// CodeTimeout when the customer bought nothing, CodeVMUnreachable when the
// machine never opened a session. dispense pays one vend of the selection:
// MDB 4.2 cannot make a machine vend by itself, so the emulated customer is told
// to press it; the vend goes up as payment none, type free (the operator paid).
// cashless_address succeeds once the machine has re-initialised the reader at
// the new address; reset announces JUST RESET on the bus and reboots the modem.
// Credit and dispense are refused (rejected) while cashless payments are off
// (CodeUnsupported) or another one runs (CodeBusy).
//
// Payment bus (Bus exe): while Run runs, the modem's payment system
// (mdb/executive Master, Config.EXE) polls the machine's controller
// (machine.ExecutiveVMC) over an in-memory executive.Pipe — in Executive the
// payment system is the master. cashless_credit grants the credit
// (GrantCredit); the machine's customer sees it on the display and buys;
// each vend goes up as payment cashless, type paid, cmd = the command id,
// and the command succeeds after the credit's vends (or a failed vend), or
// fails with CodeTimeout when nothing was bought within the credit's timeout
// (Executive has no session whose end would say "the customer left"); what
// is left of the credit is then withdrawn. In non-price-holding mode the
// machine reports only prices, so the vend's selection is "?". dispense
// needs price-holding mode (Config.EXE.PriceHolding): Dispense(selection)
// authorises one free vend, the emulated customer presses it and the vend
// goes up as payment none, type free; in non-price-holding mode it is
// rejected CodeUnsupported, because the machine never says which selection
// was pressed. cashless_address is rejected CodeUnsupported: Executive has
// no bus addresses. cashless_mode 0 refuses credit and dispense
// (CodeUnsupported) until cashless_mode 1. reset resets the master's session
// (credit and authorisations dropped, one STATUS poll — there is no public
// Executive command that resets the machine) and reboots the modem. A
// machine that does not answer the polls fails a credit or dispense with
// CodeVMUnreachable.
//
// Without a bus (Bus none) credit and dispense act on the machine model
// directly.
package modem
