// Package qibixx speaks the host-side text protocol of the Qibixx MDB-USB and
// MDB Pi Hat adapters, which handle the MDB 9th bit, the 5 ms response timing
// and the ACK/RET/NAK retries themselves, so the host sees lines, not
// 9-bit words (research notes mdb.md §3.3; vectors in
// testdata/mdb/qibixx-text-api-sessions.txt).
//
// Layers:
//
//   - codec: Parse / Message.String for every documented line: cashless slave
//     commands (C,…) and reports (c,…), cashless master (D,… / d,…), r,ACK,
//     sniffer (X,… / x,…), configuration (F,…) and error lines (…,ERR,…);
//     Amount for the adapter's decimal money;
//   - framing: Framer / LineReader, a resumable line framer over a byte
//     stream in any chunking;
//   - state machine + driver: Reader, the cashless slave as the gateway's
//     modem uses it (the adapter emulates a reader on the machine's bus and
//     the host decides), and Sniff / Sorter, which turn sniffer lines into
//     mdb.Frame values for the bus decoders.
//
// What the public Qibixx pages say (docs.qibixx.com, pages api-general,
// api-sniff, vending-sessions-examples, cashless-device-accept-a-vend-request-
// from-vmc-in-always-idle, cashless-vmc-dispense-a-product-in-always-idle-mode,
// api-configuration, as summarised in the research notes):
//
//   - host link 115200 8N1, lines end with "\n"; upper-case prefixes are sent
//     by the host, lower-case ones by the adapter; C/c = cashless slave,
//     D/d = cashless master, X/x = sniffer, F = configuration; "r,ACK" means
//     the VMC acknowledged our slave's data;
//   - slave: "C,1" enable, "C,0" disable, "C,SETCONF,<p>=<v>" with the slave
//     disabled; reports c,STATUS,INACTIVE|DISABLED|ENABLED|IDLE and
//     "c,STATUS,VEND,<amount>,<product>"; the host approves with
//     "C,VEND,<amount>" or denies with "C,STOP"; then "c,VEND,SUCCESS",
//     c,STATUS,IDLE, c,STATUS,ENABLED — or "c,ERR,VEND 3" when the product
//     failed to dispense;
//   - master: "D,1" authorization first, "D,2" always idle, "D,READER,1",
//     "D,REQ,<price>,<item>", "D,END" (vend success) / "D,END,-1" (failure);
//     reports d,STATUS,RESET|INIT,<n>|IDLE|VEND|RESULT,<n>,<amount>;
//   - sniffer: "X,1" → "x,ACK"; then "x,aa,tttttttttt,yy,data" per block (see
//     Sniff); lines may arrive a few ms out of order, sort by timestamp;
//   - "F,RESPTIMEOUT,<10..1000>" (master response timeout, ms),
//     "F,SERIAL,<baud>".
//
// Where the pages are silent, this package chooses:
//
//   - "C,START,<funds>" (authorization first, start a session with credit)
//     is taken as the task names it; the page copies consulted cut off there,
//     so its reply lines are not known and StartSession only checks that the
//     slave is Enabled. EndSession sends "C,STOP" too: no other session-end
//     command is documented;
//   - a "c,VEND,<word>" other than SUCCESS, and any "c,ERR,VEND…", is a vend
//     failure; other ERR lines are plain errors with the text kept verbatim;
//   - "c,1" after C,1 (seen in the two-device example) is a mode reply and
//     not an event; "r,ACK" is not an event either;
//   - the sniffer's data excludes the CHK (the capture's SETUP and READER
//     CONFIG blocks have exactly their data bytes), so Sniff.Frame builds
//     frames with a correct CHK; the low bits of the block status are
//     reported as *BusError without names (the page's error-code table was
//     not in our copy); NAK and RET are accepted as words like ACK;
//   - timing: Enable waits Config.ReplyTimeout (1 s) for the adapter's first
//     report; an undecided vend request is denied after
//     Config.DecisionTimeout (25 s, inside the 30 s the Qibixx reader
//     announces in READER CONFIG); the Sorter holds sniffed blocks 20 ms.
//
// The package imports only the standard library and package mdb, does I/O
// only on the io.ReadWriter it is given (the caller opens the serial port,
// e.g. with internal/serialport at 115200 8N1) and starts no goroutines
// besides the timers of Reader's decision timeout.
package qibixx
