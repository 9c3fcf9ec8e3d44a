package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"vendgate/gateway/internal/store"
)

var _ store.Access = (*DB)(nil)

// OperatorMachineFilter is a SQL condition on a machine id column named vm_id
// that keeps the machines visible to the operator bound to its one parameter
// (the user id): those in a group assigned to the user. Other queries of this
// engine that list machine data for an operator append it with AND.
const OperatorMachineFilter = `vm_id IN (SELECT gm.vm_id FROM group_machines gm
	JOIN group_users gu ON gu.group_id = gm.group_id WHERE gu.user_id = ?)`

// --- companies ---

// CreateCompany inserts c and sets c.ID (and CreatedAt when unset).
func (d *DB) CreateCompany(ctx context.Context, c *store.Company) error {
	c.CreatedAt = nowOr(c.CreatedAt)
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO companies (name, created_at) VALUES (?, ?)`, c.Name, ms(c.CreatedAt))
		if err != nil {
			return dbErr("create company", err)
		}
		c.ID, err = res.LastInsertId()
		return dbErr("create company", err)
	})
}

// GetCompany returns the company with that id.
func (d *DB) GetCompany(ctx context.Context, id int64) (store.Company, error) {
	r, err := d.reader()
	if err != nil {
		return store.Company{}, err
	}
	var (
		c       store.Company
		created int64
	)
	err = r.QueryRowContext(ctx, `SELECT id, name, created_at FROM companies WHERE id = ?`, id).Scan(&c.ID, &c.Name, &created)
	c.CreatedAt = tm(created)
	return c, dbErr("get company", err)
}

// --- requisites ---

const requisiteCols = `id, company_id, title, title_short, addr_legal, addr_fact, inn, kpp, provider, created_at`

func scanRequisite(s scanner) (store.Requisite, error) {
	var (
		q       store.Requisite
		created int64
	)
	err := s.Scan(&q.ID, &q.CompanyID, &q.Title, &q.TitleShort, &q.AddrLegal, &q.AddrFact, &q.INN, &q.KPP, &q.Provider, &created)
	q.CreatedAt = tm(created)
	return q, err
}

// CreateRequisite inserts q and sets q.ID (and CompanyID and CreatedAt when unset).
func (d *DB) CreateRequisite(ctx context.Context, q *store.Requisite) error {
	if q.CompanyID == 0 {
		q.CompanyID = store.DefaultCompanyID
	}
	q.CreatedAt = nowOr(q.CreatedAt)
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO requisites (company_id, title, title_short, addr_legal, addr_fact,
			inn, kpp, provider, created_at) VALUES (?,?,?,?,?,?,?,?,?)`,
			q.CompanyID, q.Title, q.TitleShort, q.AddrLegal, q.AddrFact, q.INN, q.KPP, q.Provider, ms(q.CreatedAt))
		if err != nil {
			return dbErr("create requisite", err)
		}
		q.ID, err = res.LastInsertId()
		return dbErr("create requisite", err)
	})
}

// GetRequisite returns the requisite with that id.
func (d *DB) GetRequisite(ctx context.Context, id int64) (store.Requisite, error) {
	r, err := d.reader()
	if err != nil {
		return store.Requisite{}, err
	}
	q, err := scanRequisite(r.QueryRowContext(ctx, `SELECT `+requisiteCols+` FROM requisites WHERE id = ?`, id))
	return q, dbErr("get requisite", err)
}

// ListRequisites returns the company's requisites ordered by id.
func (d *DB) ListRequisites(ctx context.Context, companyID int64) ([]store.Requisite, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT `+requisiteCols+` FROM requisites WHERE company_id = ? ORDER BY id`, companyID)
	if err != nil {
		return nil, dbErr("list requisites", err)
	}
	defer rows.Close()
	var out []store.Requisite
	for rows.Next() {
		q, err := scanRequisite(rows)
		if err != nil {
			return nil, dbErr("list requisites", err)
		}
		out = append(out, q)
	}
	return out, dbErr("list requisites", rows.Err())
}

// UpdateRequisite writes every field of q but CompanyID and CreatedAt.
func (d *DB) UpdateRequisite(ctx context.Context, q store.Requisite) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requisites SET title = ?, title_short = ?, addr_legal = ?, addr_fact = ?,
			inn = ?, kpp = ?, provider = ? WHERE id = ?`,
			q.Title, q.TitleShort, q.AddrLegal, q.AddrFact, q.INN, q.KPP, q.Provider, q.ID)
		return mustAffect("update requisite", res, err)
	})
}

// DeleteRequisite removes the requisite.
func (d *DB) DeleteRequisite(ctx context.Context, id int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM requisites WHERE id = ?`, id)
		return mustAffect("delete requisite", res, err)
	})
}

// --- groups ---

// groupKey folds a group name for the uniqueness check.
func groupKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

func scanGroup(s scanner) (store.Group, error) {
	var (
		g       store.Group
		created int64
	)
	err := s.Scan(&g.ID, &g.CompanyID, &g.Name, &created)
	g.CreatedAt = tm(created)
	return g, err
}

// CreateGroup inserts g and sets g.ID (and CompanyID and CreatedAt when unset).
func (d *DB) CreateGroup(ctx context.Context, g *store.Group) error {
	if g.CompanyID == 0 {
		g.CompanyID = store.DefaultCompanyID
	}
	g.CreatedAt = nowOr(g.CreatedAt)
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO vm_groups (company_id, name, name_key, created_at) VALUES (?, ?, ?, ?)`,
			g.CompanyID, g.Name, groupKey(g.Name), ms(g.CreatedAt))
		if err != nil {
			return dbErr("create group", err)
		}
		g.ID, err = res.LastInsertId()
		return dbErr("create group", err)
	})
}

