package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"vendgate/emulator/modem"
	"vendgate/protocol"
)

// common are the flags shared by "modem" and "fleet".
type common struct {
	broker       string
	hb           time.Duration
	keepalive    time.Duration
	eventRate    float64
	vendRate     float64
	bus          string
	seed         int64
	reconnectMin time.Duration
	reconnectMax time.Duration
	buffer       int
	duration     time.Duration
	verbose      bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.broker, "broker", "tcp://127.0.0.1:1883", "broker URL (tcp://, ssl://)")
	fs.DurationVar(&c.hb, "hb", modem.DefaultHBInterval, "heartbeat interval")
	fs.DurationVar(&c.keepalive, "keepalive", modem.DefaultKeepalive, "MQTT keepalive (> 0)")
	fs.Float64Var(&c.eventRate, "event-rate", 0, "random machine events per minute per modem")
	fs.Float64Var(&c.vendRate, "vend-rate", 0, "random vends per minute per modem")
	fs.StringVar(&c.bus, "bus", string(protocol.BusMDB), "payment bus: mdb, exe or none")
	fs.Int64Var(&c.seed, "seed", 1, "random seed (machines, jitter)")
	fs.DurationVar(&c.reconnectMin, "reconnect-min", modem.DefaultReconnectMin, "first reconnect delay")
	fs.DurationVar(&c.reconnectMax, "reconnect-max", modem.DefaultReconnectMax, "maximum reconnect delay")
	fs.IntVar(&c.buffer, "buffer", modem.DefaultBufferMax, "uplinks buffered per modem while offline")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0 = until Ctrl-C)")
	fs.BoolVar(&c.verbose, "v", false, "log connection events to stderr")
}

func (c *common) check() error {
	switch protocol.Bus(c.bus) {
	case protocol.BusMDB, protocol.BusEXE, protocol.BusNone:
	default:
		return fmt.Errorf("--bus must be mdb, exe or none, not %q", c.bus)
	}
	if c.hb < time.Millisecond || c.keepalive < time.Second {
		return fmt.Errorf("--hb and --keepalive must be positive (keepalive >= 1s)")
	}
	if c.eventRate < 0 || c.vendRate < 0 || c.duration < 0 || c.buffer < 1 {
		return fmt.Errorf("rates, --duration must be >= 0 and --buffer >= 1")
	}
	return nil
}

func (c *common) logger(w io.Writer) *slog.Logger {
	if !c.verbose {
		return nil
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// parseRate parses "200/s", "200" (per second) or "12000/m" into modems per second.
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad rate %q: want N/s, N/m or N", s)
	}
	switch unit {
	case "", "s":
		return v, nil
	case "m", "min":
		return v / 60, nil
	}
	return 0, fmt.Errorf("bad rate unit in %q: want /s or /m", s)
}

// parse runs fs over args, printing usage errors; it reports the exit code to use
// when the command should stop (help or error).
func parse(fs *flag.FlagSet, args []string, e env) (int, bool) {
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "vendemu %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}
