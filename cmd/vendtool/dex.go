package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"vendgate/dex"
	"vendgate/dex/evadts"
	"vendgate/internal/serialport"
)

const dexUsage = `Usage: vendtool dex read --port PATH [flags]

Read an audit from a vending machine over the DEX/UCS cable and write it to
stdout (raw EVA-DTS text), to --out FILE, or as parsed JSON with --json.

Flags:
  --port PATH      serial device of the DEX cable (e.g. /dev/ttyUSB0)
  --baud N         line speed, default 9600 (8N1)
  --out FILE       write the raw audit to FILE
  --json           print the parsed audit as JSON on stdout
  --comm-id ID     our communication ID (10 characters), default ` + dex.DefaultCommID + `
  --expect BYTES   expected audit size, for the time-left estimate
  --quiet          no progress line on stderr
`

// runDex implements "vendtool dex ...".
func runDex(args []string, e env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, dexUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "read" {
		fmt.Fprintf(e.stderr, "vendtool dex: unknown subcommand %q\n\n%s", args[0], dexUsage)
		return 2
	}
	return runDexRead(args[1:], e)
}

func runDexRead(args []string, e env) int {
	fs := flag.NewFlagSet("vendtool dex read", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.String("port", "", "")
	baud := fs.Int("baud", 9600, "")
	out := fs.String("out", "", "")
	asJSON := fs.Bool("json", false, "")
	commID := fs.String("comm-id", dex.DefaultCommID, "")
	expect := fs.Int("expect", 0, "")
	quiet := fs.Bool("quiet", false, "")
	// Hidden flags for tests and awkward machines: protocol timers and retries.
	var cfg dex.Config
	fs.DurationVar(&cfg.TimerA, "timer-a", 0, "")
	fs.DurationVar(&cfg.TimerB, "timer-b", 0, "")
	fs.DurationVar(&cfg.TimerD, "timer-d", 0, "")
	fs.DurationVar(&cfg.ENQWait, "enq-wait", 0, "")
	fs.IntVar(&cfg.Retries, "retries", 0, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, dexUsage)
			return 0
		}
		fmt.Fprintf(e.stderr, "vendtool dex read: %v\n\n%s", err, dexUsage)
		return 2
	}
	if *port == "" || fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "vendtool dex read: --port is required and no other arguments are taken\n\n%s", dexUsage)
		return 2
	}
	if len(*commID) != dex.CommIDLen {
		fmt.Fprintf(e.stderr, "vendtool dex read: --comm-id must be %d characters, got %q\n", dex.CommIDLen, *commID)
		return 2
	}
	cfg.CommID = *commID

	p, err := serialport.Open(*port, serialport.Config{Baud: *baud})
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool dex read: %v\n", err)
		return 1
	}
	defer p.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	bar := &progressBar{w: e.stderr, baud: *baud, expect: *expect, start: time.Now(), quiet: *quiet}
	m := &dex.Master{Config: cfg, Progress: bar.update}
	audit, err := m.Read(ctx, p)
	bar.finish()
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool dex read: %s\n", explainDexError(err, *port, len(audit), cfg))
		return 1
	}
	if *out != "" {
		if err := os.WriteFile(*out, audit, 0o644); err != nil {
			fmt.Fprintf(e.stderr, "vendtool dex read: %v\n", err)
			return 1
		}
	}
	switch {
	case *asJSON:
		b, err := auditJSON(audit)
		if err != nil {
			fmt.Fprintf(e.stderr, "vendtool dex read: %v\n", err)
			return 1
		}
		e.stdout.Write(append(b, '\n'))
	case *out == "":
		e.stdout.Write(audit)
	}
	return 0
}

// auditJSON renders the parsed audit(s): one object for one audit, an array
// for several. Text that holds no audit at all is shown raw, so a read is
// never lost to a parse failure.
func auditJSON(audit []byte) ([]byte, error) {
	reports, perr := evadts.ParseBytes(audit)
	if len(reports) == 0 {
		return json.MarshalIndent(struct {
			Bytes int    `json:"bytes"`
			Text  string `json:"text"`
			Error string `json:"error,omitempty"`
		}{len(audit), string(audit), errString(perr)}, "", "  ")
	}
	var parts []json.RawMessage
	for _, r := range reports {
		b, err := evadts.JSON(r)
		if err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		parts = append(parts, b)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return json.MarshalIndent(parts, "", "  ")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// explainDexError turns a driver error into advice for the technician.
func explainDexError(err error, port string, got int, cfg dex.Config) string {
	retries := cfg.Retries
	if retries == 0 {
		retries = dex.DefaultRetries
	}
	switch {
	case errors.Is(err, dex.ErrNoAnswer):
		return fmt.Sprintf("no answer from a machine on %s (%d ENQs unanswered): check the DEX cable is plugged in, the port and the baud rate\n  (%v)", port, retries+1, err)
	case errors.Is(err, dex.ErrCommID):
		return fmt.Sprintf("the machine rejected our communication ID %q: set the one it expects with --comm-id\n  (%v)", cfg.CommID, err)
	case errors.Is(err, dex.ErrRefused):
		return fmt.Sprintf("the machine refused the read: %v", err)
	case errors.Is(err, dex.ErrCRC):
		return fmt.Sprintf("too many CRC errors after %d bytes: the line is noisy or the baud rate is wrong; check the cable and retry\n  (%v)", got, err)
	case errors.Is(err, dex.ErrTimeout):
		return fmt.Sprintf("the machine stopped answering after %d bytes: the audit is incomplete; retry the read\n  (%v)", got, err)
	case errors.Is(err, dex.ErrAborted):
		return fmt.Sprintf("the machine ended the session after %d bytes: %v", got, err)
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return err.Error()
}

// progressBar draws one status line on stderr: blocks, bytes, elapsed time
// and, when the expected size is known, time left at the line rate.
type progressBar struct {
	w      io.Writer
	baud   int
	expect int
	start  time.Time
	quiet  bool
	drawn  bool
}

// effectiveRate is the best DEX payload rate at the line speed: 10 bits per
// character (8N1), and per full block 243 text bytes out of 249 block bytes
// plus a 2-byte ACK and two 10 ms turnarounds (EVA-DTS 6.2 §4.4, §4.5.8).
func effectiveRate(baud int) float64 {
	cps := float64(baud) / 10
	blockTime := float64(dex.MaxBlock+4+2)/cps + 2*dex.DefaultResponseDelay.Seconds()
	return dex.MaxBlockText / blockTime
}

func (b *progressBar) update(blocks, n int) {
	if b.quiet {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\rdex: %3d blocks %7d bytes %5.1fs", blocks, n, time.Since(b.start).Seconds())
	if b.expect > 0 {
		const width = 20
		done := min(width, n*width/b.expect)
		left := max(0, float64(b.expect-n)/effectiveRate(b.baud))
		fmt.Fprintf(&sb, " [%s%s] ~%.0fs left", strings.Repeat("#", done), strings.Repeat(".", width-done), left)
	}
	io.WriteString(b.w, sb.String())
	b.drawn = true
}

func (b *progressBar) finish() {
	if b.drawn {
		io.WriteString(b.w, "\n")
	}
}
