// Package vmc plays a vending machine controller on a DEX/UCS line: it
// serves the audit of an emulated machine (emulator/machine) with a
// dex.Slave, keeps the machine trading at a configured vend rate so
// successive audits differ, and can inject line faults (corrupt blocks, a
// machine that goes silent) for testing readers.
//
// Layer: driver of the emulator, above the machine model and the dex driver
// (EVA-DTS 6.2 chapter 4: §4.4 blocks, §4.5 session). It owns the goroutine
// that makes the vends; the line (a serial port, a pseudo-terminal, a pipe)
// is handed to it by the caller (cmd/vendemu "vm").
package vmc
