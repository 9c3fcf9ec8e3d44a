package evadts

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden JSON files in testdata/evadts")

// goldenInputs are the MIT-licensed samples (SOURCES.md): only their JSON
// renderings are stored in the repository.
var goldenInputs = []string{
	"mdisibio__dex-parse__test.dex",
	"mdisibio__dex-parse__test2.dex",
	"mkrasselt1__php-evadts-parser__animo.eva_dts",
	"mkrasselt1__php-evadts-parser__animo2.eva_dts",
	"mkrasselt1__php-evadts-parser__rhevendors.eva_dts",
	"mkrasselt1__php-evadts-parser__sielaff.eva_dts",
	"mkrasselt1__php-evadts-parser__temp_test.eva",
	"mkrasselt1__php-evadts-parser__test_unknown_blocks.eva",
	"sigalabs__DEXUCS-VendingMachine-B2C-Simulator__evadts.txt",
}

// goldenName maps a sample to its golden file: the name without extension.
func goldenName(in string) string {
	return strings.TrimSuffix(in, filepath.Ext(in)) + ".json"
}

func TestGoldenJSON(t *testing.T) {
	for _, in := range goldenInputs {
		t.Run(in, func(t *testing.T) {
			rs, _ := ParseBytes(sharedFile(t, in))
			require.Len(t, rs, 1)
			got, err := JSON(rs[0])
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join(goldenDir, goldenName(in))
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./dex/evadts -run TestGoldenJSON -update")
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestJSONShape(t *testing.T) {
	r := NewReport("X")
	b, err := JSON(r)
	require.NoError(t, err)
	s := string(b)
	for _, want := range []string{`"comm_id": "X"`, `"products": []`, `"unknown": []`, `"check": "ok"`,
		`"deviations": []`, `"value_init"`} {
		if want == `"value_init"` {
			assert.NotContains(t, s, want, "absent sections are omitted")
			continue
		}
		assert.Contains(t, s, want)
	}
}
