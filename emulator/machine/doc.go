// Package machine is a simple, deterministic model of a vending machine used by the
// modem emulator (emulator/modem): N selections with prices and stock, sales counters
// since initialisation, door and fault flags, a queue of machine events, and an
// EVA-DTS audit rendered from the counters.
//
// It is the "device" layer of the emulator: it does no I/O and starts no goroutines.
// Randomness comes from a seeded source and time from a Now function, so two machines
// made with the same Config behave identically.
//
// The audit follows EVA-DTS 6.x data-transfer-standard layout (DXS, ST, ID1, VA1, CA2,
// DA2, PA1/PA2 per selection, G85, SE, DXE); G85 is CRC-16/ARC over the text from the
// "S" of ST through the CRLF that ends the record before G85 (EVA-DTS §2.4.3, see
// shared/research/dex.md §2.2).
package machine
