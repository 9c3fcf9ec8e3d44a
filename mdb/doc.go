// Package mdb is the bus core of MDB/ICP (Multi-Drop Bus / Internal Communication
// Protocol, version 4.2, NAMA/EVA/EVMMA, Feb 2011 — cited below as [MDB 4.2 §x]).
//
// It covers the codec and framing layers shared by every MDB peripheral, plus the
// link layer contracts:
//
//   - Word: one 9-bit character (8 data bits + the mode bit) [MDB 4.2 §2.1].
//   - Frame and Checksum: a block with its CHK, ACK/RET/NAK [MDB 4.2 §2.2].
//   - Framer: a resumable assembler fed with words in any chunking.
//   - ParmrkDecoder / AppendParmrk: the byte stream a Linux UART delivers with
//     space parity + INPCK + PARMRK (a mode-bit byte b arrives as FF 00 b, a data
//     byte FF as FF FF). The same escaping is used by StreamPort to carry 9-bit
//     words over any 8-bit byte stream (a pseudo-terminal, a socket), which makes
//     it the pty-safe encoding of this project.
//   - Port: a 9-bit word transport (Pipe in memory, StreamPort over bytes,
//     mdb/uart over a real UART).
//   - MasterLink (the VMC's view: Transact) and PeripheralLink (a peripheral's
//     view: Recv/Reply/NAK), implemented over any Port by Master and Peripheral,
//     with the spec's timing taken from Config.
//
// The package imports only the standard library, does no I/O beyond the Port it
// is given and starts no goroutines.
package mdb