// GetGroup returns the group with that id.
func (d *DB) GetGroup(ctx context.Context, id int64) (store.Group, error) {
	r, err := d.reader()
	if err != nil {
		return store.Group{}, err
	}
	g, err := scanGroup(r.QueryRowContext(ctx, `SELECT id, company_id, name, created_at FROM vm_groups WHERE id = ?`, id))
	return g, dbErr("get group", err)
}

// ListGroups returns the company's groups ordered by id.
func (d *DB) ListGroups(ctx context.Context, companyID int64) ([]store.Group, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, company_id, name, created_at FROM vm_groups WHERE company_id = ? ORDER BY id`, companyID)
	if err != nil {
		return nil, dbErr("list groups", err)
	}
	defer rows.Close()
	var out []store.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, dbErr("list groups", err)
		}
		out = append(out, g)
	}
	return out, dbErr("list groups", rows.Err())
}

// RenameGroup sets the group's name.
func (d *DB) RenameGroup(ctx context.Context, id int64, name string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE vm_groups SET name = ?, name_key = ? WHERE id = ?`, name, groupKey(name), id)
		return mustAffect("rename group", res, err)
	})
}

// DeleteGroup removes the group; its memberships go with it (ON DELETE CASCADE,
// foreign keys are on for every connection).
func (d *DB) DeleteGroup(ctx context.Context, id int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM vm_groups WHERE id = ?`, id)
		return mustAffect("delete group", res, err)
	})
}

// SetGroupMachines replaces the group's machines.
func (d *DB) SetGroupMachines(ctx context.Context, groupID int64, vmIDs []int64) error {
	return d.setMembers(ctx, "set group machines", groupID, vmIDs, "group_machines", "vm_id", "machines")
}

// SetGroupUsers replaces the group's users.
func (d *DB) SetGroupUsers(ctx context.Context, groupID int64, userIDs []int64) error {
	return d.setMembers(ctx, "set group users", groupID, userIDs, "group_users", "user_id", "users")
}

// setMembers replaces the rows of a membership table in one transaction. Each
// member is inserted only when it exists in the group's company, so a member
// that is missing or foreign affects no row and rolls everything back.
// table, col and owner are constants of this file, never user input.
func (d *DB) setMembers(ctx context.Context, op string, groupID int64, ids []int64, table, col, owner string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return d.write(ctx, func(tx *sql.Tx) error {
		var company int64
		err := tx.QueryRowContext(ctx, `SELECT company_id FROM vm_groups WHERE id = ?`, groupID).Scan(&company)
		if err != nil {
			return dbErr(op, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE group_id = ?`, groupID); err != nil {
			return dbErr(op, err)
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO `+table+` (group_id, `+col+`)
			SELECT ?, id FROM `+owner+` WHERE id = ? AND company_id = ?`)
		if err != nil {
			return dbErr(op, err)
		}
		defer ins.Close()
		for _, id := range ids {
			res, err := ins.ExecContext(ctx, groupID, id, company)
			if err != nil {
				return dbErr(op, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return dbErr(op, err)
				}
				return fmt.Errorf("sqlite: %s: %s %d of company %d: %w", op, owner, id, company, store.ErrNotFound)
			}
		}
		return nil
	})
}

// ids runs a query returning one integer column.
func (d *DB) ids(ctx context.Context, op, query string, args ...any) ([]int64, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, id)
	}
	return out, dbErr(op, rows.Err())
}

// GroupMachines returns the group's machine ids, ascending.
func (d *DB) GroupMachines(ctx context.Context, groupID int64) ([]int64, error) {
	return d.ids(ctx, "group machines", `SELECT vm_id FROM group_machines WHERE group_id = ? ORDER BY vm_id`, groupID)
}

// GroupUsers returns the group's user ids, ascending.
func (d *DB) GroupUsers(ctx context.Context, groupID int64) ([]int64, error) {
	return d.ids(ctx, "group users", `SELECT user_id FROM group_users WHERE group_id = ? ORDER BY user_id`, groupID)
}

// MachineGroups returns the ids of the machine's groups, ascending.
func (d *DB) MachineGroups(ctx context.Context, vmID int64) ([]int64, error) {
	return d.ids(ctx, "machine groups", `SELECT group_id FROM group_machines WHERE vm_id = ? ORDER BY group_id`, vmID)
}

// UserGroups returns the ids of the user's groups, ascending.
func (d *DB) UserGroups(ctx context.Context, userID int64) ([]int64, error) {
	return d.ids(ctx, "user groups", `SELECT group_id FROM group_users WHERE user_id = ? ORDER BY group_id`, userID)
}

// UserSeesMachine reports whether the machine is in a group of the user.
func (d *DB) UserSeesMachine(ctx context.Context, userID, vmID int64) (bool, error) {
	r, err := d.reader()
	if err != nil {
		return false, err
	}
	var ok bool
	err = r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM group_machines gm
		JOIN group_users gu ON gu.group_id = gm.group_id WHERE gm.vm_id = ? AND gu.user_id = ?)`, vmID, userID).Scan(&ok)
	return ok, dbErr("user sees machine", err)
}

// UserMachines returns the ids of the machines in the user's groups.
func (d *DB) UserMachines(ctx context.Context, userID int64) ([]int64, error) {
	return d.ids(ctx, "user machines", `SELECT DISTINCT vm_id FROM group_machines WHERE `+OperatorMachineFilter+` ORDER BY vm_id`, userID)
}
