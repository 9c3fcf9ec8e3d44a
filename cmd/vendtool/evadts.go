package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"vendgate/dex/evadts"
)

const evadtsUsage = `Usage: vendtool evadts COMMAND FILE...

Work with EVA-DTS audit files (one file may hold several DXS..DXE audits).

Commands:
  parse FILE...      human summary per audit
  validate FILE...   G85 / SE outcome per audit; exit 1 if an audit is invalid
  json FILE...       JSON of every audit (what could be read, even if damaged)
  diff OLD NEW       sales between two audits of the same machine

Run "vendtool evadts COMMAND --help" for details.
`

var evadtsHelp = map[string]string{
	"parse": `Usage: vendtool evadts parse FILE...

Prints, per audit: machine identity, currency, totals (paid vends, cash,
cashless) since initialisation, the products with their counters, events,
and the validation outcome. Exit status 1 if a file cannot be read or holds
no audit.
`,
	"validate": `Usage: vendtool evadts validate FILE...

Prints, per audit, the G85 check value outcome (ok, deviation, mismatch,
missing), the SE segment count outcome and named real-world deviations
(lf_line_ends, lowercase_hex, without_last_crlf, byte_swapped,
missing_check, missing_dxe, se_count_excludes_loops).

Exit status 1 if any audit is invalid: its check value is present and wrong,
or it was cut short before SE. A missing G85 or a named deviation is
reported but valid.
`,
	"json": `Usage: vendtool evadts json FILE...

Writes the audits as JSON (the REST API format): one object for a single
audit, else an array. A damaged audit is written as far as it could be read
(with "truncated": true); the exit status is then 1.
`,
	"diff": `Usage: vendtool evadts diff OLD NEW

Sales between two audits of the same machine, from the "since
initialisation" counters (reads may reset the others): paid vends, cash,
cashless, per-product counts and values, new events. Each file's last audit
is used. Counters that went backwards are taken as wrapped at 10^8 (or 2^32).
Exit status 1 when the audits are from different machines.
`,
}

// runEvadts implements "vendtool evadts".
func runEvadts(args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, evadtsUsage)
		return 2
	}
	cmd := args[0]
	if cmd == "-h" || cmd == "--help" || cmd == "help" {
		fmt.Fprint(e.stdout, evadtsUsage)
		return 0
	}
	help, ok := evadtsHelp[cmd]
	if !ok {
		fmt.Fprintf(e.stderr, "vendtool evadts: unknown command %q\n\n%s", cmd, evadtsUsage)
		return 2
	}
	fs := flag.NewFlagSet("evadts "+cmd, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprint(e.stderr, help) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// --help asked for: print to stdout and succeed.
			fmt.Fprint(e.stdout, help)
			return 0
		}
		return 2
	}
	files := fs.Args()
	if len(files) == 0 || cmd == "diff" && len(files) != 2 {
		fmt.Fprint(e.stderr, help)
		return 2
	}
	switch cmd {
	case "parse":
		return evadtsParse(files, e)
	case "validate":
		return evadtsValidate(files, e)
	case "json":
		return evadtsJSON(files, e)
	default:
		return evadtsDiff(files, e)
	}
}

// load parses a file; a read error or an input without any audit is
// reported and returns ok=false. Truncation is not a load failure.
func load(name string, e env) ([]*evadts.Report, bool, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool evadts: %v\n", err)
		return nil, false, nil
	}
	rs, err := evadts.ParseBytes(b)
	if len(rs) == 0 {
		fmt.Fprintf(e.stderr, "vendtool evadts: %s: %v\n", name, err)
		return nil, false, nil
	}
	return rs, true, err
}

