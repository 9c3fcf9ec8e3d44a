package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"vendgate/internal/serialport"
	"vendgate/mdb"
	"vendgate/mdb/cashless"
	"vendgate/mdb/qibixx"
	"vendgate/mdb/uart"
)

const mdbUsage = `Usage:
  vendtool mdb decode [FILE|-]                       decode a 9-bit MDB trace
  vendtool mdb monitor --port PATH [--link uart|stream|qibixx]  print the traffic a port receives
  vendtool mdb cashless --port PATH [--link uart|stream|qibixx] [--address 1|2]
                                                     act as a cashless reader; commands on stdin

Trace notation: "1xx" / "0xx" (first digit = mode bit) or "xx" with "*" for the
mode bit ("12*"). One or more frames per line; "VMC" / "PER" labels set the
direction; in "|"-separated vector files the last column is read; lines
starting with "#" are comments. Each frame is printed on one line, e.g.
  VMC #1 VEND REQUEST price=60 item=11
  PER VEND APPROVED amount=60

--link uart opens a native UART with mark/space parity (9th bit); --link
stream carries the mode bit as FF 00 b escapes (a pty or socket to an emulator).
--link qibixx talks to a Qibixx MDB-USB / Pi Hat adapter (115200 8N1 text
lines): monitor sniffs ("X,1") and prefixes each frame with the adapter's
timestamp in seconds; cashless drives its cashless slave ("C,...").

cashless commands: credit AMOUNT [TIMEOUT], dispense ITEM [TIMEOUT], enable,
disable, address 1|2, reset, state, quit.
qibixx cashless commands: credit AMOUNT (C,START, e.g. 2.50), approve [AMOUNT],
deny, end, enable, disable, state, quit.
`

// runMDB implements "vendtool mdb ...".
func runMDB(args []string, e env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, mdbUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "decode":
		return runMDBDecode(args[1:], e)
	case "monitor":
		return runMDBMonitor(args[1:], e)
	case "cashless":
		return runMDBCashless(args[1:], e)
	}
	fmt.Fprintf(e.stderr, "vendtool mdb: unknown subcommand %q\n\n%s", args[0], mdbUsage)
	return 2
}

