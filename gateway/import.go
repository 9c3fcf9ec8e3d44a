package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
	"vendgate/protocol"
)

// ImportModems provisions modems from r, one "imei password" pair per line (the
// format of `vendemu fleet --provision-file`; blank lines and lines starting with
// # are skipped), into the data directory's store. An existing modem gets the new
// password. It returns how many modems it wrote. The whole input is checked
// before anything is written, so a bad line changes nothing. Used to provision
// load-test fleets of thousands of modems; no machines are created.
func ImportModems(ctx context.Context, dataDir string, r io.Reader) (int, error) {
	type cred struct{ imei, password string }
	var creds []cred
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(s)
		if len(f) != 2 || !protocol.ValidIMEI(f[0]) || len(f[1]) < auth.MinModemPassword {
			return 0, fmt.Errorf("gateway: import line %d: want \"IMEI PASSWORD\" (14..16 digits, password of at least %d characters)",
				line, auth.MinModemPassword)
		}
		creds = append(creds, cred{f[0], f[1]})
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("gateway: import: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return 0, err
	}
	db, err := sqlite.Open(ctx, DBPath(dataDir))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	now := time.Now()
	for i, c := range creds {
		hash, err := auth.Hash(c.password, auth.ModemIterations)
		if err != nil {
			return i, err
		}
		m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: c.imei, PasswordHash: hash, CreatedAt: now}
		if err := db.CreateModem(ctx, m); err != nil {
			if !errors.Is(err, store.ErrConflict) {
				return i, fmt.Errorf("gateway: import %s: %w", c.imei, err)
			}
			if err := db.SetModemPassword(ctx, c.imei, hash); err != nil {
				return i, fmt.Errorf("gateway: import %s: %w", c.imei, err)
			}
		}
	}
	return len(creds), nil
}
