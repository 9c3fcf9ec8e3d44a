package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vendgate/gateway"
)

func TestLoadEnv(t *testing.T) {
	var cfg gateway.Config
	err := loadEnv(&cfg, []string{"PATH=/bin", "VENDGATE_HTTP_LISTEN=0.0.0.0:9090", "VENDGATE_MAX_CLIENTS=500",
		"VENDGATE_ADMIN_PASSWORD=123456789012", "VENDGATE_ACK_TIMEOUT=5s"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPListen != "0.0.0.0:9090" || cfg.MaxClients != 500 || cfg.AdminPassword != "123456789012" ||
		time.Duration(cfg.AckTimeout) != 5*time.Second {
		t.Fatalf("%+v", cfg)
	}
	if err := loadEnv(&cfg, []string{"VENDGATE_NO_SUCH_KEY=1"}); err == nil {
		t.Fatal("unknown key accepted")
	}
	if err := loadEnv(&cfg, []string{"VENDGATE_MAX_CLIENTS=many"}); err == nil {
		t.Fatal("a word for a number accepted")
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	os.WriteFile(p, []byte(`{"mqtt_listen":"127.0.0.1:2883","exec_timeout":"2m","command_attempts":5}`), 0o600)
	var cfg gateway.Config
	if err := loadFile(p, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.MQTTListen != "127.0.0.1:2883" || time.Duration(cfg.ExecTimeout) != 2*time.Minute || cfg.CommandAttempts != 5 {
		t.Fatalf("%+v", cfg)
	}
	os.WriteFile(p, []byte(`{"mqtt_lisen":"x"}`), 0o600)
	if err := loadFile(p, &cfg); err == nil || !strings.Contains(err.Error(), "mqtt_lisen") {
		t.Fatalf("typo in a key: %v", err)
	}
}

func TestUsageAndErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "vendgate serve") {
		t.Fatalf("help: %d %q", code, out.String())
	}
	if code := run([]string{"nope"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
	errb.Reset()
	if code := run([]string{"serve", "--mqtt-listen", "nonsense"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "mqtt_listen") {
		t.Fatalf("bad listen address: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"modems", "add", "--data-dir", t.TempDir(), "--imei", "12", "--password", "long-enough-pw"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "IMEI") {
		t.Fatalf("bad imei: %d %q", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"modems", "add", "--data-dir", t.TempDir(), "--imei", "356938035643809", "--password", "long-enough-pw"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "provisioned") {
		t.Fatalf("add: %d %q %q", code, out.String(), errb.String())
	}
}
