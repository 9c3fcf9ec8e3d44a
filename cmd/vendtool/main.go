// Command vendtool is the technician's tool: read an audit over a DEX cable,
// parse and validate EVA-DTS audits, and watch or drive an MDB bus.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `vendtool — the technician's tool for vending machines

Usage:
  vendtool dex read --port /dev/ttyUSB0 [--out FILE] [--json]   read an audit over DEX/UCS
  vendtool evadts parse|validate|json|diff FILE...              work with EVA-DTS audit files
  vendtool mdb decode|monitor|cashless ...                      decode traces, watch or act on an MDB bus

Run "vendtool COMMAND --help" for the flags of a command.
`

// env is what a subcommand may touch, so tests can run it in process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], env{os.Stdin, os.Stdout, os.Stderr}))
}

func run(args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 2
	}
	switch args[0] {
	case "dex":
		return runDex(args[1:], e)
	case "evadts":
		return runEvadts(args[1:], e)
	case "mdb":
		return runMDB(args[1:], e)
	case "-h", "--help", "help":
		fmt.Fprint(e.stdout, usage)
		return 0
	default:
		fmt.Fprintf(e.stderr, "vendtool: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
