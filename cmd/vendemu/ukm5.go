package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"vendgate/emulator/ukm5"
)

const ukm5Usage = `Usage: vendemu ukm5 [flags]

Emulate N UKM5 cash registers answering api/v1/status/{last_receipt_time,
downtime,user_role_id,ofd,paper,vision,weight}. With --per-port each register
listens on a port of its own (down = connection refused); otherwise all share
--listen and register n is http://LISTEN/r/n. The registers' base URLs are
printed as JSON lines {"n":..,"url":..} on stdout, ready for the gateway's
"registers" configuration. A control API (faults, state, request counters) is
served on --control (and under /control/ of the shared listener):

  curl -X POST 'http://CONTROL/control/registers/3/fault?kind=down'
  curl -X POST 'http://CONTROL/control/fault?kind=500&from=0&to=10'
  curl -X POST -d '{"paper":false}' http://CONTROL/control/registers/3/state
  curl http://CONTROL/control/registers/3/requests

Flags:
`

func runUKM5(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("ukm5", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), ukm5Usage)
		fs.PrintDefaults()
	}
	n := fs.Int("n", 10, "registers")
	listen := fs.String("listen", "127.0.0.1:9700", "shared listener (without --per-port)")
	perPort := fs.Bool("per-port", false, "one listener per register on --host")
	host := fs.String("host", "127.0.0.1", "address of the per-port listeners")
	control := fs.String("control", "", "control API address (default: the shared listener; required with --per-port)")
	seed := fs.Int64("seed", 1, "random seed of the state changes")
	changeEvery := fs.Duration("change-every", 5*time.Second, "apply random state changes this often (0: never)")
	slow := fs.Duration("slow", 30*time.Second, "delay of the slow fault")
	fault := fs.String("fault", "none", "fault of every register at start: none, down, slow, 500, 401, malformed, hangup")
	faultN := fs.Int("fault-count", 0, "apply --fault to the first N registers only (0: all)")
	duration := fs.Duration("duration", 0, "stop after this long (0 = until Ctrl-C)")
	if code, ok := parse(fs, args, e); !ok {
		return code
	}
	flt, err := ukm5.ParseFault(*fault)
	switch {
	case err != nil:
		fmt.Fprintln(e.stderr, "vendemu ukm5:", err)
		return 2
	case *n <= 0 || *faultN < 0 || *changeEvery < 0 || *duration < 0:
		fmt.Fprintln(e.stderr, "vendemu ukm5: --n must be positive, the other numbers >= 0")
		return 2
	case *perPort && *control == "":
		fmt.Fprintln(e.stderr, "vendemu ukm5: --per-port needs --control ADDR")
		return 2
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	f := ukm5.New(ukm5.Config{N: *n, Seed: *seed, Slow: *slow})
	var urls []string
	var servers []*http.Server
	serve := func(addr string, h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go srv.Serve(ln)
		return ln.Addr().String(), nil
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	if *perPort {
		if urls, err = f.ListenEach(*host); err != nil {
			fmt.Fprintln(e.stderr, "vendemu ukm5:", err)
			return 1
		}
		defer f.Close()
	} else {
		addr, err := serve(*listen, f.Handler())
		if err != nil {
			fmt.Fprintln(e.stderr, "vendemu ukm5:", err)
			return 1
		}
		urls = f.BaseURLs(addr)
		fmt.Fprintf(e.stderr, "vendemu ukm5: %d registers on http://%s/r/N, control http://%s/control/\n", *n, addr, addr)
	}
	if *control != "" {
		addr, err := serve(*control, f.Control())
		if err != nil {
			fmt.Fprintln(e.stderr, "vendemu ukm5:", err)
			return 1
		}
		fmt.Fprintf(e.stderr, "vendemu ukm5: control http://%s/control/\n", addr)
	}
	limit := *n
	if *faultN > 0 {
		limit = min(*faultN, *n)
	}
	for i := range limit {
		if err := f.Register(i).SetFault(flt); err != nil {
			fmt.Fprintln(e.stderr, "vendemu ukm5:", err)
			return 1
		}
	}
	enc := json.NewEncoder(e.stdout)
	for i, u := range urls {
		_ = enc.Encode(map[string]any{"n": i, "url": u})
	}
	f.Run(ctx, *changeEvery)
	<-ctx.Done()
	return 0
}
