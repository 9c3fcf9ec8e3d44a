// Package executive implements the Executive ("EXE", MEI/Mars "20 mA
// Protocol A") vending protocol from the payment system's side — in
// Executive the payment system (our modem) is the master and polls the
// vending machine controller (VMC), the inverse of MDB — plus an emulated
// VMC for tests and the emulator.
//
// # Sources
//
// The authoritative document, MEI "20 mA Protocol A Specification"
// (10102-000304001-PS, issue Y01, 1995), is not public. What this package
// takes as fact comes from ../shared/research/mdb.md §4:
//
//   - SOFTJOURN — SoftJourn/vending-control @ 7985f242, Executive.java and
//     ExecutiveTest.java (the only open-source Executive code): commands
//     STATUS 0x31, CREDIT 0x32, VEND 0x33, one byte each; STATUS answer bit 7
//     free vend, bit 6 inhibited, low nibble audit data; CREDIT answer 0xFE =
//     no vend request, anything else = a vend is requested; VEND answer 0x00
//     = success, anything else = failure, with a wait of "at least 60
//     seconds"; 0xFF = PNAK ("wrong request", parity mismatch), retried.
//     Vectors: ../shared/testdata/mdb/executive-softjourn-vectors.txt.
//   - Vendo G-Drink manual (C2/C3), GPE DRX manual, Payter and PicoBridge
//     manuals: price-holding mode (the VMC sends the selection / price-line
//     number and the payment system holds the prices) versus
//     non-price-holding mode (the VMC holds the prices and sends them).
//
// # Layers
//
//   - codec (codec.go): Word, Framing, Command/Opcode, the typed replies
//     Status, CreditReply, VendResult, Ack, PNAK and DecodeReply;
//   - framing (framing.go): CommandDecoder (words → commands, VMC side),
//     DecodeReplyWord (master side: one word per answer), StreamDecoder and
//     AppendStream (words over an 8-bit byte stream, PARMRK-style escapes);
//     all resumable, any chunking;
//   - state machine (session.go): Session, pure (no clock, no I/O);
//   - drivers: Master (master.go) over a Link (link.go: StreamLink, Pipe),
//     and Machine (machine.go), the emulated VMC.
//
// # What the public sources leave open, and what this package chooses
//
// Framing. SOFTJOURN only says a parity bit exists and that the VMC answers
// PNAK when it does not match. Framing offers both readings: a mode bit set
// on the master's command bytes (the MDB convention, default) or even/odd
// parity. Baud rate and 20 mA loop electrics are outside this package;
// confirm the framing on a real machine before field use.
//
// ACCEPT DATA, AUDIT, DATA SYNC, IDENTIFY. No public source gives their
// codes. OpAcceptData (0x38, followed by one data byte) is vendgate's
// placeholder, used to show the credit on the VMC display; Master sends it
// only with Config.AnnounceCredit, the emulated Machine understands it. The
// others are not implemented.
//
// Timing. DefaultResponseTimeout 100 ms for STATUS/CREDIT/ACCEPT DATA (a
// choice: a one-byte answer takes ≈1.1 ms at 9600 baud, and MDB's 5 ms
// t-response proved too tight for real machines — Qibixx lets it be raised
// to 1000 ms); DefaultVendTimeout 60 s for VEND (SOFTJOURN, quoting the
// Executive documentation); DefaultPollInterval 100 ms (inside MDB's 25–200
// ms polling window). All are Config fields.
//
// Retries, NAK and silence. A PNAK repeats the same command at the next poll
// (for VEND too: the VMC did not take it, so nothing was vended). Silence or
// a corrupted answer to STATUS/CREDIT/ACCEPT DATA is simply followed by the
// next poll. After Config.Retries (default 5, SOFTJOURN's retry count)
// failed exchanges in a row the session is StateOffline: only STATUS is
// polled, GrantCredit and Dispense fail with ErrOffline, credit is kept, and
// the first valid answer brings the session back. Poll returns an
// *ExchangeError (errors.Is ErrTimeout / ErrPNAK / ErrParity …, and
// ErrOffline once offline), so a silent machine is reported after one
// ResponseTimeout and declared offline after Retries polls.
//
// How a vend is confirmed. The master sends VEND only after deciding to pay
// for the request (credit ≥ price, or a Dispense of that selection, or the
// VMC's free-vend status; never while STATUS says inhibited). It does not
// repeat VEND on silence — that could vend twice — but waits VendTimeout for
// the single answer: 0x00 = success (credit charged, record OK), another
// byte = failure (nothing charged, record not OK). No answer, or a corrupted
// one, makes the outcome unknown: the record carries Err (ErrTimeout or
// ErrUnexpectedReply) and nothing is charged — the gateway reports the
// doubt rather than guessing.
//
// Denied requests. Executive has no "deny" answer; the master denies a
// request by not sending VEND and keeps polling until the VMC withdraws it
// (CREDIT → 0xFE) or more credit arrives (the request is then re-examined).
//
// Price scaling. Executive values are one byte (0x00–0xFD; 0xFE and 0xFF
// are reserved). Amounts in the API are minor currency units; a price byte p
// is worth p × Config.Scale, and ACCEPT DATA carries credit / Scale capped at
// 0xFD. In price-holding mode prices come from Config.Prices and may exceed
// the byte range.
//
// Credit. GrantCredit adds to the credit on offer. After a successful vend
// the remaining credit is cleared unless Config.MultiVend is set. Dispense
// (price-holding only: in the other mode the VMC never says which product
// was chosen) authorises one free vend of a selection; Executive gives the
// master no command to start a vend, so someone still has to press it.
// Reset clears credit, authorisations and the pending request (a VEND
// already sent still produces its record) and polls STATUS once; there is
// no publicly documented command to reset the VMC itself.
//
// Known limits. Executive answers are single bytes that do not name the
// command they answer, so a late answer can be taken for the next one's. The
// master therefore waits for a quiet line (one ResponseTimeout) before the
// next command after any failed exchange, and never re-sends VEND on
// silence; the emulated Machine, like a VMC busy vending, drops what it
// receives while it vends. Not implemented: AUDIT, DATA SYNC, IDENTIFY (codes
// unknown), the "Master/Slave executive" and BDV variants, price display.
//
// The package imports only the standard library (it does not depend on
// package mdb; its Word and Link have the same shapes as mdb's Word and
// Port). It starts no goroutines and does no I/O beyond the Link it is given.
package executive