// money formats minor units with the audit's decimal places (ID401),
// assuming 2 when the audit has no ID4.
func money(r *evadts.Report, v int64) string {
	dec := 2
	if c := r.Machine.Currency; c != nil && c.Decimals >= 0 && c.Decimals <= 6 {
		dec = c.Decimals
	}
	neg := v < 0
	if neg {
		v = -v
	}
	s := fmt.Sprintf("%0*d", dec+1, v)
	if dec > 0 {
		s = s[:len(s)-dec] + "." + s[len(s)-dec:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func currencyName(r *evadts.Report) string {
	c := r.Machine.Currency
	if c == nil {
		return "(no ID4: 2 decimals assumed)"
	}
	return strings.TrimSpace(fmt.Sprintf("%s %s, %d decimals", c.Alpha, c.Numeric, c.Decimals))
}

func evadtsParse(files []string, e env) int {
	code := 0
	for _, f := range files {
		rs, ok, _ := load(f, e)
		if !ok {
			code = 1
			continue
		}
		for i, r := range rs {
			printSummary(e.stdout, f, i+1, len(rs), r)
		}
	}
	return code
}

func printSummary(w io.Writer, file string, n, of int, r *evadts.Report) {
	fmt.Fprintf(w, "%s: audit %d of %d\n", file, n, of)
	m := r.Machine
	fmt.Fprintf(w, "  machine:   %s (serial %q, model %q, comm id %s, %s)\n",
		r.MachineID(), strings.TrimSpace(m.Serial), strings.TrimSpace(m.Model), r.Header.CommID, r.Header.Version)
	fmt.Fprintf(w, "  currency:  %s\n", currencyName(r))
	if c := m.Clock; c != nil {
		fmt.Fprintf(w, "  clock:     %s %s\n", c.Date, c.Time)
	}
	if p := r.Meters.Paid; p != nil {
		fmt.Fprintf(w, "  paid vends since init: %d, value %s\n", p.CountInit, money(r, p.ValueInit))
	}
	if s := r.Cash.Sales; s != nil {
		fmt.Fprintf(w, "  cash sales since init: %d, value %s\n", s.CountInit, money(r, s.ValueInit))
	}
	for _, c := range r.Cashless {
		if c.Sales != nil {
			fmt.Fprintf(w, "  cashless %s since init: %d, value %s\n", c.Prefix, c.Sales.CountInit, money(r, c.Sales.ValueInit))
		}
	}
	fmt.Fprintf(w, "  products:  %d\n", len(r.Products))
	for _, p := range r.Products {
		line := fmt.Sprintf("    %-6s %-20s price %8s", p.ID, strings.TrimSpace(p.Name), money(r, p.Price))
		if p.Paid != nil {
			line += fmt.Sprintf("  sold %d (%s) since init", p.Paid.CountInit, money(r, p.Paid.ValueInit))
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "  events:    %d timed, %d counters\n", len(r.Events.Timed), len(r.Events.Counters))
	for _, ev := range r.Events.Timed {
		fmt.Fprintf(w, "    %s %s %s duration %d\n", ev.Code, ev.Date, ev.Time, ev.Duration)
	}
	for _, ev := range r.Events.Counters {
		fmt.Fprintf(w, "    %s count %d since init, %d since reset\n", ev.Code, ev.CountInit, ev.CountReset)
	}
	if len(r.Unknown) > 0 {
		fmt.Fprintf(w, "  unknown records: %d\n", len(r.Unknown))
	}
	if len(r.Issues) > 0 {
		fmt.Fprintf(w, "  issues:    %d\n", len(r.Issues))
		for _, is := range r.Issues {
			fmt.Fprintf(w, "    %v\n", is)
		}
	}
	fmt.Fprintf(w, "  validation: %s\n", r.Validate())
}

func evadtsValidate(files []string, e env) int {
	code := 0
	for _, f := range files {
		// The view checks every audit without building the typed report;
		// only the machine's identity is decoded, for the verdict line.
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(e.stderr, "vendtool evadts: %v\n", err)
			code = 1
			continue
		}
		v, err := evadts.Index(b)
		if v == nil || v.Len() == 0 {
			fmt.Fprintf(e.stderr, "vendtool evadts: %s: %v\n", f, err)
			code = 1
			continue
		}
		for i := range v.Len() {
			a := v.Audit(i)
			val := a.Validate()
			verdict := "VALID"
			if !val.Valid() {
				verdict = "INVALID"
				code = 1
			}
			id := (&evadts.Report{Header: a.Header(), Machine: a.Machine()}).MachineID()
			fmt.Fprintf(e.stdout, "%s: audit %d of %d (%s): %s: %s\n", f, i+1, v.Len(), id, verdict, val)
		}
	}
	return code
}

func evadtsJSON(files []string, e env) int {
	code := 0
	var all []json.RawMessage
	for _, f := range files {
		rs, ok, err := load(f, e)
		if !ok {
			code = 1
			continue
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "vendtool evadts: %s: %v\n", f, err)
			code = 1
		}
		for _, r := range rs {
			b, err := evadts.JSON(r)
			if err != nil {
				fmt.Fprintf(e.stderr, "vendtool evadts: %s: %v\n", f, err)
				return 1
			}
			all = append(all, b)
		}
	}
	switch len(all) {
	case 0:
	case 1:
		e.stdout.Write(all[0])
		fmt.Fprintln(e.stdout)
	default:
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			fmt.Fprintf(e.stderr, "vendtool evadts: %v\n", err)
			return 1
		}
		e.stdout.Write(b)
		fmt.Fprintln(e.stdout)
	}
	return code
}

func evadtsDiff(files []string, e env) int {
	var last [2]*evadts.Report
	for i, f := range files {
		rs, ok, _ := load(f, e)
		if !ok {
			return 1
		}
		last[i] = rs[len(rs)-1]
	}
	d, err := evadts.Sales(last[0], last[1])
	if err != nil {
		fmt.Fprintf(e.stderr, "vendtool evadts: %v\n", err)
		return 1
	}
	r := last[1]
	w := e.stdout
	fmt.Fprintf(w, "machine %s: %s -> %s\n", d.Machine, files[0], files[1])
	fmt.Fprintf(w, "  paid vends: %d, value %s\n", d.Vends.Count, money(r, d.Vends.Value))
	fmt.Fprintf(w, "  cash:       %d, value %s\n", d.Cash.Count, money(r, d.Cash.Value))
	fmt.Fprintf(w, "  cashless:   %d, value %s\n", d.Cashless.Count, money(r, d.Cashless.Value))
	prefixes := make([]string, 0, len(d.Devices))
	for p := range d.Devices {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		fmt.Fprintf(w, "    %s: %d, value %s\n", p, d.Devices[p].Count, money(r, d.Devices[p].Value))
	}
	fmt.Fprintf(w, "  products sold: %d\n", len(d.Products))
	for _, p := range d.Products {
		fmt.Fprintf(w, "    %-6s %-20s %d, value %s\n", p.ID, p.Name, p.Count, money(r, p.Value))
	}
	fmt.Fprintf(w, "  new events: %d\n", len(d.NewEvents)+len(d.Events))
	for _, ev := range d.NewEvents {
		fmt.Fprintf(w, "    %s %s %s duration %d\n", ev.Code, ev.Date, ev.Time, ev.Duration)
	}
	for _, ev := range d.Events {
		fmt.Fprintf(w, "    %s +%d %s\n", ev.Code, ev.Count, ev.Product)
	}
	if d.Reinitialised {
		fmt.Fprintln(w, "  note: machine re-initialised between the audits (EA4 changed)")
	}
	if len(d.Wrapped) > 0 {
		fmt.Fprintf(w, "  note: counters wrapped: %s\n", strings.Join(d.Wrapped, ", "))
	}
	return 0
}
