// Command vendemu emulates vending telemetry modems: one modem, or a fleet of them for
// load tests. The modems reach the gateway only over MQTT, exactly like real devices
// (protocol v1, docs/protocol.md).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// env is what a subcommand may touch, so tests can run it in process.
type env struct {
	stdout, stderr io.Writer
}

// subcommand is one "vendemu NAME ..." command; each lives in its own file.
type subcommand struct {
	summary string // one line for the usage text
	run     func(ctx context.Context, args []string, e env) int
}

var commands = map[string]subcommand{
	"fleet":     {summary: "run N modems (IMEIs from a prefix, passwords from a secret); --provision-file writes the credentials", run: runFleet},
	"modem":     {summary: "run one modem with the given IMEI and password", run: runModem},
	"petrosoft": {summary: "emulate the Petrosoft Monitoring Data API (where register statuses are pushed)", run: runPetrosoft},
	"rest-load": {summary: "drive commands through the REST API (POST /v2/modems/{id}/set, then GET /v2/commands/{id} as a long poll) and measure the round trip", run: runRESTLoad},
	"ukm5":      {summary: "emulate many UKM5 cash registers' status API (for the register poller)", run: runUKM5},
	"vm":        {summary: "play a vending machine on a DEX/UCS serial line (or a pseudo-terminal)", run: runVM},
}

func usage() string {
	var b strings.Builder
	b.WriteString("vendemu — vending telemetry modem emulator\n\nUsage:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  vendemu %-10s %s\n", n, commands[n].summary)
	}
	b.WriteString("\nRun \"vendemu COMMAND --help\" for the flags of a command.\n")
	return b.String()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{os.Stdout, os.Stderr})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage())
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(e.stdout, usage())
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "vendemu: unknown command %q\n\n%s", args[0], usage())
		return 2
	}
	return c.run(ctx, args[1:], e)
}
