package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/dex/evadts"
)

const sharedEvadts = "../../../shared/testdata/evadts"

func sample(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(sharedEvadts, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("sample %s not available (shared folder absent): %v", name, err)
	}
	return p
}

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"evadts"}, args...), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

func TestEvadtsValidate(t *testing.T) {
	tests := []struct {
		name string
		file string
		code int
		want []string
	}{
		{"ok", "mdisibio__dex-parse__test.dex", 0, []string{"VALID: G85 E8BC ok", "se_count_excludes_loops"}},
		{"lf deviation", "mkrasselt1__php-evadts-parser__animo.eva_dts", 0, []string{"VALID: G85 B9AE ok", "lf_line_ends"}},
		{"missing g85 is valid", "mdisibio__dex-parse__test2.dex", 0, []string{"VALID: G85 missing"}},
		{"mismatch", "lanmark7__dex-utility__Test-5.dex", 1, []string{"INVALID: G85 B4C5 mismatch (computed 8AC8)"}},
		{"cut short", "mkrasselt1__php-evadts-parser__animo2.eva_dts", 1, []string{"INVALID", "TRUNCATED"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := runCmd("validate", sample(t, tc.file))
			assert.Equal(t, tc.code, code, out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
		})
	}
	t.Run("combined lists every audit", func(t *testing.T) {
		code, out, _ := runCmd("validate", sample(t, "lanmark7__dex-utility__Combined.dex"))
		assert.Equal(t, 1, code)
		assert.Equal(t, 5, strings.Count(out, "\n"))
		assert.Contains(t, out, "audit 5 of 5 (WTN11120310057): VALID")
	})
}

func TestEvadtsParse(t *testing.T) {
	code, out, _ := runCmd("parse", sample(t, "sigalabs__DEXUCS-VendingMachine-B2C-Simulator__evadts.txt"))
	require.Equal(t, 0, code)
	assert.Contains(t, out, "machine:   NEC00320815")
	assert.Contains(t, out, "paid vends since init: 41, value 75.19")
	assert.Contains(t, out, "cashless DB since init: 22, value 73.55")
	assert.Contains(t, out, "Espresso")
	assert.Contains(t, out, "validation: G85 E09D ok")
}

func TestEvadtsJSON(t *testing.T) {
	code, out, _ := runCmd("json", sample(t, "mkrasselt1__php-evadts-parser__animo.eva_dts"))
	require.Equal(t, 0, code)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	assert.Equal(t, "ANI1234567", m["header"].(map[string]any)["comm_id"])

	// A damaged audit is still written, with exit status 1.
	code, out, errOut := runCmd("json", sample(t, "lanmark7__dex-utility__Test-7.dex"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "cut short")
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	assert.Equal(t, true, m["truncated"])
	assert.Equal(t, "WTN11240080108", m["machine"].(map[string]any)["serial"])

	code, out, _ = runCmd("json", sample(t, "lanmark7__dex-utility__Combined.dex"))
	assert.Equal(t, 1, code)
	var arr []any
	require.NoError(t, json.Unmarshal([]byte(out), &arr))
	assert.Len(t, arr, 5)
}

func TestEvadtsDiff(t *testing.T) {
	prev := sample(t, "mkrasselt1__php-evadts-parser__animo.eva_dts")
	b, err := os.ReadFile(prev)
	require.NoError(t, err)
	rs, err := evadts.ParseBytes(b)
	require.NoError(t, err)
	r := rs[0]
	// A later read: two more CAPPUCCINO (product 4, 1.00 each), paid cash.
	r.Meters.Paid.CountInit += 2
	r.Meters.Paid.ValueInit += 200
	r.Products[4].Paid.CountInit += 2
	r.Products[4].Paid.ValueInit += 200
	r.Events.Timed = append(r.Events.Timed, evadts.TimedEvent{Code: "EGS", Date: "20250102", Time: "0800"})
	var buf bytes.Buffer
	require.NoError(t, evadts.Encode(&buf, r))
	next := filepath.Join(t.TempDir(), "next.eva_dts")
	require.NoError(t, os.WriteFile(next, buf.Bytes(), 0o644))

	code, out, errOut := runCmd("diff", prev, next)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "paid vends: 2, value 2.00")
	assert.Contains(t, out, "products sold: 1")
	assert.Contains(t, out, "CAPPUCCINO")
	assert.Contains(t, out, "EGS 20250102 0800")

	code, _, errOut = runCmd("diff", prev, sample(t, "mkrasselt1__php-evadts-parser__sielaff.eva_dts"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "different machines")
}

func TestEvadtsUsage(t *testing.T) {
	for _, sub := range []string{"parse", "validate", "json", "diff"} {
		t.Run(sub, func(t *testing.T) {
			code, out, _ := runCmd(sub, "--help")
			assert.Equal(t, 0, code)
			assert.Contains(t, out, "Usage: vendtool evadts "+sub)
			code, _, errOut := runCmd(sub)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, "Usage")
		})
	}
	code, _, _ := runCmd("bogus")
	assert.Equal(t, 2, code)
	code, _, errOut := runCmd("validate", "/nonexistent/file")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no such file")
}
