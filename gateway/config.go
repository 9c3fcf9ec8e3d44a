package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// Duration is a time.Duration written as "30s" in configuration files.
type Duration time.Duration

// UnmarshalJSON reads "30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New(`a duration is "30s" or a number of seconds`)
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// MarshalJSON writes "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Config is the gateway's configuration. The zero value of a field means its
// default (see Defaults); Validate checks the result.
type Config struct {
	MQTTListen string `json:"mqtt_listen"` // embedded MQTT broker, default 127.0.0.1:1883
	HTTPListen string `json:"http_listen"` // REST API and /metrics, default 127.0.0.1:8080
	DataDir    string `json:"data_dir"`    // SQLite database and generated secrets, default ./data

	AdminEmail    string `json:"admin_email"`    // first admin, created at first start (default admin@vendgate.local)
	AdminPassword string `json:"admin_password"` // its password; empty: generated, printed and written to DATA_DIR/admin-password.txt
	ClientID      string `json:"client_id"`      // OAuth client id accepted by /auth/ (empty: any)
	ClientSecret  string `json:"client_secret"`  // and its secret

	DefaultHeartbeat Duration `json:"default_heartbeat"` // heartbeat interval assumed before a modem says its own (60s)
	AccessTTL        Duration `json:"access_ttl"`        // access token lifetime (24h)
	RefreshTTL       Duration `json:"refresh_ttl"`       // refresh token lifetime (720h)
	CommandTTL       Duration `json:"command_ttl"`       // default command expiry (24h)
	AckTimeout       Duration `json:"ack_timeout"`       // resend a command the modem did not answer (30s)
	ExecTimeout      Duration `json:"exec_timeout"`      // acknowledged command with no result: timed_out (5m)
	CommandAttempts  int      `json:"command_attempts"`  // sends before timed_out (3)

	ConnectTimeout Duration `json:"connect_timeout"` // deadline for a modem's CONNECT packet (10s)
	MaxKeepalive   int      `json:"max_keepalive"`   // largest keepalive accepted, seconds (1200); 0 is always refused
	MaxClients     int      `json:"max_clients"`     // connections at most (19000)
	WritesPending  int      `json:"writes_pending"`  // mochi's outbound queue per modem (4); commands are written directly

	IngestQueue int `json:"ingest_queue"` // uplinks waiting for the store at most (8192), besides each modem's newest presence and hello
	IngestBatch int `json:"ingest_batch"` // uplinks per transaction at most (512)
	// IngestLinger: how long a batch of fewer than 64 uplinks that nobody
	// waits for end to end (heartbeats, presences, events) waits for more to
	// join it before its transaction (20ms); a command answer never waits.
	// Negative: never.
	IngestLinger Duration `json:"ingest_linger"`

	LogLevel string `json:"log_level"` // debug, info, warn, error (info)

	// Registers are the UKM5 cash registers to poll and where to push their
	// status (see docs/registers.md); empty: none.
	Registers RegistersConfig `json:"registers"`

	// FiscalEmulated queues a cloud-register receipt for every successful
	// paid vend of a machine with is_crt_active and fiscalises it with the
	// emulated register (fiscal.Emulated; no real provider exists yet).
	// Default true; false: no receipts are made.
	FiscalEmulated *bool `json:"fiscal_emulated"`
}

// Defaults fills the zero fields.
func (c *Config) Defaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	defD := func(p *Duration, v time.Duration) {
		if *p == 0 {
			*p = Duration(v)
		}
	}
	defI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.MQTTListen, "127.0.0.1:1883")
	def(&c.HTTPListen, "127.0.0.1:8080")
	def(&c.DataDir, "./data")
	def(&c.AdminEmail, "admin@vendgate.local")
	def(&c.LogLevel, "info")
	defD(&c.DefaultHeartbeat, 60*time.Second)
	defD(&c.AccessTTL, 24*time.Hour)
	defD(&c.RefreshTTL, 30*24*time.Hour)
	defD(&c.CommandTTL, 24*time.Hour)
	defD(&c.AckTimeout, 30*time.Second)
	defD(&c.ExecTimeout, 5*time.Minute)
	defD(&c.ConnectTimeout, 10*time.Second)
	defI(&c.CommandAttempts, 3)
	defI(&c.MaxKeepalive, 1200)
	defI(&c.MaxClients, 19000)
	defI(&c.WritesPending, 4)
	defI(&c.IngestQueue, 8192)
	defI(&c.IngestBatch, 512)
	defD(&c.IngestLinger, 20*time.Millisecond)
	if c.FiscalEmulated == nil {
		on := true
		c.FiscalEmulated = &on
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	for name, addr := range map[string]string{"mqtt_listen": c.MQTTListen, "http_listen": c.HTTPListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("config: %s: %v", name, err)
		}
	}
	if c.DataDir == "" {
		return errors.New("config: data_dir is empty")
	}
	if c.MaxKeepalive < 1 || c.MaxKeepalive > 65535 {
		return errors.New("config: max_keepalive must be 1..65535")
	}
	if c.MaxClients < 1 || c.WritesPending < 1 || c.IngestQueue < 1 || c.IngestBatch < 1 || c.CommandAttempts < 1 {
		return errors.New("config: max_clients, writes_pending, ingest_queue, ingest_batch and command_attempts must be positive")
	}
	for name, d := range map[string]Duration{"default_heartbeat": c.DefaultHeartbeat, "access_ttl": c.AccessTTL,
		"refresh_ttl": c.RefreshTTL, "command_ttl": c.CommandTTL, "ack_timeout": c.AckTimeout,
		"exec_timeout": c.ExecTimeout, "connect_timeout": c.ConnectTimeout} {
		if d <= 0 {
			return fmt.Errorf("config: %s must be positive", name)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}
