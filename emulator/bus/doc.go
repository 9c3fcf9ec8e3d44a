// Package bus joins an emulated modem's payment-bus side to an emulated
// machine's controller, in process, so remote commands travel the real
// protocol. Two buses:
//
//   - MDB (mdb.go): the modem's cashless reader (mdb/cashless Peripheral)
//     and the machine's VMC (emulator/machine CashlessVMC) talk MDB over an
//     mdb.Pipe [MDB 4.2 §7], with the spec's link timing relaxed for an
//     in-memory wire. The machine polls the modem.
//   - EXE (exe.go): Executive, the other way round — the modem's payment
//     system (mdb/executive Master) polls the machine's controller
//     (emulator/machine ExecutiveVMC, an executive.Machine tied to the model)
//     over an executive.Pipe. What Executive allows is listed on EXE; the
//     protocol's public sources and gaps are in mdb/executive doc.go.
//
// Both offer the same remote operations where the protocol allows: Credit,
// Dispense, SetEnabled, SetAddress, Reset, each returning the vends as
// Result.
//
// Layer: driver of the emulator, between the modem (emulator/modem, which
// turns protocol commands into calls here) and the machine model. MDB and
// EXE own the goroutines of both bus ends while Run runs.
//
// The rest of this comment is about MDB.
//
// What a remote operator gets over MDB 4.2, and what the emulator adds:
//
//   - Credit: the reader opens a session with the funds (BEGIN SESSION); the
//     emulated customer buys and the reader approves within the funds.
//     Credit returns when the session has ended (SESSION COMPLETE or a
//     reset), so a following command finds the reader idle.
//   - Dispense: MDB 4.2 gives a reader no command to select or vend a product
//     (see mdb/cashless doc.go). The reader opens a session with unknown
//     funds and approves only that item; someone must still press it. The
//     emulator tells the machine's customer which selection to press
//     (CashlessVMC.Expect) — on a real machine a person has to be there.
//     The machine counts the vend as a cashless sale (it cannot tell); the
//     modem reports it as a free vend (payment none), since the operator,
//     not a customer, paid.
//   - Enable/disable is local policy of the reader (no sessions, vend
//     requests denied): a reader cannot switch itself off towards the VMC.
//   - Address change moves the reader to cashless #1/#2 and announces JUST
//     RESET; the emulated VMC is re-pointed too (a real one needs its service
//     menu) and runs its init sequence at the new address.
//   - Reset: the reader resets itself (JUST RESET) so the VMC re-initialises
//     it; a reader cannot reset the VMC.
package bus
