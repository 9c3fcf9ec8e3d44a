package qibixx

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Codec errors. Parse wraps them in a *ParseError naming the field.
var (
	// ErrEmpty is returned for an empty line.
	ErrEmpty = errors.New("qibixx: empty line")
	// ErrSyntax is returned for a line or field that does not have the
	// documented shape.
	ErrSyntax = errors.New("qibixx: syntax error")
	// ErrAmount is returned for a malformed money amount.
	ErrAmount = errors.New("qibixx: bad amount")
	// ErrLineTooLong is returned by the framer for a line longer than its limit.
	ErrLineTooLong = errors.New("qibixx: line too long")
)

// ParseError tells which comma-separated field of a line is wrong. Field 0 is
// the prefix.
type ParseError struct {
	Line  string
	Field int
	Err   error
}

// Error implements error.
func (e *ParseError) Error() string {
	return fmt.Sprintf("%v (field %d of %q)", e.Err, e.Field, e.Line)
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Prefix is the first character of a line: upper case for what the host sends,
// lower case for what the adapter reports (QBX vending-sessions-examples).
type Prefix byte

// Prefixes of the text API.
const (
	PrefixSlaveCmd  Prefix = 'C' // host → cashless slave (the adapter emulates a reader)
	PrefixSlave     Prefix = 'c' // cashless slave → host
	PrefixMasterCmd Prefix = 'D' // host → cashless master (the adapter acts as VMC)
	PrefixMaster    Prefix = 'd' // cashless master → host
	PrefixVMC       Prefix = 'r' // "r,ACK": the VMC acknowledged our slave's data
	PrefixSniffCmd  Prefix = 'X' // host → sniffer
	PrefixSniff     Prefix = 'x' // sniffer → host
	PrefixConfigCmd Prefix = 'F' // host → adapter configuration
	PrefixConfig    Prefix = 'f' // configuration → host (assumed by symmetry)
)

// Message is one parsed line. String formats it without the line end; Parse
// of that string gives the message back.
type Message interface {
	Prefix() Prefix
	String() string
	message()
}

// Amount is a money value as the adapter writes it: decimal digits with an
// optional point ("1", "1.00", "0.5"), i.e. Value × 10^-Decimals in currency
// units, not MDB scaled units.
type Amount struct {
	Value    uint64
	Decimals uint8
}

// maxAmountDigits keeps Value far from overflow and amounts short.
const maxAmountDigits = 18

// NewAmount returns the amount v × 10^-decimals; NewAmount(150, 2) is "1.50".
func NewAmount(v uint64, decimals uint8) Amount { return Amount{Value: v, Decimals: decimals} }

// ParseAmount parses "123", "1.00" or ".5". Signs and exponents are refused.
func ParseAmount(s string) (Amount, error) {
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) || hasPoint && frac == "" {
		return Amount{}, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if len(digits) > maxAmountDigits || len(frac) > maxAmountDigits {
		return Amount{}, fmt.Errorf("%w: %q: too many digits", ErrAmount, s)
	}
	var v uint64
	if digits != "" {
		var err error
		if v, err = strconv.ParseUint(digits, 10, 64); err != nil {
			return Amount{}, fmt.Errorf("%w: %q", ErrAmount, s)
		}
	}
	return Amount{Value: v, Decimals: uint8(len(frac))}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats a as the adapter does: "1.00" for {100, 2}, "1" for {1, 0}.
func (a Amount) String() string {
	s := strconv.FormatUint(a.Value, 10)
	if a.Decimals == 0 {
		return s
	}
	d := int(a.Decimals)
	if len(s) <= d {
		s = strings.Repeat("0", d-len(s)+1) + s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

// Scaled converts a to an integer count of 10^-decimals units ("1.5" at 2
// decimals is 150). It fails when precision would be lost or the result
// overflows.
func (a Amount) Scaled(decimals uint8) (uint64, bool) {
	v := a.Value
	for d := a.Decimals; d < decimals; d++ {
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v *= 10
	}
	for d := a.Decimals; d > decimals; d-- {
		if v%10 != 0 {
			return 0, false
		}
		v /= 10
	}
	return v, true
}

// Equal reports whether a and b are the same value ("1" equals "1.00").
func (a Amount) Equal(b Amount) bool {
	d := max(a.Decimals, b.Decimals)
	x, ok1 := a.Scaled(d)
	y, ok2 := b.Scaled(d)
	return ok1 && ok2 && x == y
}

// ---------------------------------------------------------------- host → adapter

// SlaveEnable is "C,1" (start the cashless slave) or "C,0" (stop it).
type SlaveEnable struct{ On bool }

// SlaveStart is "C,START,<funds>": open a session with this much credit
// (authorization first).
type SlaveStart struct{ Funds Amount }

// SlaveVend is "C,VEND,<amount>[,<item>]": approve the pending vend request.
// HasItem adds the product number, as in the two-device example of the
// vending-sessions page ("C,VEND,1,5").
type SlaveVend struct {
	Amount  Amount
	Item    int
	HasItem bool
}

// SlaveStop is "C,STOP": deny the pending vend request, or end the session.
type SlaveStop struct{}

// SetConf is "C,SETCONF,<key>=<value>" (send with the slave disabled).
type SetConf struct{ Key, Value string }

// MasterMode is "D,<mode>": 0 off, 1 authorization first, 2 always idle
// (selection first).
type MasterMode struct{ Mode int }

// MasterReader is "D,READER,<0|1>": disable or enable the reader on the bus.
type MasterReader struct{ On bool }

// MasterRequest is "D,REQ,<price>,<item>": send a VEND REQUEST to the reader.
type MasterRequest struct {
	Price Amount
	Item  int
}

// MasterEnd is "D,END" (VEND SUCCESS and session complete) or "D,END,-1"
// (VEND FAILURE).
type MasterEnd struct{ Failed bool }

// SniffEnable is "X,1" (start sniffing) or "X,0" (stop).
type SniffEnable struct{ On bool }

// ConfigCmd is "F,<key>[,<arg>...]", e.g. "F,RESPTIMEOUT,100", "F,SERIAL,9600".
type ConfigCmd struct {
	Key  string
	Args []string
}

// ---------------------------------------------------------------- adapter → host

// Status is "<c|d>,STATUS,<state>[,<arg>...]": a state change of the slave
// (INACTIVE, DISABLED, ENABLED, IDLE, VEND) or of the master (RESET, INIT,
// IDLE, VEND, RESULT).
type Status struct {
	From  Prefix
	State string
	Args  []string
}

// VendRequest is "c,STATUS,VEND,<price>,<item>": the VMC asked our slave to
// approve a vend of item for price.
type VendRequest struct {
	Price Amount
	Item  int
}

// VendResult is "c,VEND,<result>": SUCCESS after a dispensed product. Other
// words are kept verbatim (only SUCCESS is documented).
type VendResult struct{ Result string }

// OK reports whether the vend succeeded.
func (v VendResult) OK() bool { return v.Result == "SUCCESS" }

// ErrorReport is "<p>,ERR,<text>", e.g. "c,ERR,VEND 3" (dispense failed) or
// `d,ERR,"-1"`. Text is the rest of the line, commas included.
type ErrorReport struct {
	From Prefix
	Text string
}

// Ack is "<p>,ACK": "r,ACK" (the VMC acknowledged our slave), "x,ACK" (the
// sniffer started).
type Ack struct{ From Prefix }

// ModeReply is "<p>,<digits>", e.g. "c,1": the adapter confirming a mode
// command.
type ModeReply struct {
	From Prefix
	Mode int
}

// Unknown is any other line with a one-character prefix, kept field by field
// (Fields is nil when the line has no comma).
type Unknown struct {
	P      Prefix
	Fields []string
}

func (SlaveEnable) message()   {}
func (SlaveStart) message()    {}
func (SlaveVend) message()     {}
func (SlaveStop) message()     {}
func (SetConf) message()       {}
func (MasterMode) message()    {}
func (MasterReader) message()  {}
func (MasterRequest) message() {}
func (MasterEnd) message()     {}
func (SniffEnable) message()   {}
func (ConfigCmd) message()     {}
func (Status) message()        {}
func (VendRequest) message()   {}
func (VendResult) message()    {}
func (ErrorReport) message()   {}
func (Ack) message()           {}
func (ModeReply) message()     {}
func (Unknown) message()       {}
func (Sniff) message()         {}

// Prefix implements Message.
func (SlaveEnable) Prefix() Prefix { return PrefixSlaveCmd }

// Prefix implements Message.
func (SlaveStart) Prefix() Prefix { return PrefixSlaveCmd }

// Prefix implements Message.
func (SlaveVend) Prefix() Prefix { return PrefixSlaveCmd }

// Prefix implements Message.
func (SlaveStop) Prefix() Prefix { return PrefixSlaveCmd }

// Prefix implements Message.
func (SetConf) Prefix() Prefix { return PrefixSlaveCmd }

// Prefix implements Message.
func (MasterMode) Prefix() Prefix { return PrefixMasterCmd }

// Prefix implements Message.
func (MasterReader) Prefix() Prefix { return PrefixMasterCmd }

// Prefix implements Message.
func (MasterRequest) Prefix() Prefix { return PrefixMasterCmd }

// Prefix implements Message.
func (MasterEnd) Prefix() Prefix { return PrefixMasterCmd }

// Prefix implements Message.
func (SniffEnable) Prefix() Prefix { return PrefixSniffCmd }

// Prefix implements Message.
func (ConfigCmd) Prefix() Prefix { return PrefixConfigCmd }

// Prefix implements Message.
func (s Status) Prefix() Prefix { return s.From }

// Prefix implements Message.
func (VendRequest) Prefix() Prefix { return PrefixSlave }

// Prefix implements Message.
func (VendResult) Prefix() Prefix { return PrefixSlave }

// Prefix implements Message.
func (e ErrorReport) Prefix() Prefix { return e.From }

// Prefix implements Message.
func (a Ack) Prefix() Prefix { return a.From }

// Prefix implements Message.
func (m ModeReply) Prefix() Prefix { return m.From }

// Prefix implements Message.
func (u Unknown) Prefix() Prefix { return u.P }

// str is the prefix as a one-byte string (not a UTF-8 rune).
func (p Prefix) str() string { return string([]byte{byte(p)}) }

func b01(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

// String implements Message.
func (m SlaveEnable) String() string { return "C," + b01(m.On) }

// String implements Message.
func (m SlaveStart) String() string { return "C,START," + m.Funds.String() }

// String implements Message.
func (m SlaveVend) String() string {
	s := "C,VEND," + m.Amount.String()
	if m.HasItem {
		s += "," + strconv.Itoa(m.Item)
	}
	return s
}

// String implements Message.
func (SlaveStop) String() string { return "C,STOP" }

// String implements Message.
func (m SetConf) String() string { return "C,SETCONF," + m.Key + "=" + m.Value }

// String implements Message.
func (m MasterMode) String() string { return "D," + strconv.Itoa(m.Mode) }

// String implements Message.
func (m MasterReader) String() string { return "D,READER," + b01(m.On) }

// String implements Message.
func (m MasterRequest) String() string {
	return "D,REQ," + m.Price.String() + "," + strconv.Itoa(m.Item)
}

// String implements Message.
func (m MasterEnd) String() string {
	if m.Failed {
		return "D,END,-1"
	}
	return "D,END"
}

// String implements Message.
func (m SniffEnable) String() string { return "X," + b01(m.On) }

// String implements Message.
func (m ConfigCmd) String() string { return join("F", append([]string{m.Key}, m.Args...)) }

// String implements Message.
func (m Status) String() string {
	return join(m.From.str(), append([]string{"STATUS", m.State}, m.Args...))
}

// String implements Message.
func (m VendRequest) String() string {
	return "c,STATUS,VEND," + m.Price.String() + "," + strconv.Itoa(m.Item)
}

// String implements Message.
func (m VendResult) String() string { return "c,VEND," + m.Result }

// String implements Message.
func (m ErrorReport) String() string { return m.From.str() + ",ERR," + m.Text }

// String implements Message.
func (m Ack) String() string { return m.From.str() + ",ACK" }

// String implements Message.
func (m ModeReply) String() string { return m.From.str() + "," + strconv.Itoa(m.Mode) }

// String implements Message.
func (m Unknown) String() string {
	if m.Fields == nil {
		return m.P.str()
	}
	return join(m.P.str(), m.Fields)
}

func join(p string, fields []string) string { return p + "," + strings.Join(fields, ",") }

// AppendLine appends m and the line end "\n" to dst.
func AppendLine(dst []byte, m Message) []byte {
	return append(append(dst, m.String()...), '\n')
}

// maxItem bounds product numbers: MDB item numbers are 16 bit [MDB 4.2 §7.4.7].
const maxItem = 0xFFFF

func parseItem(s string) (int, bool) {
	if s == "" || len(s) > 5 || !allDigits(s) {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, n <= maxItem
}

// parseMode reads a small non-negative decimal ("0", "1", "2").
func parseMode(s string) (int, bool) {
	if s == "" || len(s) > 3 || !allDigits(s) {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, true
}

// Parse parses one line (without its line end). Lines whose verb is not one
// of the documented ones come back as Unknown; a documented verb with the
// wrong arguments is a *ParseError.
func Parse(line string) (Message, error) {
	if line == "" {
		return nil, ErrEmpty
	}
	if strings.ContainsAny(line, "\r\n") {
		return nil, &ParseError{Line: line, Field: 0, Err: fmt.Errorf("%w: line end inside the line", ErrSyntax)}
	}
	head, rest, hasComma := strings.Cut(line, ",")
	if len(head) != 1 || head[0] <= ' ' || head[0] > '~' {
		return nil, &ParseError{Line: line, Field: 0, Err: fmt.Errorf("%w: prefix must be one printable ASCII character", ErrSyntax)}
	}
	p := Prefix(head[0])
	if !hasComma {
		return Unknown{P: p}, nil
	}
	f := strings.Split(rest, ",")
	bad := func(field int, err error) (Message, error) {
		return nil, &ParseError{Line: line, Field: field, Err: err}
	}
	syntax := func(field int, what string) (Message, error) {
		return bad(field, fmt.Errorf("%w: %s", ErrSyntax, what))
	}
	unknown := Unknown{P: p, Fields: f}
	switch {
	case f[0] == "ERR" && len(f) >= 2 && p >= 'a' && p <= 'z':
		return ErrorReport{From: p, Text: rest[len("ERR,"):]}, nil
	case f[0] == "ACK" && len(f) == 1 && p >= 'a' && p <= 'z':
		return Ack{From: p}, nil
	}
	switch p {
	case PrefixSlaveCmd:
		switch f[0] {
		case "0", "1":
			if len(f) != 1 {
				return syntax(2, "C,0|1 takes no argument")
			}
			return SlaveEnable{On: f[0] == "1"}, nil
		case "START":
			if len(f) != 2 {
				return syntax(2, "C,START,<funds>")
			}
			a, err := ParseAmount(f[1])
			if err != nil {
				return bad(2, err)
			}
			return SlaveStart{Funds: a}, nil
		case "VEND":
			if len(f) != 2 && len(f) != 3 {
				return syntax(2, "C,VEND,<amount>[,<item>]")
			}
			a, err := ParseAmount(f[1])
			if err != nil {
				return bad(2, err)
			}
			m := SlaveVend{Amount: a}
			if len(f) == 3 {
				n, ok := parseItem(f[2])
				if !ok {
					return syntax(3, "item number 0..65535")
				}
				m.Item, m.HasItem = n, true
			}
			return m, nil
		case "STOP":
			if len(f) != 1 {
				return syntax(2, "C,STOP takes no argument")
			}
			return SlaveStop{}, nil
		case "SETCONF":
			if len(f) != 2 {
				return syntax(2, "C,SETCONF,<key>=<value>")
			}
			k, v, ok := strings.Cut(f[1], "=")
			if !ok || k == "" {
				return syntax(2, "C,SETCONF,<key>=<value>")
			}
			return SetConf{Key: k, Value: v}, nil
		}
	case PrefixMasterCmd:
		switch f[0] {
		case "READER":
			if len(f) != 2 || f[1] != "0" && f[1] != "1" {
				return syntax(2, "D,READER,0|1")
			}
			return MasterReader{On: f[1] == "1"}, nil
		case "REQ":
			if len(f) != 3 {
				return syntax(2, "D,REQ,<price>,<item>")
			}
			a, err := ParseAmount(f[1])
			if err != nil {
				return bad(2, err)
			}
			n, ok := parseItem(f[2])
			if !ok {
				return syntax(3, "item number 0..65535")
			}
			return MasterRequest{Price: a, Item: n}, nil
		case "END":
			switch {
			case len(f) == 1:
				return MasterEnd{}, nil
			case len(f) == 2 && f[1] == "-1":
				return MasterEnd{Failed: true}, nil
			}
			return syntax(2, "D,END[,-1]")
		}
		if n, ok := parseMode(f[0]); ok {
			if len(f) != 1 {
				return syntax(2, "D,<mode> takes no argument")
			}
			return MasterMode{Mode: n}, nil
		}
	case PrefixSniffCmd:
		if f[0] == "0" || f[0] == "1" {
			if len(f) != 1 {
				return syntax(2, "X,0|1 takes no argument")
			}
			return SniffEnable{On: f[0] == "1"}, nil
		}
	case PrefixConfigCmd:
		if f[0] == "" {
			return syntax(1, "F,<key>[,<arg>...]")
		}
		m := ConfigCmd{Key: f[0]}
		if len(f) > 1 {
			m.Args = f[1:]
		}
		return m, nil
	case PrefixSlave, PrefixMaster:
		switch f[0] {
		case "STATUS":
			if len(f) < 2 {
				return syntax(2, "STATUS,<state>")
			}
			if p == PrefixSlave && f[1] == "VEND" && len(f) == 4 {
				a, err := ParseAmount(f[2])
				if err != nil {
					return bad(3, err)
				}
				n, ok := parseItem(f[3])
				if !ok {
					return syntax(4, "item number 0..65535")
				}
				return VendRequest{Price: a, Item: n}, nil
			}
			m := Status{From: p, State: f[1]}
			if len(f) > 2 {
				m.Args = f[2:]
			}
			return m, nil
		case "VEND":
			if p == PrefixSlave && len(f) == 2 {
				return VendResult{Result: f[1]}, nil
			}
		}
	case PrefixSniff:
		if len(f) >= 3 {
			return parseSniff(line, f)
		}
	}
	if p >= 'a' && p <= 'z' && len(f) == 1 {
		if n, ok := parseMode(f[0]); ok {
			return ModeReply{From: p, Mode: n}, nil
		}
	}
	return unknown, nil
}
