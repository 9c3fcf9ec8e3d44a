package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"vendgate/dex"
	"vendgate/emulator/machine"
	"vendgate/emulator/vmc"
	"vendgate/internal/pty"
	"vendgate/internal/serialport"
)

const vmUsage = `Usage: vendemu vm --port PATH|pty [flags]

Play a vending machine on a DEX/UCS line: serve its EVA-DTS audit to any
reader (vendtool dex read, a telemetry modem, a handheld) on a serial device,
or with --port pty on a new pseudo-terminal whose path is printed on stdout.
The machine vends at --vend-rate per minute, so successive audits differ.

Flags:
`

func runVM(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("vm", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), vmUsage)
		fs.PrintDefaults()
	}
	port := fs.String("port", "", `serial device (e.g. /dev/ttyUSB0), or "pty" for a new pseudo-terminal`)
	baud := fs.Int("baud", 9600, "line speed (8N1)")
	selections := fs.Int("selections", 10, "selections of the machine")
	seed := fs.Int64("seed", 1, "random seed (prices, vends)")
	serial := fs.String("serial", "", "machine serial number (ID101); default derived from --seed")
	vendRate := fs.Float64("vend-rate", 1, "random customer vends per minute")
	commID := fs.String("comm-id", "VGV0000001", "the machine's DEX communication ID (10 characters)")
	machineMaster := fs.Bool("machine-master", false, "the machine opens the session (sends ENQ until a reader answers)")
	resetOnRead := fs.Bool("reset-on-read", false, `zero the "since reset" counters after every read (AUTO mode)`)
	corruptEvery := fs.Int("corrupt-every", 0, "fault injection: corrupt one byte of every Nth data block (0: never)")
	silentAfter := fs.Int("silent-after-blocks", 0, "fault injection: stop answering after N data blocks (0: never)")
	duration := fs.Duration("duration", 0, "stop after this long (0 = until Ctrl-C)")
	if code, ok := parse(fs, args, e); !ok {
		return code
	}
	switch {
	case *port == "":
		fmt.Fprintln(e.stderr, "vendemu vm: --port is required (a serial device or \"pty\")")
		return 2
	case len(*commID) != dex.CommIDLen:
		fmt.Fprintf(e.stderr, "vendemu vm: --comm-id must be %d characters, got %q\n", dex.CommIDLen, *commID)
		return 2
	case *baud <= 0 || *selections <= 0 || *vendRate < 0 || *corruptEvery < 0 || *silentAfter < 0 || *duration < 0:
		fmt.Fprintln(e.stderr, "vendemu vm: --baud and --selections must be positive, the other numbers >= 0")
		return 2
	}

	line, path, closeLine, err := openLine(*port, *baud)
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu vm:", err)
		return 1
	}
	defer closeLine()

	m := machine.New(machine.Config{Selections: *selections, Seed: *seed, Serial: *serial, ResetOnRead: *resetOnRead})
	if *port == "pty" {
		// The path alone on stdout, so scripts and tests can take it.
		fmt.Fprintln(e.stdout, path)
	}
	fmt.Fprintf(e.stderr, "vendemu vm: machine %s (%d selections) serving DEX on %s\n", m.Serial(), *selections, path)

	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var mu sync.Mutex // OnSession runs on the serving goroutine; stderr may be shared
	err = vmc.Run(ctx, line, vmc.Config{
		Machine:       m,
		DEX:           dex.Config{CommID: *commID},
		MachineMaster: *machineMaster,
		VendRate:      *vendRate,
		Faults:        vmc.Faults{CorruptEvery: *corruptEvery, SilentAfter: *silentAfter},
		OnSession: func(err error, n int) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fmt.Fprintf(e.stderr, "vendemu vm: session failed: %v\n", err)
				return
			}
			fmt.Fprintf(e.stderr, "vendemu vm: audit read (%d bytes)\n", n)
		},
	})
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu vm:", err)
		return 1
	}
	return 0
}

// openLine opens the serial device, or with "pty" a pseudo-terminal: the
// machine then talks on the master side and readers open the slave path.
func openLine(port string, baud int) (io.ReadWriter, string, func(), error) {
	if port != "pty" {
		p, err := serialport.Open(port, serialport.Config{Baud: baud})
		if err != nil {
			return nil, "", nil, err
		}
		return p, port, func() { p.Close() }, nil
	}
	master, path, err := pty.Open()
	if err != nil {
		return nil, "", nil, err
	}
	// Keep the slave side open ourselves: while no process has it open,
	// reads on the master fail with EIO (hang-up), which would end the
	// machine before a reader attaches or between two readers.
	hold, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err == nil {
		err = pty.MakeRaw(hold)
	}
	if err != nil {
		master.Close()
		if hold != nil {
			hold.Close()
		}
		return nil, "", nil, fmt.Errorf("pty: hold %s: %w", path, err)
	}
	return &ptyLine{master}, path, func() { master.Close(); hold.Close() }, nil
}

// ptyLine is the master side of the pty; it keeps the file's read deadlines
// (the dex driver uses them to stop its reader) and turns a hang-up into EOF.
type ptyLine struct{ *os.File }

// Read reads from the master; an EIO (no reader on the slave, only possible
// if the hold handle is gone) ends the line like EOF.
func (p *ptyLine) Read(b []byte) (int, error) {
	n, err := p.File.Read(b)
	if errors.Is(err, syscall.EIO) {
		return n, io.EOF
	}
	return n, err
}

// compile-time check that the line keeps deadline support for the driver.
var _ interface{ SetReadDeadline(time.Time) error } = (*ptyLine)(nil)
