// Command vendgate is the vending telemetry gateway: an embedded MQTT broker for
// modems, a store, and the Telemetron-style REST API.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"vendgate/gateway"
)

const usage = `vendgate — gateway for vending-machine telemetry modems

Usage:
  vendgate serve [flags]                         run the gateway
  vendgate modems add --imei IMEI --password PW  provision a modem (also while the gateway runs)
  vendgate modems import --file F                provision many modems from "imei password" lines
  vendgate version

Run "vendgate COMMAND --help" for the flags of a command.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "modems":
		if len(args) >= 2 && args[1] == "import" {
			return modemsImport(args[2:], stdout, stderr)
		}
		if len(args) < 2 || args[1] != "add" {
			fmt.Fprintln(stderr, "usage: vendgate modems add --data-dir DIR --imei IMEI --password PW\n       vendgate modems import --data-dir DIR --file F")
			return 2
		}
		return modemsAdd(args[2:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "vendgate", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "vendgate: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// envPrefix names the environment variables that set configuration keys:
// VENDGATE_MQTT_LISTEN sets mqtt_listen, and so on for every key.
const envPrefix = "VENDGATE_"

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: vendgate serve [flags]

Configuration comes from, in order of precedence: flags, environment variables
(VENDGATE_<KEY>, e.g. VENDGATE_HTTP_LISTEN=0.0.0.0:8080), the JSON file given by
--config, and the defaults. Every key of the file is listed in README.md.

Flags:
`)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "JSON configuration file")
	mqtt := fs.String("mqtt-listen", "", "MQTT listen address (default 127.0.0.1:1883)")
	httpL := fs.String("http-listen", "", "HTTP listen address (default 127.0.0.1:8080)")
	dataDir := fs.String("data-dir", "", "data directory (default ./data)")
	demo := fs.Int("demo", 0, "also run a demo fleet of N emulated machines connecting over loopback")
	adminEmail := fs.String("admin-email", "", "email of the first admin (default admin@vendgate.local)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default info)")
	pprofL := fs.String("pprof-listen", "", "serve Go profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off by default, never expose it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var cfg gateway.Config
	if *configPath != "" {
		if err := loadFile(*configPath, &cfg); err != nil {
			fmt.Fprintln(stderr, "vendgate:", err)
			return 2
		}
	}
	if err := loadEnv(&cfg, os.Environ()); err != nil {
		fmt.Fprintln(stderr, "vendgate:", err)
		return 2
	}
	set := func(p *string, v string) {
		if v != "" {
			*p = v
		}
	}
	set(&cfg.MQTTListen, *mqtt)
	set(&cfg.HTTPListen, *httpL)
	set(&cfg.DataDir, *dataDir)
	set(&cfg.AdminEmail, *adminEmail)
	set(&cfg.LogLevel, *logLevel)
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "vendgate:", err)
		return 2
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *pprofL != "" {
		_, stopProf, err := servePprof(*pprofL, log)
		if err != nil {
			fmt.Fprintln(stderr, "vendgate:", err)
			return 1
		}
		defer stopProf()
	}
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "vendgate:", err)
		return 1
	}
	started := func() {
		printWelcome(stdout, cfg, g)
		if *demo > 0 {
			go func() {
				if err := runDemo(ctx, g, *demo, log.With("part", "demo")); err != nil && ctx.Err() == nil {
					log.Error("demo fleet stopped", "err", err)
				}
			}()
		}
	}
	if err := g.Run(ctx, started); err != nil {
		fmt.Fprintln(stderr, "vendgate:", err)
		return 1
	}
	return 0
}

func printWelcome(w io.Writer, cfg gateway.Config, g *gateway.Gateway) {
	pw := g.AdminPassword
	where := "(generated now; also in " + cfg.DataDir + "/admin-password.txt)"
	if pw == "" {
		if b, err := os.ReadFile(cfg.DataDir + "/admin-password.txt"); err == nil {
			pw = strings.TrimSpace(string(b))
			where = "(from " + cfg.DataDir + "/admin-password.txt)"
		} else {
			pw = "<the admin password you configured>"
			where = ""
		}
	}
	base := "http://" + g.HTTPAddr().String()
	fmt.Fprintf(w, `
vendgate is running.
  MQTT broker:  %s
  REST API:     %s   (metrics at %s/metrics)
  admin login:  %s / %s %s

Try:
  TOKEN=$(curl -s -X POST %s/auth/ -H 'Content-Type: application/json' \
    -d '{"grant_type":"password","username":"%s","password":"%s"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -s -H "Authorization: Bearer $TOKEN" %s/v2/vending_machines

`, g.MQTTAddr(), base, base, cfg.AdminEmail, pw, where, base, cfg.AdminEmail, pw, base)
}

func modemsAdd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("modems add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "./data", "data directory of the gateway")
	imei := fs.String("imei", "", "the modem's IMEI (14 to 16 digits); it is also its MQTT client id and user name")
	password := fs.String("password", "", "the modem's MQTT password (at least 12 characters)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *imei == "" || *password == "" {
		fmt.Fprintln(stderr, "vendgate modems add: --imei and --password are required")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := gateway.AddModem(ctx, *dataDir, *imei, *password)
	if err != nil {
		fmt.Fprintln(stderr, "vendgate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "modem %s provisioned (id %d)\n", *imei, id)
	return 0
}

// modemsImport provisions every "imei password" line of a file (or stdin for -).
func modemsImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("modems import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "./data", "data directory of the gateway")
	file := fs.String("file", "", `file of "imei password" lines (vendemu fleet --provision-file), - for stdin`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "vendgate modems import: --file is required")
		return 2
	}
	in := io.Reader(os.Stdin)
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintln(stderr, "vendgate:", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	n, err := gateway.ImportModems(ctx, *dataDir, in)
	if err != nil {
		fmt.Fprintln(stderr, "vendgate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d modems provisioned in %s\n", n, time.Since(start).Round(time.Millisecond))
	return 0
}

func loadFile(path string, cfg *gateway.Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := decodeStrict(b, cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// loadEnv applies VENDGATE_<KEY> variables, KEY being a JSON key in upper case.
func loadEnv(cfg *gateway.Config, environ []string) error {
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, envPrefix) {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(k, envPrefix))
		// As a string first; a number for numeric keys.
		quoted, _ := json.Marshal(map[string]string{key: v})
		err := decodeStrict(quoted, cfg)
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if _, nerr := strconv.ParseFloat(v, 64); nerr == nil {
				err = decodeStrict([]byte(`{"`+key+`":`+v+`}`), cfg)
			}
		}
		if err != nil {
			return fmt.Errorf("environment %s: %w", k, err)
		}
	}
	return nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
