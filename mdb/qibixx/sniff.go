package qibixx

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"vendgate/mdb"
)

// Sniff is one sniffer line "x,aa,tttttttttt,yy,data" (QBX api-sniff):
//
//   - aa: block status, two hex digits; 0x80 set = sent by the slave
//     (peripheral), clear = sent by the master (VMC); the low bits carry error
//     information and are 0 normally;
//   - tttttttttt: when the block started, in 0.1 ms ticks (10 digits);
//   - yy: the first byte (address + command) of a master block;
//   - data: the remaining bytes in hex, without the CHK, or "ACK".
//
// A slave block has no yy field ("x,80,0000001234,00" is JUST RESET), and a
// lone response code is written as a word ("x,00,0000001300,ACK").
type Sniff struct {
	Status byte
	Time   uint64 // 0.1 ms ticks since the adapter started
	// Code is "ACK", "NAK" or "RET" for a lone response code; otherwise "".
	Code   string
	HasCmd bool // the line had the yy field
	Cmd    byte
	Data   []byte // nil when empty
}

// Sniff status bits (QBX api-sniff).
const (
	SniffFromSlave byte = 0x80 // block sent by the slave (peripheral)
	SniffErrorMask byte = 0x7F // error information; the codes are not in our copy of the page
)

// TickDuration is the resolution of Sniff.Time (QBX api-sniff: "0.1ms").
const TickDuration = 100 * time.Microsecond

// Prefix implements Message.
func (Sniff) Prefix() Prefix { return PrefixSniff }

// String implements Message. Hex is written in lower case as on the page.
func (s Sniff) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "x,%02x,%010d,", s.Status, s.Time)
	switch {
	case s.Code != "":
		sb.WriteString(s.Code)
	case s.HasCmd:
		fmt.Fprintf(&sb, "%02x,%s", s.Cmd, hex.EncodeToString(s.Data))
	default:
		sb.WriteString(hex.EncodeToString(s.Data))
	}
	return sb.String()
}

// Elapsed is Time as a duration.
func (s Sniff) Elapsed() time.Duration { return time.Duration(s.Time) * TickDuration }

// FromSlave reports whether the peripheral sent the block.
func (s Sniff) FromSlave() bool { return s.Status&SniffFromSlave != 0 }

func parseSniff(line string, f []string) (Message, error) {
	bad := func(field int, what string) (Message, error) {
		return nil, &ParseError{Line: line, Field: field, Err: fmt.Errorf("%w: %s", ErrSyntax, what)}
	}
	if len(f) > 4 {
		return bad(5, "too many fields for x,aa,tttttttttt,yy,data")
	}
	var s Sniff
	st, err := hex.DecodeString(f[0])
	if err != nil || len(st) != 1 {
		return bad(1, "block status must be two hex digits")
	}
	s.Status = st[0]
	if f[1] == "" || len(f[1]) > 19 || !allDigits(f[1]) {
		return bad(2, "timestamp must be decimal digits")
	}
	s.Time, _ = strconv.ParseUint(f[1], 10, 64)
	rest := f[2:]
	if len(rest) == 1 {
		switch rest[0] {
		case "ACK", "NAK", "RET":
			s.Code = rest[0]
			return s, nil
		}
	}
	if len(rest) == 2 {
		c, err := hex.DecodeString(rest[0])
		if err != nil || len(c) != 1 {
			return bad(3, "command code must be two hex digits")
		}
		s.HasCmd, s.Cmd = true, c[0]
		rest = rest[1:]
	}
	if rest[0] != "" {
		if s.Data, err = hex.DecodeString(rest[0]); err != nil {
			return bad(len(f), "data must be hex bytes")
		}
	}
	return s, nil
}

// BusError is the error information of a sniffed block (the low bits of the
// status byte).
type BusError struct{ Code byte }

// Error implements error.
func (e *BusError) Error() string { return fmt.Sprintf("qibixx: sniffer bus error %02X", e.Code) }

// ErrEmptyBlock marks a sniffed data block with no byte at all.
var ErrEmptyBlock = errors.New("qibixx: empty sniffed block")

// Frame converts s to the bus frame it describes. The sniffer leaves the CHK
// out, so a block always has a valid CHK when re-encoded; error bits in the
// status become Frame.Err (*BusError).
func (s Sniff) Frame() mdb.Frame {
	fr := mdb.Frame{Dir: mdb.FromVMC, Kind: mdb.KindBlock}
	if s.FromSlave() {
		fr.Dir = mdb.FromPeripheral
	}
	switch s.Code {
	case "ACK":
		fr.Kind = mdb.KindACK
	case "NAK":
		fr.Kind = mdb.KindNAK
	case "RET":
		fr.Kind = mdb.KindRET
	default:
		if s.HasCmd {
			fr.Data = append(fr.Data, s.Cmd)
		}
		fr.Data = append(fr.Data, s.Data...)
		if len(fr.Data) == 0 {
			fr.Err = ErrEmptyBlock
		}
	}
	if c := s.Status & SniffErrorMask; c != 0 && fr.Err == nil {
		fr.Err = &BusError{Code: c}
	}
	return fr
}

// Sorter puts sniffed blocks back in time order. The adapter receives master
// and slave traffic on separate ports and queues each block when it is
// complete, so lines may reach the host a few milliseconds out of order;
// "sorting by timestamp guarantees the messages are in the right sequence"
// (QBX api-sniff). Push holds each block until one at least Window later has
// been seen; Flush releases the rest (call it when the line goes quiet).
type Sorter struct {
	// Window in 0.1 ms ticks; 0 means DefaultSortWindow.
	Window uint64
	held   []Sniff
}

// DefaultSortWindow is 20 ms: the page says late lines come "few ms" late,
// "not 50ms later", and a VMC polls every 25–200 ms [MDB 4.2 §2.4.3], so this
// keeps the order without holding a whole poll cycle back.
const DefaultSortWindow = 200

// Push adds s and returns the blocks now safe to print, oldest first.
func (o *Sorter) Push(s Sniff) []Sniff {
	w := o.Window
	if w == 0 {
		w = DefaultSortWindow
	}
	// Insert after every block with Time <= s.Time: equal stamps keep arrival order.
	i, _ := slices.BinarySearchFunc(o.held, s.Time, func(h Sniff, t uint64) int {
		if h.Time <= t {
			return -1
		}
		return 1
	})
	o.held = slices.Insert(o.held, i, s)
	newest := o.held[len(o.held)-1].Time
	n := 0
	for n < len(o.held) && o.held[n].Time+w <= newest {
		n++
	}
	if n == 0 {
		return nil
	}
	out := slices.Clone(o.held[:n])
	o.held = slices.Delete(o.held, 0, n)
	return out
}

// Flush returns every held block, oldest first.
func (o *Sorter) Flush() []Sniff {
	out := o.held
	o.held = nil
	return out
}

// Len is the number of held blocks.
func (o *Sorter) Len() int { return len(o.held) }
