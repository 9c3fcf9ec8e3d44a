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
// Levels of use:
//
//   - Reader streams segments, in the style of encoding/csv.
//   - Index builds a View: a zero-copy index of the audits in a byte slice
//     (where each record lies, plus each audit's G85 and SE outcome) in one
//     pass, several times faster than building Reports. Audit.Validate
//     checks G85 and SE without building anything; Audit.Find / All /
//     Records give records whose elements are decoded on demand
//     (Record.Field, Text, Int); Audit.Machine, Meters, Cash, Products,
//     Events … build one typed section; View.Reports builds them all.
//   - Parse / ParseBytes build typed Reports; Report.Validate checks G85 and
//     SE; Encode writes a Report back with a correct G85 and SE.
//   - Sales computes what was sold between two audits of one machine.
//
// Which to use: to validate audits, to ingest a stream of them (store the
// bytes, index the verdict and the machine identity), or to read a few
// fields, use Index and the View. To work with the whole typed audit (JSON,
// Sales, Encode), use ParseBytes (which runs Index and View.Reports) or
// Parse for an io.Reader. Both read identically: the View path and the
// Reader path give the same reports, errors and validation for any input
// (FuzzIndex checks this).
//
// Money: EVA-DTS currency fields ("Nc") carry an implied decimal point, so
// every money value in this package is the integer from the file, i.e. an
// amount in minor units. ID401 (Report.Machine.Currency.Decimals) says how
// many of its digits are decimals (2: 150 means 1.50); when ID4 is absent the
// number of decimals is unknown and callers usually assume 2.
package evadts
