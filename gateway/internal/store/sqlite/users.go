package sqlite

import (
	"context"
	"database/sql"

	"time"

	"vendgate/gateway/internal/store"
)

const userCols = `id, company_id, email, password_hash, first_name, last_name, position, phone, role,
	active, last_login, created_at`

func scanUser(s scanner) (store.User, error) {
	var (
		u              store.User
		login, created int64
	)
	err := s.Scan(&u.ID, &u.CompanyID, &u.Email, &u.PasswordHash, &u.FirstName, &u.LastName, &u.Position,
		&u.Phone, &u.Role, &u.Active, &login, &created)
	u.LastLogin, u.CreatedAt = tm(login), tm(created)
	return u, err
}

// CreateUser inserts u and sets u.ID (and CompanyID and CreatedAt when unset).
// Emails are unique without regard to ASCII case: store.ErrConflict otherwise.
func (d *DB) CreateUser(ctx context.Context, u *store.User) error {
	if u.CompanyID == 0 {
		u.CompanyID = store.DefaultCompanyID
	}
	u.CreatedAt = nowOr(u.CreatedAt)
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (company_id, email, password_hash, first_name, last_name,
			position, phone, role, active, last_login, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			u.CompanyID, u.Email, u.PasswordHash, u.FirstName, u.LastName, u.Position, u.Phone, u.Role,
			b2i(u.Active), ms(u.LastLogin), ms(u.CreatedAt))
		if err != nil {
			return dbErr("create user", err)
		}
		u.ID, err = res.LastInsertId()
		return dbErr("create user", err)
	})
}

// GetUser returns the user with that id.
func (d *DB) GetUser(ctx context.Context, id int64) (store.User, error) {
	r, err := d.reader()
	if err != nil {
		return store.User{}, err
	}
	u, err := scanUser(r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	return u, dbErr("get user", err)
}

// GetUserByEmail returns the user with that email, matched without regard to
// ASCII case.
func (d *DB) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	r, err := d.reader()
	if err != nil {
		return store.User{}, err
	}
	u, err := scanUser(r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	return u, dbErr("get user by email", err)
}

// CountUsers returns how many users exist (all companies).
func (d *DB) CountUsers(ctx context.Context) (int, error) {
	r, err := d.reader()
	if err != nil {
		return 0, err
	}
	var n int
	err = r.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, dbErr("count users", err)
}

// TouchLogin sets the user's LastLogin.
func (d *DB) TouchLogin(ctx context.Context, id int64, at time.Time) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET last_login = ? WHERE id = ?`, ms(at), id)
		return mustAffect("touch login", res, err)
	})
}

const tokenCols = `id, user_id, access_hash, coalesce(refresh_hash, ''), scope, access_expires, refresh_expires,
	revoked, created_at`

func scanToken(s scanner) (store.Token, error) {
	var (
		t                 store.Token
		acc, ref, created int64
	)
	err := s.Scan(&t.ID, &t.UserID, &t.AccessHash, &t.RefreshHash, &t.Scope, &acc, &ref, &t.Revoked, &created)
	t.AccessExpires, t.RefreshExpires, t.CreatedAt = tm(acc), tm(ref), tm(created)
	return t, err
}

// CreateToken inserts t and sets t.ID (and CreatedAt when unset). An empty
// RefreshHash means the pair has no refresh token. store.ErrConflict when a hash
// is taken; store.ErrNotFound when the user does not exist.
func (d *DB) CreateToken(ctx context.Context, t *store.Token) error {
	t.CreatedAt = nowOr(t.CreatedAt)
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (user_id, access_hash, refresh_hash, scope,
			access_expires, refresh_expires, revoked, created_at) VALUES (?,?,?,?,?,?,?,?)`,
			t.UserID, t.AccessHash, nullStr(t.RefreshHash), t.Scope, ms(t.AccessExpires), ms(t.RefreshExpires),
			b2i(t.Revoked), ms(t.CreatedAt))
		if err != nil {
			return dbErr("create token", err)
		}
		t.ID, err = res.LastInsertId()
		return dbErr("create token", err)
	})
}

// GetTokenByAccess returns the pair with that access hash, revoked or not.
func (d *DB) GetTokenByAccess(ctx context.Context, accessHash string) (store.Token, error) {
	r, err := d.reader()
	if err != nil {
		return store.Token{}, err
	}
	t, err := scanToken(r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE access_hash = ?`, accessHash))
	return t, dbErr("get token by access", err)
}

// GetTokenByRefresh returns the pair with that refresh hash, revoked or not; ""
// finds nothing.
func (d *DB) GetTokenByRefresh(ctx context.Context, refreshHash string) (store.Token, error) {
	r, err := d.reader()
	if err != nil {
		return store.Token{}, err
	}
	t, err := scanToken(r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE refresh_hash = ?`, refreshHash))
	return t, dbErr("get token by refresh", err)
}

// RevokeToken marks the pair revoked (idempotent); store.ErrNotFound when missing.
func (d *DB) RevokeToken(ctx context.Context, id int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE id = ?`, id)
		return mustAffect("revoke token", res, err)
	})
}
