package protocol

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenDir holds the golden payloads: {class}[-variant].json are valid,
// invalid-*.json are refused for the reason index.json gives.
const goldenDir = "../testdata/protocol"

// classByName maps Class.String() back to the class.
func classByName(name string) Class {
	for c := ClassHello; c <= ClassCommandRequest; c++ {
		if c.String() == name {
			return c
		}
	}
	return ClassUnknown
}

// goldenClass tells the class from a valid golden file's name.
func goldenClass(file string) Class {
	base := strings.TrimSuffix(file, ".json")
	name, _, _ := strings.Cut(base, "-")
	return classByName(name)
}

// goldenFiles returns the valid golden files and their classes.
func goldenFiles(t testing.TB) map[string]Class {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	require.NoError(t, err)
	out := map[string]Class{}
	for _, p := range paths {
		name := filepath.Base(p)
		if name == "index.json" || strings.HasPrefix(name, "invalid-") {
			continue
		}
		c := goldenClass(name)
		require.NotEqual(t, ClassUnknown, c, "golden file %s: name does not start with a class", name)
		out[name] = c
	}
	return out
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}

func TestGoldenValid(t *testing.T) {
	files := goldenFiles(t)
	perClass := map[Class]int{}
	commands := map[CommandName]bool{}
	for name, c := range files {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(goldenDir, name))
			require.NoError(t, err)
			v, err := Decode(c, b)
			require.NoError(t, err)
			out, err := Encode(v)
			require.NoError(t, err)
			// Semantic comparison: same members and values, whatever the
			// layout. Golden files carry no empty optional members, which
			// Encode would leave out.
			assert.Equal(t, jsonValue(t, b), jsonValue(t, out))
			again, err := Decode(c, out)
			require.NoError(t, err)
			assert.Equal(t, v, again)
			if r, ok := v.(CommandRequest); ok {
				_, err := r.DecodeArgs()
				require.NoError(t, err)
				commands[r.Name] = true
			}
			if a, ok := v.(Audit); ok {
				txt, err := a.Text()
				require.NoError(t, err)
				assert.True(t, strings.HasPrefix(string(txt), "DXS*"), "audit text starts with DXS")
			}
		})
		perClass[c]++
	}
	for c := ClassHello; c <= ClassCommandRequest; c++ {
		assert.Positive(t, perClass[c], "no golden payload for %s", c)
	}
	for _, n := range []CommandName{CmdReset, CmdCashlessMode, CmdCashlessAddress, CmdCashlessCredit, CmdDispense, CmdRequest, CmdSetConfig} {
		assert.True(t, commands[n], "no golden request for %s", n)
	}
}

func TestGoldenInvalid(t *testing.T) {
	idx, err := os.ReadFile(filepath.Join(goldenDir, "index.json"))
	require.NoError(t, err)
	var index map[string]struct {
		Class  string `json:"class"`
		Reason string `json:"reason"`
		Field  string `json:"field"`
	}
	require.NoError(t, json.Unmarshal(idx, &index))

	paths, err := filepath.Glob(filepath.Join(goldenDir, "invalid-*.json"))
	require.NoError(t, err)
	require.Len(t, index, len(paths), "every invalid-*.json needs an index.json entry and vice versa")
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			want, ok := index[name]
			require.True(t, ok, "%s missing from index.json", name)
			c := classByName(want.Class)
			require.NotEqual(t, ClassUnknown, c)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			_, err = Decode(c, b)
			require.Error(t, err)
			assert.Equal(t, want.Reason, Reason(err))
			var de *DecodeError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, want.Field, de.Field)
		})
	}
}