func runMDBDecode(args []string, e env) int {
	var in io.Reader = e.stdin
	name := "-"
	switch len(args) {
	case 0:
	case 1:
		name = args[0]
	default:
		fmt.Fprintf(e.stderr, "vendtool mdb decode: one FILE or - expected\n")
		return 2
	}
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(e.stderr, "vendtool mdb decode: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	var d traceDecoder
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	status, lineNo := 0, 0
	for sc.Scan() {
		lineNo++
		segs, err := splitTraceLine(sc.Text())
		if err != nil {
			fmt.Fprintf(e.stderr, "%s:%d: %v\n", name, lineNo, err)
			status = 1
			continue
		}
		for _, s := range segs {
			for _, out := range d.decode(s.words, s.dir) {
				fmt.Fprintln(e.stdout, out)
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(e.stderr, "vendtool mdb decode: %v\n", err)
		return 1
	}
	return status
}

type segment struct {
	words []mdb.Word
	dir   int // 0 unknown, 1 VMC, 2 peripheral
}

// splitTraceLine extracts the 9-bit words of one line, split at VMC/PER labels.
func splitTraceLine(line string) ([]segment, error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return nil, nil
	}
	dir := 0
	if strings.Contains(line, "|") {
		cols := strings.Split(line, "|")
		switch strings.TrimSpace(cols[0]) {
		case "VMC":
			dir = 1
		case "PER":
			dir = 2
		}
		line = cols[len(cols)-1]
	}
	var segs []segment
	cur := segment{dir: dir}
	for _, tok := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		switch strings.ToUpper(strings.TrimSuffix(tok, ":")) {
		case "VMC", ">":
			segs, cur = appendSeg(segs, cur), segment{dir: 1}
			continue
		case "PER", "<":
			segs, cur = appendSeg(segs, cur), segment{dir: 2}
			continue
		}
		w, err := mdb.ParseWord(tok)
		if err != nil {
			return nil, err
		}
		cur.words = append(cur.words, w)
	}
	return appendSeg(segs, cur), nil
}

func appendSeg(segs []segment, s segment) []segment {
	if len(s.words) > 0 {
		segs = append(segs, s)
	}
	return segs
}

// traceDecoder names frames in a trace whose direction is mostly implied: a
// block that starts with the mode bit is the VMC's, a block that ends with it
// is a peripheral's, a lone 00/AA/FF after a peripheral block is the VMC's
// ACK/RET/NAK.
type traceDecoder struct {
	lastVMC  bool        // the previous frame was a VMC block (a peripheral answer is due)
	lastPer  bool        // the previous frame was a peripheral data block
	lastAddr mdb.Address // address of the last VMC block
}

func (d *traceDecoder) decode(ws []mdb.Word, dir int) []string {
	var out []string
	for i := 0; i < len(ws); {
		w := ws[i]
		switch {
		case dir != 2 && w.Mode() && !(d.lastVMC && i+1 == len(ws) && (w.Byte() == mdb.ACK || w.Byte() == mdb.NAK)):
			n := vmcBlockLen(ws[i:])
			out = append(out, d.vmcBlock(ws[i:i+n]))
			i += n
		case dir != 2 && !w.Mode() && d.lastPer && (w.Byte() == mdb.ACK || w.Byte() == mdb.RET || w.Byte() == mdb.NAK):
			out = append(out, "VMC "+map[byte]string{mdb.ACK: "ACK", mdb.RET: "RET", mdb.NAK: "NAK"}[w.Byte()])
			d.lastPer = false
			i++
		default:
			j := i
			for j < len(ws) && !ws[j].Mode() {
				j++
			}
			if j == len(ws) {
				out = append(out, fmt.Sprintf("??? %s (no byte with the mode bit ends this block)", mdb.FormatWords(ws[i:])))
				return out
			}
			out = append(out, d.perBlock(ws[i:j+1]))
			i = j + 1
		}
	}
	return out
}

// vmcBlockLen finds where the VMC block at ws[0] ends: by the cashless length
// table when the CHK there matches, else at the first byte equal to the
// running sum, else before the next mode-bit word.
func vmcBlockLen(ws []mdb.Word) int {
	b := make([]byte, 0, len(ws))
	next := len(ws)
	for i, w := range ws {
		if i > 0 && w.Mode() {
			next = i
			break
		}
		b = append(b, w.Byte())
	}
	chkAt := func(n int) bool { return n >= 2 && n <= len(b) && mdb.Checksum(b[:n-1]) == b[n-1] }
	if a := mdb.AddressOf(b[0]); a == mdb.AddrCashless1 || a == mdb.AddrCashless2 {
		for _, x := range []bool{false, true} {
			if n := cashless.CommandLength(b, x); n > 0 && chkAt(n) {
				return n
			}
		}
	}
	if next == len(ws) {
		return next
	}
	for n := 2; n <= len(b); n++ {
		if chkAt(n) {
			return n
		}
	}
	return next
}

func (d *traceDecoder) vmcBlock(ws []mdb.Word) string {
	d.lastVMC, d.lastPer = true, false
	b := make([]byte, len(ws))
	for i, w := range ws {
		b[i] = w.Byte()
	}
	if len(b) < 2 {
		return fmt.Sprintf("VMC %s (no CHK)", mdb.FormatWords(ws))
	}
	data, chk := b[:len(b)-1], b[len(b)-1]
	addr := mdb.AddressOf(data[0])
	d.lastAddr = addr
	suffix := ""
	if sum := mdb.Checksum(data); sum != chk {
		suffix = fmt.Sprintf(" [bad CHK %02X, want %02X]", chk, sum)
	}
	var who string
	switch addr {
	case mdb.AddrCashless1:
		who = "#1"
	case mdb.AddrCashless2:
		who = "#2"
	default:
		return fmt.Sprintf("VMC addr=%02X cmd=%d data=% X%s", byte(addr), mdb.CommandOf(data[0]), data[1:], suffix)
	}
	c, err := cashless.DecodeCommand(data)
	if err != nil {
		return fmt.Sprintf("VMC %s % X (%v)%s", who, data, err, suffix)
	}
	return fmt.Sprintf("VMC %s %v%s", who, c, suffix)
}

func (d *traceDecoder) perBlock(ws []mdb.Word) string {
	d.lastVMC = false
	if len(ws) == 1 {
		d.lastPer = false
		switch ws[0].Byte() {
		case mdb.ACK:
			return "PER ACK"
		case mdb.NAK:
			return "PER NAK"
		}
		return fmt.Sprintf("PER %s (lone byte)", mdb.FormatWords(ws))
	}
	d.lastPer = true
	b := make([]byte, len(ws))
	for i, w := range ws {
		b[i] = w.Byte()
	}
	data, chk := b[:len(b)-1], b[len(b)-1]
	suffix := ""
	if sum := mdb.Checksum(data); sum != chk {
		suffix = fmt.Sprintf(" [bad CHK %02X, want %02X]", chk, sum)
	}
	if d.lastAddr != mdb.AddrCashless1 && d.lastAddr != mdb.AddrCashless2 && d.lastAddr != 0 {
		return fmt.Sprintf("PER data=% X%s", data, suffix)
	}
	rs, _, err := cashless.GuessResponses(data)
	if err != nil {
		return fmt.Sprintf("PER data=% X (%v)%s", data, err, suffix)
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return "PER " + strings.Join(parts, " + ") + suffix
}

// openMDBPort opens PATH as a native UART or as an escaped byte stream.
func openMDBPort(path, link string) (mdb.Port, io.Closer, error) {
	switch link {
	case "uart":
		p, err := uart.Open(path, uart.Config{})
		if err != nil {
			return nil, nil, err
		}
		return p, p, nil
	case "stream":
		f, err := os.OpenFile(path, os.O_RDWR|0x100 /* O_NOCTTY */, 0)
		if err != nil {
			return nil, nil, err
		}
		return mdb.NewStreamPort(f), f, nil
	}
	return nil, nil, fmt.Errorf("unknown --link %q (uart or stream)", link)
}

func runMDBMonitor(args []string, e env) int {
	fs := flag.NewFlagSet("vendtool mdb monitor", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	port := fs.String("port", "", "serial device or pty")
	link := fs.String("link", "uart", "uart, stream or qibixx")
	gap := fs.Duration("gap", 3*time.Millisecond, "silence that ends a burst")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *port == "" {
		fmt.Fprintln(e.stderr, "vendtool mdb monitor: --port is required")
		return 2
	}
	if *link == "qibixx" {
		return runQibixxMonitor(*port, e)
	}
	p, c, err := openMDBPort(*port, *link)
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool mdb monitor: %v\n", err)
		return 1
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); _ = p.SetReadDeadline(time.Unix(1, 0)) }()
	var d traceDecoder
	var burst []mdb.Word
	buf := make([]mdb.Word, 256)
	for {
		if len(burst) > 0 {
			_ = p.SetReadDeadline(time.Now().Add(*gap))
		} else {
			_ = p.SetReadDeadline(time.Time{})
		}
		if ctx.Err() != nil {
			return 0
		}
		n, err := p.ReadWords(buf)
		burst = append(burst, buf[:n]...)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			var pe *mdb.ParmrkError
			if !errors.As(err, &pe) {
				if ctx.Err() != nil {
					return 0
				}
				fmt.Fprintf(e.stderr, "vendtool mdb monitor: %v\n", err)
				return 1
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && len(burst) > 0 {
			for _, line := range d.decode(burst, 0) {
				fmt.Fprintf(e.stdout, "%s %s\n", time.Now().Format("15:04:05.000"), line)
			}
			burst = burst[:0]
		}
	}
}

func runMDBCashless(args []string, e env) int {
	fs := flag.NewFlagSet("vendtool mdb cashless", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	port := fs.String("port", "", "serial device or pty")
	link := fs.String("link", "uart", "uart, stream or qibixx")
	addr := fs.Int("address", 1, "cashless device number 1 (0x10) or 2 (0x60)")
	resp := fs.Duration("response", 0, "link response timeout (default 5ms, the MDB value)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *port == "" {
		fmt.Fprintln(e.stderr, "vendtool mdb cashless: --port is required")
		return 2
	}
	if *link == "qibixx" {
		return runQibixxCashless(*port, e)
	}
	p, c, err := openMDBPort(*port, *link)
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool mdb cashless: %v\n", err)
		return 1
	}
	defer c.Close()
	per, err := cashless.NewPeripheral(cashless.PeripheralConfig{Address: *addr,
		Reader: cashless.ReaderConfig{Options: cashless.OptAlwaysIdle, ID: cashless.Identity{Manufacturer: "VGT", Model: "vendtool"}}})
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool mdb cashless: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- per.Run(ctx, mdb.NewPeripheral(p, mdb.Config{Response: *resp}, per.Complete)) }()
	go func() {
		for {
			select {
			case r := <-per.Records():
				fmt.Fprintf(e.stdout, "vend item=%d price=%d charged=%d ok=%v denied=%v cash=%v\n", r.Selection, r.Price, r.Charged, r.OK, r.Denied, r.Cash)
			case <-ctx.Done():
				return
			}
		}
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(e.stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	fmt.Fprintln(e.stdout, "cashless reader ready; type help")
	for {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(e.stderr, "vendtool mdb cashless: %v\n", err)
				return 1
			}
			return 0
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(line) == "quit" {
				cancel()
				<-done
				return 0
			}
			fmt.Fprintln(e.stdout, cashlessCommand(per, line))
		}
	}
}

// cashlessCommand runs one keyboard command against the reader.
func cashlessCommand(p *cashless.Peripheral, line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	arg := func(i int) (uint64, error) {
		if len(f) <= i {
			return 0, fmt.Errorf("missing argument")
		}
		return strconv.ParseUint(f[i], 10, 32)
	}
	timeout := func() time.Duration {
		if len(f) > 2 {
			if d, err := time.ParseDuration(f[2]); err == nil {
				return d
			}
		}
		return time.Minute
	}
	var err error
	switch f[0] {
	case "credit":
		var n uint64
		if n, err = arg(1); err == nil {
			err = p.GrantCredit(uint32(n), true, timeout())
		}
	case "dispense":
		var n uint64
		if n, err = arg(1); err == nil {
			err = p.Dispense(uint16(n), timeout())
		}
	case "enable":
		p.SetEnabled(true)
	case "disable":
		p.SetEnabled(false)
	case "reset":
		p.Reset()
	case "address":
		var n uint64
		if n, err = arg(1); err == nil {
			err = p.SetAddress(int(n))
		}
	case "state":
	case "help":
		return "credit AMOUNT [TIMEOUT] | dispense ITEM [TIMEOUT] | enable | disable | address 1|2 | reset | state | quit"
	default:
		return fmt.Sprintf("unknown command %q (try help)", f[0])
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("ok: state=%v address=%02X", p.State(), byte(p.Address()))
}

// qibixxQuiet is the silence after which the monitor prints the sniffed
// blocks it holds for reordering (the adapter's lines arrive "few ms" out of
// order at most, QBX api-sniff).
const qibixxQuiet = 50 * time.Millisecond

// openQibixx opens the adapter's host port: 115200 8N1 (QBX api-general).
func openQibixx(path string) (serialport.Port, error) {
	return serialport.Open(path, serialport.Config{Baud: 115200})
}

// runQibixxMonitor enables the adapter's sniffer and prints the frames it
// reports, named like "vendtool mdb decode" does.
func runQibixxMonitor(path string, e env) int {
	p, err := openQibixx(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool mdb monitor: %v\n", err)
		return 1
	}
	defer p.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); _ = p.SetReadDeadline(time.Unix(1, 0)) }()
	if _, err := p.Write(qibixx.AppendLine(nil, qibixx.SniffEnable{On: true})); err != nil {
		fmt.Fprintf(e.stderr, "vendtool mdb monitor: %v\n", err)
		return 1
	}
	defer func() { _, _ = p.Write(qibixx.AppendLine(nil, qibixx.SniffEnable{On: false})) }()
	var (
		d      traceDecoder
		sorter qibixx.Sorter
		fr     qibixx.Framer
		buf    = make([]byte, 512)
	)
	emit := func(ss []qibixx.Sniff) {
		for _, s := range ss {
			fmt.Fprintf(e.stdout, "%d.%04d %s\n", s.Time/10000, s.Time%10000, d.frame(s.Frame()))
		}
	}
	for {
		if sorter.Len() > 0 {
			_ = p.SetReadDeadline(time.Now().Add(qibixxQuiet))
		} else {
			_ = p.SetReadDeadline(time.Time{})
		}
		if ctx.Err() != nil {
			emit(sorter.Flush())
			return 0
		}
		n, err := p.Read(buf)
		for _, l := range fr.Feed(buf[:n]) {
			m, perr := qibixx.Parse(l.Text)
			switch {
			case l.Err != nil:
				fmt.Fprintf(e.stderr, "vendtool mdb monitor: %v\n", l.Err)
			case perr != nil:
				fmt.Fprintf(e.stderr, "vendtool mdb monitor: %v\n", perr)
			case m.Prefix() == qibixx.PrefixSniff:
				if s, ok := m.(qibixx.Sniff); ok {
					emit(sorter.Push(s))
					continue
				}
				if _, ok := m.(qibixx.Ack); ok {
					continue // "x,ACK": sniffing started
				}
				fmt.Fprintf(e.stderr, "qibixx: %s\n", l.Text)
			default:
				fmt.Fprintf(e.stderr, "qibixx: %s\n", l.Text)
			}
		}
		if err != nil {
			emit(sorter.Flush())
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintf(e.stderr, "vendtool mdb monitor: %v\n", err)
			return 1
		}
	}
}

