// Package evadts reads, validates, writes and compares EVA-DTS audit files,
// the text format a vending machine (VMD) sends over DEX/UCS or DDCMP.
//
// Layer: codec. It sits above the DEX/UCS link layer (package dex), which
// delivers the audit text; this package only sees an io.Reader / io.Writer
// and does no other I/O.
//
// Spec: EVA-DTS 6.2 (Dec 2016) §2.4 (record layout, G85 check value in
// §2.4.3), §2.5-2.8 (product, cash, cashless, event records), §5.1.6 (counter
// arithmetic) and Appendix A (data dictionary). Field positions and the
// real-world deviations accepted here are collected, with their public
// sources, in the project's research notes (research/dex.md §2.2, §3).
//
// Format in short: an audit is a sequence of records ("segments") separated by
// CRLF; each record is an identifier followed by '*'-separated data elements
// (PA1*101*150*Cola). One audit runs from DXS to DXE; the transaction set
// inside runs from ST to SE, and G85 carries a CRC-16/ARC over the text from
// the 'S' of ST through the CRLF before G85, as four hex digits, most
// significant byte first.
//
// Three levels of use:
//
//   - Reader streams segments, in the style of encoding/csv.
//   - Parse / ParseBytes build typed Reports; Report.Validate checks G85 and
//     SE; Encode writes a Report back with a correct G85 and SE.
//   - Sales computes what was sold between two audits of one machine.
//
// Money: EVA-DTS currency fields ("Nc") carry an implied decimal point, so
// every money value in this package is the integer from the file, i.e. an
// amount in minor units. ID401 (Report.Machine.Currency.Decimals) says how
// many of its digits are decimals (2: 150 means 1.50); when ID4 is absent the
// number of decimals is unknown and callers usually assume 2.
package evadts
