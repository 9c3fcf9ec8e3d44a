package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"vendgate/emulator/fleet"
	"vendgate/protocol"
)

// maxFleet bounds one process: each raw modem holds one socket.
const maxFleet = 100_000

func runFleet(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 10, "number of modems (at most 100000; also bounded by the open-file limit)")
	secret := fs.String("secret", os.Getenv("VENDEMU_SECRET"), "fleet secret: password = hex(HMAC-SHA256(secret, imei)[:12]) (env VENDEMU_SECRET)")
	ramp := fs.String("ramp", "200/s", "start rate: N/s, N/m or 0 for all at once")
	prefix := fs.String("imei-base", fleet.DefaultIMEIPrefix, "IMEI prefix digits; the index 1..N is zero-padded to 15 digits")
	offset := fs.Int("offset", 0, "index offset: the first modem gets index offset+1")
	provision := fs.String("provision-file", "", "write \"imei password\" lines for the fleet to FILE and exit")
	client := fs.String("client", "", "MQTT client: raw (light, one goroutine per modem) or paho (full emulator/modem); default raw when -n > 100")
	sources := fs.String("source-ips", "", "spread raw connections over these local addresses, e.g. 127.0.0.2-127.0.0.250 (default that range for a loopback broker)")
	auditRate := fs.Float64("audit-rate", 0, "audits per minute per modem (raw client)")
	flood := fs.Int("flood", 0, "raw client: each modem keeps this many QoS 1 events in flight back to back (throughput test)")
	sinkN := fs.Int("sink", 0, "raw client, plain broker only: subscribe this many anonymous QoS 1 connections to --sink-filter before the modems start (shared with $share/... when more than one) and report the rate the broker forwards to them (the forwarding baseline of scripts/loadtest.sh)")
	sinkFilter := fs.String("sink-filter", fleet.DefaultSinkFilter, "topic filter of --sink")
	dialPar := fs.Int("dial-parallel", 256, "raw client: connection attempts at once")
	drain := fs.Duration("drain", 3*time.Second, "raw client: at the end wait this long at most for outstanding PUBACKs")
	cpuProfile := fs.String("cpuprofile", "", "write the fleet's own CPU profile of the whole run to FILE (go tool pprof): what the load tool costs on the cores it shares")
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
	if *n < 1 || *n > maxFleet {
		fmt.Fprintf(e.stderr, "vendemu fleet: -n must be 1..%d\n", maxFleet)
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
		Client:   *client, AuditRate: *auditRate, Flood: *flood, DialParallel: *dialPar, Drain: *drain,
		Sink: *sinkN, SinkFilter: *sinkFilter,
	}
	if *provision != "" {
		return writeProvision(*provision, cfg, e)
	}
	// Bounded in time: a big fleet must say how long it runs.
	if cfg.Duration == 0 {
		if *n > 1000 {
			fmt.Fprintln(e.stderr, "vendemu fleet: --duration is required for more than 1000 modems")
			return 2
		}
		cfg.Duration = 60 * time.Second
	}
	if *client == "" {
		cfg.Client = fleet.ClientPaho
		if *n > 100 {
			cfg.Client = fleet.ClientRaw
		}
	}
	if cfg.Client == fleet.ClientRaw {
		src := *sources
		if src == "" && loopbackBroker(c.broker) {
			src = "127.0.0.2-127.0.0.250"
		}
		if cfg.SourceIPs, err = fleet.ParseSourceRange(src); err != nil {
			fmt.Fprintln(e.stderr, "vendemu fleet:", err)
			return 2
		}
	}
	if limit := raiseFileLimit(); limit > 0 && uint64(*n)+64 > limit {
		fmt.Fprintf(e.stderr, "vendemu fleet: %d modems need more than the open-file limit %d allows (one socket each)\n", *n, limit)
		return 2
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(e.stderr, "vendemu fleet:", err)
			return 2
		}
		defer stop()
	}
	sum, err := fleet.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu fleet:", err)
		return 2
	}
	fmt.Fprint(e.stdout, sum)
	return 0
}

// startCPUProfile starts profiling the process into path; stop ends it and
// closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// loopbackBroker reports whether the broker URL names a 127.x address or localhost.
func loopbackBroker(url string) bool {
	s := url
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.To4() != nil && ip.IsLoopback()
}

// raiseFileLimit lifts the soft open-file limit to the hard one (allowed without
// privileges) and returns it; 0 if unknown.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
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
