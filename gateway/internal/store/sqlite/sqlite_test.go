package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

var ctx = context.Background()

// template is a migrated, empty database file made once per test binary:
// copying it is much cheaper than running the migrations for each of the ~70
// contract subtests (the transpiled SQLite parser is slow under -race).
var template = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "vendgate-sqlite-template")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	db, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil { // checkpoints the WAL into the file
		return nil, err
	}
	return os.ReadFile(path)
})

// openTemp opens a fresh migrated database in a temporary directory, on tmpfs
// when there is one: fsyncs there are free, which takes the package's tests
// from ~12 s to ~5 s under -race on a busy disk. Durability is what the engine
// configures, not what the test disk offers, so nothing is lost for the tests;
// benchmarks use openDisk.
func openTemp(t testing.TB) *DB {
	t.Helper()
	return openIn(t, fastTempDir(t))
}

// openDisk is openTemp on the ordinary temporary directory (a real disk).
func openDisk(t testing.TB) *DB {
	t.Helper()
	return openIn(t, t.TempDir())
}

// openEngine opens the benchmarks' database: "file" on disk (openDisk), any
// other name in memory.
func openEngine(t testing.TB, engine string) *DB {
	t.Helper()
	if engine == "file" {
		return openDisk(t)
	}
	db, err := Open(ctx, MemoryPath)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func openIn(t testing.TB, dir string) *DB {
	t.Helper()
	img, err := template()
	require.NoError(t, err)
	path := filepath.Join(dir, "vendgate.db")
	require.NoError(t, os.WriteFile(path, img, 0o600))
	db, err := Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func fastTempDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "vendgate-sqlite-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

func TestContractFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestContractMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		// Only Open differs from the file engine, which runs the same suite;
		// under -race the second run would double the package's test time.
		t.Skip("the file engine runs the same suite")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(ctx, MemoryPath)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	})
}
