package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"vendgate/emulator/petrosoft"
)

const petrosoftUsage = `Usage: vendemu petrosoft --token TOKEN [flags]

Emulate the Petrosoft Monitoring Data API: POST PREFIX{stationId} with a
Bearer token and {"status":0|2|3|5|6,"time":UNIX,...} is answered
{"status":true,"success":true} and recorded. The push URL for the gateway's
registers.monitoring.url is printed on stdout. Control:

  curl http://LISTEN/_control/pushes?station=st-1
  curl -X POST 'http://LISTEN/_control/mode?mode=down&for=60s'   (ok, down, 500, reject, slow)

Flags:
`

func runPetrosoft(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("petrosoft", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), petrosoftUsage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:9800", "listen address")
	token := fs.String("token", "", "the Bearer token accepted (required)")
	prefix := fs.String("prefix", "/monitoring/", "path prefix before the station id")
	mode := fs.String("mode", "ok", "mode at start: ok, down, 500, reject, slow")
	modeFor := fs.Duration("mode-for", 0, "how long the start mode lasts (0: until changed)")
	slow := fs.Duration("slow", 30*time.Second, "delay of the slow mode")
	duration := fs.Duration("duration", 0, "stop after this long (0 = until Ctrl-C)")
	if code, ok := parse(fs, args, e); !ok {
		return code
	}
	m, err := petrosoft.ParseMode(*mode)
	switch {
	case err != nil:
		fmt.Fprintln(e.stderr, "vendemu petrosoft:", err)
		return 2
	case *token == "":
		fmt.Fprintln(e.stderr, "vendemu petrosoft: --token is required")
		return 2
	case len(*prefix) < 2 || (*prefix)[0] != '/' || (*prefix)[len(*prefix)-1] != '/':
		fmt.Fprintln(e.stderr, "vendemu petrosoft: --prefix must start and end with /")
		return 2
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	s := petrosoft.New(petrosoft.Config{Token: *token, Prefix: *prefix, Slow: *slow})
	s.SetMode(m, *modeFor)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu petrosoft:", err)
		return 1
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintln(e.stdout, s.URL("http://"+ln.Addr().String()))
	<-ctx.Done()
	fmt.Fprintf(e.stderr, "vendemu petrosoft: %d pushes accepted, refused %v\n", len(s.Pushes("")), s.Refused())
	return 0
}
