// Package archtest asserts vendgate's layering rules: which packages each
// package may import. A violation fails `make test`.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Imports    []string
}

const mod = "vendgate"

// thirdParty maps each third-party library to the only package allowed to import it.
var thirdParty = map[string][]string{
	"github.com/mochi-mqtt/server/v2":     {"vendgate/gateway/internal/broker"},
	"github.com/eclipse/paho.mqtt.golang": {"vendgate/emulator/modem"},
	"modernc.org/sqlite":                  {"vendgate/gateway/internal/store/sqlite"},
	"github.com/jackc/pgx/v5":             {"vendgate/gateway/internal/store/postgres"},
	"github.com/prometheus/client_golang": {"vendgate/gateway/internal/metrics"},
	"go.bug.st/serial":                    {"vendgate/internal/serialport"},
	"golang.org/x/text":                   {"vendgate/internal/cp1251"},
	"golang.org/x/sys/unix":               {"vendgate/internal/pty", "vendgate/mdb/uart"},
	"golang.org/x/time/rate":              {"vendgate/gateway/internal/poller"},
}

func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json=ImportPath,Imports"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func std(imp string) bool {
	return !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && !strings.HasPrefix(imp, mod)
}

func under(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

func TestImportRules(t *testing.T) {
	pkgs := list(t, mod+"/...")
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			if err := check(p.ImportPath, imp); err != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, err)
			}
		}
	}
}

// check returns why importer may not import imp, or "".
func check(importer, imp string) string {
	if std(imp) {
		return ""
	}
	// Third-party confinement.
	for lib, owners := range thirdParty {
		if under(imp, lib) {
			for _, o := range owners {
				if importer == o {
					return ""
				}
			}
			return "third-party library " + lib + " is confined to " + strings.Join(owners, ", ")
		}
	}
	// Leaf protocol packages: standard library and their own tree only (their
	// tests are not listed here: go list's Imports leaves test files out).
	if importer == "vendgate/protocol" || under(importer, "vendgate/dex") {
		return "leaf protocol packages import only the standard library"
	}
	if under(importer, "vendgate/mdb") && importer != "vendgate/mdb/uart" {
		if imp == "vendgate/mdb" && importer != "vendgate/mdb" {
			return ""
		}
		return "mdb packages import only the standard library and vendgate/mdb"
	}
	if !under(imp, mod) {
		return "" // other third-party libraries (testify, ...) are free
	}
	// The emulator reaches the gateway only over the network.
	if under(importer, "vendgate/emulator") && under(imp, "vendgate/gateway") {
		return "the emulator must not import the gateway"
	}
	// Nobody imports commands.
	if under(imp, "vendgate/cmd") {
		return "nothing imports cmd/"
	}
	// Gateway internals never import the composition root, the emulator or bus packages.
	if under(importer, "vendgate/gateway/internal") {
		switch {
		case imp == "vendgate/gateway":
			return "gateway internals must not import the composition root"
		case under(imp, "vendgate/emulator"), under(imp, "vendgate/mdb"), imp == "vendgate/dex":
			return "the gateway must not import the emulator, the MDB bus or the DEX link"
		}
		if importer == "vendgate/gateway/internal/broker" && under(imp, "vendgate/gateway/internal") {
			return "the broker knows only the interfaces it consumes"
		}
	}
	if importer == "vendgate/gateway" && (under(imp, "vendgate/emulator") || under(imp, "vendgate/mdb") || imp == "vendgate/dex") {
		return "the gateway must not import the emulator, the MDB bus or the DEX link"
	}
	return ""
}

func TestCheckRules(t *testing.T) {
	bad := [][2]string{
		{"vendgate/protocol", "vendgate/dex"},
		{"vendgate/protocol", "github.com/stretchr/testify"},
		{"vendgate/dex/evadts", "vendgate/dex"},
		{"vendgate/dex", "vendgate/dex/evadts"},
		{"vendgate/mdb/cashless", "vendgate/dex"},
		{"vendgate/mdb", "vendgate/mdb/cashless"},
		{"vendgate/emulator/modem", "vendgate/gateway/internal/store"},
		{"vendgate/emulator/fleet", "vendgate/gateway"},
		{"vendgate/gateway/internal/api", "github.com/mochi-mqtt/server/v2"},
		{"vendgate/gateway/internal/api", "vendgate/gateway"},
		{"vendgate/gateway/internal/ingest", "vendgate/emulator/modem"},
		{"vendgate/gateway/internal/broker", "vendgate/gateway/internal/store"},
		{"vendgate/gateway", "vendgate/mdb/cashless"},
		{"vendgate/gateway/internal/api", "modernc.org/sqlite"},
		{"vendgate/emulator/fleet", "github.com/eclipse/paho.mqtt.golang"},
		{"vendgate/e2e", "vendgate/cmd/vendgate"},
	}
	for _, b := range bad {
		if check(b[0], b[1]) == "" {
			t.Errorf("%s → %s should be refused", b[0], b[1])
		}
	}
	good := [][2]string{
		{"vendgate/protocol", "encoding/json"},
		{"vendgate/mdb/cashless", "vendgate/mdb"},
		{"vendgate/gateway/internal/broker", "github.com/mochi-mqtt/server/v2/packets"},
		{"vendgate/gateway/internal/broker", "vendgate/protocol"},
		{"vendgate/gateway/internal/ingest", "vendgate/gateway/internal/broker"},
		{"vendgate/gateway", "vendgate/gateway/internal/api"},
		{"vendgate/emulator/modem", "vendgate/protocol"},
		{"vendgate/e2e", "vendgate/gateway"},
		{"vendgate/e2e", "vendgate/emulator/fleet"},
		{"vendgate/cmd/vendgate", "vendgate/gateway"},
	}
	for _, g := range good {
		if why := check(g[0], g[1]); why != "" {
			t.Errorf("%s → %s refused: %s", g[0], g[1], why)
		}
	}
}