// frame names one whole frame (as a sniffing adapter delivers them) with the
// same words as decode.
func (d *traceDecoder) frame(f mdb.Frame) string {
	var s string
	switch {
	case f.Kind != mdb.KindBlock:
		s = f.Dir.String() + " " + f.Kind.String()
		d.lastVMC, d.lastPer = false, false
	case len(f.Data) == 0:
		s = f.Dir.String() + " (empty block)"
	case f.Dir == mdb.FromVMC:
		s = d.vmcBlock(f.Encode(nil))
	default:
		s = d.perBlock(f.Encode(nil))
	}
	if f.Err != nil && (f.Kind != mdb.KindBlock || len(f.Data) > 0) {
		s += " [" + f.Err.Error() + "]"
	}
	return s
}

// runQibixxCashless drives the adapter's cashless slave from stdin.
func runQibixxCashless(path string, e env) int {
	p, err := openQibixx(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool mdb cashless: %v\n", err)
		return 1
	}
	defer p.Close()
	var outMu sync.Mutex
	say := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(e.stdout, format+"\n", a...)
	}
	r := qibixx.NewReader(p, qibixx.Config{OnEvent: func(ev qibixx.Event) {
		switch ev.Kind {
		case qibixx.EventStatus:
			say("state %s", ev.State)
		case qibixx.EventVendRequest:
			say("vend request item=%d price=%s (approve or deny)", ev.Item, ev.Price)
		case qibixx.EventVendSuccess, qibixx.EventVendFailure, qibixx.EventVendTimeout:
			say("%s item=%d price=%s%s", ev.Kind, ev.Item, ev.Price, errSuffix(ev.Err))
		default:
			say("%s %s%s", ev.Kind, ev.Line, errSuffix(ev.Err))
		}
	}})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	if err := r.Enable(ctx); err != nil {
		fmt.Fprintf(e.stderr, "vendtool mdb cashless: %v\n", err)
		return 1
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(e.stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	say("qibixx cashless slave enabled; type help")
	for {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(e.stderr, "vendtool mdb cashless: %v\n", err)
				return 1
			}
			return 0
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(line) == "quit" {
				_ = r.Disable()
				cancel()
				<-done
				return 0
			}
			if out := qibixxCommand(r, line); out != "" {
				say("%s", out)
			}
		}
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " error=" + err.Error()
}

// qibixxCommand runs one keyboard command against the adapter's slave.
func qibixxCommand(r *qibixx.Reader, line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	amount := func() (qibixx.Amount, error) {
		if len(f) < 2 {
			return qibixx.Amount{}, fmt.Errorf("missing amount")
		}
		return qibixx.ParseAmount(f[1])
	}
	var err error
	switch f[0] {
	case "credit":
		var a qibixx.Amount
		if a, err = amount(); err == nil {
			err = r.StartSession(a)
		}
	case "approve":
		req, ok := r.Pending()
		a := req.Price
		if len(f) > 1 {
			a, err = amount()
		} else if !ok {
			err = fmt.Errorf("no vend request pending")
		}
		if err == nil {
			err = r.ApproveVend(a)
		}
	case "deny":
		err = r.DenyVend()
	case "end":
		err = r.EndSession()
	case "enable":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = r.Enable(ctx)
		cancel()
	case "disable":
		err = r.Disable()
	case "state":
	case "help":
		return "credit AMOUNT | approve [AMOUNT] | deny | end | enable | disable | state | quit"
	default:
		return fmt.Sprintf("unknown command %q (try help)", f[0])
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("ok: state=%s", r.State())
}
