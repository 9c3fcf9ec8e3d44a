// Package dex is the DEX/UCS link layer: how a data carrier (DC, the audit
// reader or telemetry modem) and a vending machine device (VMD) exchange an
// audit over the DEX jack. The payload is opaque bytes; parsing EVA-DTS text
// is package dex/evadts.
//
// Source: EVA-DTS 6.2 (Dec 2016) chapter 4 "DEX/UCS" (§4.4 data link, §4.5
// session, §4.5.8 timers) and §6.1.2 (CRC), built on the transparent-text
// rules of binary synchronous communication (BSC) that UCS inherits. Facts
// and their public sources are collected in shared/research/dex.md.
//
// The package has four layers, each usable on its own:
//
//   - codec (crc.go, codec.go): CRC-16/ARC, control characters, block and
//     handshake encoding, handshake message parsing. Pure functions.
//   - framing (frame.go): Decoder, a resumable byte-fed decoder that turns
//     any chunking of the wire stream into Frames and resynchronises after a
//     corrupt block.
//   - state machine (session.go): Session, the pure, clock-free session
//     logic for both roles (reader and machine) and both handshake styles
//     (DC master and VMD master), driven by Step(Event) (Output, error).
//   - driver (driver.go): Master.Read and Slave.Serve, which own the I/O,
//     the timers (Config) and the reader goroutine, if any.
//
// The package imports only the standard library, starts no goroutine it does
// not own and never logs.
package dex
