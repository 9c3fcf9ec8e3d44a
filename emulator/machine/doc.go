// Package machine is a simple, deterministic model of a vending machine used by the
// modem emulator (emulator/modem) and by "vendemu vm": N selections with prices and
// stock, sales counters since initialisation and since the last reset, door and fault
// flags, a queue of machine events, and an EVA-DTS audit built from the counters.
//
// It is the "device" layer of the emulator: the model does no I/O and starts no
// goroutines. CashlessVMC (cashless.go) is the machine's MDB controller for a
// cashless reader (MDB 4.2 §7): it drives an mdb.MasterLink handed to it, in the
// goroutine that calls its Run, and plays the customer of each session.
// ExecutiveVMC (executive.go) is the machine's side of an Executive link,
// where the payment system polls the machine (mdb/executive): it answers
// through an executive.Machine, vends on the model when VEND arrives, and
// runs, in one goroutine of its own joined by Run, the customer who presses
// a selection when credit shows on the display or a visit is planned.
// Randomness comes from a seeded source and time from a Now function, so two machines
// made with the same Config behave identically.
//
// The audit is an evadts.Report (EVA-DTS 6.2 §2.5–2.8: ID1, ID4, VA1, VA3, CA2, CA3,
// DA2, EA2, EA3, EA4, EA7, PA1/PA2/PA4 per selection) written by evadts.Encode, which
// computes G85 (CRC-16/ARC over ST..the CRLF before G85, §2.4.3) and SE. The machine
// serves it over the DEX link through dex.Slave (emulator/modem, cmd/vendemu vm).
package machine
