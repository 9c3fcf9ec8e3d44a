package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkListModemCredentials is the gateway's preload (and periodic
// reload) of 19,000 modems' credentials.
func BenchmarkListModemCredentials(b *testing.B) {
	db := openTemp(b)
	ctx := context.Background()
	require.NoError(b, db.write(ctx, func(tx *sql.Tx) error {
		for i := range 19000 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO modems (company_id, imei, password_hash, created_at) VALUES (1, ?, ?, 0)`,
				fmt.Sprintf("86%013d", i), "pbkdf2-sha256$16$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"); err != nil {
				return err
			}
		}
		return nil
	}))
	for b.Loop() {
		list, err := db.ListModemCredentials(ctx)
		if err != nil || len(list) != 19000 {
			b.Fatal(len(list), err)
		}
	}
}
