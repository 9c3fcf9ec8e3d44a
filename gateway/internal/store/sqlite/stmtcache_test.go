package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadStmtCache(t *testing.T) {
	t.Run("one statement per query text", func(t *testing.T) {
		db := openTemp(t)
		for i := range 5 {
			var v int
			require.NoError(t, db.rs.QueryRowContext(ctx, `SELECT ? + 1`, i).Scan(&v))
			require.Equal(t, i+1, v)
		}
		require.Equal(t, 1, db.rs.size())
		_, err := db.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, db.rs.size())
	})

	t.Run("rows and named parameters", func(t *testing.T) {
		db := openTemp(t)
		for range 2 {
			rows, err := db.rs.QueryContext(ctx, `SELECT value FROM json_each(:list) WHERE value > :min ORDER BY value`,
				sql.Named("list", "[1,2,3,4]"), sql.Named("min", 2))
			require.NoError(t, err)
			var got []int
			for rows.Next() {
				var v int
				require.NoError(t, rows.Scan(&v))
				got = append(got, v)
			}
			require.NoError(t, rows.Err())
			require.NoError(t, rows.Close())
			require.Equal(t, []int{3, 4}, got)
		}
	})

	t.Run("every pool connection", func(t *testing.T) {
		// Two result sets open at once hold two connections: the statement
		// prepared on one is re-prepared on the other by database/sql.
		db := openTemp(t)
		q := `SELECT value FROM json_each('[1,2]')`
		r1, err := db.rs.QueryContext(ctx, q)
		require.NoError(t, err)
		defer r1.Close()
		r2, err := db.rs.QueryContext(ctx, q)
		require.NoError(t, err)
		defer r2.Close()
		for _, r := range []*sql.Rows{r1, r2} {
			require.True(t, r.Next())
			var v int
			require.NoError(t, r.Scan(&v))
			require.Equal(t, 1, v)
		}
		require.Equal(t, 1, db.rs.size())
	})

	t.Run("generated IN lists run unprepared", func(t *testing.T) {
		db := openTemp(t)
		n := maxStmtParams + 1
		args := make([]any, n)
		for i := range args {
			args[i] = i
		}
		q := `SELECT count(*) FROM json_each('[0,1,2]') WHERE value IN (?` + strings.Repeat(",?", n-1) + `)`
		var c int
		require.NoError(t, db.rs.QueryRowContext(ctx, q, args...).Scan(&c))
		require.Equal(t, 3, c)
		require.Equal(t, 0, db.rs.size())
	})

	t.Run("bounded", func(t *testing.T) {
		db := openTemp(t)
		for i := range maxReadStmts + 10 {
			var v int
			require.NoError(t, db.rs.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&v))
			require.Equal(t, i, v, "past the cap queries still run")
		}
		require.Equal(t, maxReadStmts, db.rs.size())
	})

	t.Run("errors as without the cache", func(t *testing.T) {
		db := openTemp(t)
		_, err := db.rs.QueryContext(ctx, `SELEKT 1`)
		require.Error(t, err)
		require.Equal(t, 0, db.rs.size())
		err = db.rs.QueryRowContext(ctx, `SELECT id FROM users WHERE id = ?`, -1).Scan(new(int64))
		require.ErrorIs(t, err, sql.ErrNoRows)
	})

	t.Run("concurrent first use", func(t *testing.T) {
		db := openTemp(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				var v int
				if err := db.rs.QueryRowContext(ctx, `SELECT ? * 2`, i).Scan(&v); err != nil || v != 2*i {
					t.Errorf("%d: %v %d", i, err, v)
				}
			})
		}
		wg.Wait()
		require.Equal(t, 1, db.rs.size())
	})

	t.Run("memory database", func(t *testing.T) {
		db, err := Open(ctx, MemoryPath)
		require.NoError(t, err)
		defer db.Close()
		for range 3 {
			_, err := db.SchemaVersion(ctx)
			require.NoError(t, err)
		}
		require.Equal(t, 1, db.rs.size())
	})

	t.Run("close closes the statements", func(t *testing.T) {
		db := openTemp(t)
		_, err := db.SchemaVersion(ctx)
		require.NoError(t, err)
		var stmts []*sql.Stmt
		db.rs.stmts.Range(func(_, v any) bool { stmts = append(stmts, v.(*sql.Stmt)); return true })
		require.Len(t, stmts, 1)
		require.NoError(t, db.Close())
		_, err = db.SchemaVersion(ctx)
		require.True(t, errors.Is(err, errClosed), "%v", err)
		// A closed *sql.Stmt refuses to run.
		require.Error(t, stmts[0].QueryRowContext(ctx).Scan(new(int)))
		// Close after close is harmless for the cache.
		db.rs.close()
	})
}
