package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"vendgate/emulator/fleet"
	"vendgate/protocol"
)

func init() {
	commands["fleet"] = subcommand{
		summary: "run N modems (IMEIs from a prefix, passwords from a secret); --provision-file writes the credentials",
		run:     runFleet,
	}
}

func runFleet(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 10, "number of modems")
	secret := fs.String("secret", os.Getenv("VENDEMU_SECRET"), "fleet secret: password = hex(HMAC-SHA256(secret, imei)[:12]) (env VENDEMU_SECRET)")
	ramp := fs.String("ramp", "200/s", "start rate: N/s, N/m or 0 for all at once")
	prefix := fs.String("imei-base", fleet.DefaultIMEIPrefix, "IMEI prefix digits; the index 1..N is zero-padded to 15 digits")
	offset := fs.Int("offset", 0, "index offset: the first modem gets index offset+1")
	provision := fs.String("provision-file", "", "write \"imei password\" lines for the fleet to FILE and exit")
	if code, ok := parse(fs, args, e); !ok {
		return code
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(e.stderr, "vendemu fleet:", err)
		return 2
	}
	if *secret == "" {
		fmt.Fprintln(e.stderr, "vendemu fleet: --secret (or VENDEMU_SECRET) is required")
		return 2
	}
	rate, err := parseRate(*ramp)
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu fleet:", err)
		return 2
	}
	cfg := fleet.Config{
		Broker: c.broker, N: *n, IMEIPrefix: *prefix, Offset: *offset, Secret: *secret,
		Ramp: rate, Duration: c.duration,
		HBInterval: c.hb, Keepalive: c.keepalive, EventRate: c.eventRate, VendRate: c.vendRate,
		Bus: protocol.Bus(c.bus), Seed: c.seed,
		ReconnectMin: c.reconnectMin, ReconnectMax: c.reconnectMax, BufferMax: c.buffer,
		Logger:   c.logger(e.stderr),
		Progress: func(p fleet.Progress) { fmt.Fprintln(e.stderr, p) },
	}
	if *provision != "" {
		return writeProvision(*provision, cfg, e)
	}
	sum, err := fleet.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu fleet:", err)
		return 2
	}
	fmt.Fprint(e.stdout, sum)
	return 0
}

func writeProvision(path string, cfg fleet.Config, e env) int {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // passwords: owner only
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu fleet:", err)
		return 1
	}
	err = fleet.WriteProvision(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu fleet:", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "wrote %d credentials to %s\n", cfg.N, path)
	return 0
}
