package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"vendgate/gateway/internal/store"
)

var _ store.Catalog = (*DB)(nil)

// querier is *sql.DB or *sql.Tx: the loading arithmetic runs on the read pool
// for GET and inside the writer transaction for operations.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// --- reference lists ---

// ListVMModels returns the machine models by id.
func (d *DB) ListVMModels(ctx context.Context) ([]store.VMModel, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, name FROM vm_models ORDER BY id`)
	if err != nil {
		return nil, dbErr("list vm models", err)
	}
	return collect(rows, "list vm models", func(s scanner) (m store.VMModel, err error) {
		return m, s.Scan(&m.ID, &m.Name)
	})
}

// ListTimezones returns the time zones by id.
func (d *DB) ListTimezones(ctx context.Context) ([]store.Timezone, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, name FROM timezones ORDER BY id`)
	if err != nil {
		return nil, dbErr("list timezones", err)
	}
	return collect(rows, "list timezones", func(s scanner) (z store.Timezone, err error) {
		return z, s.Scan(&z.ID, &z.Name)
	})
}

// ListEventCodes returns the event codes by code.
func (d *DB) ListEventCodes(ctx context.Context) ([]store.EventCode, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT code, name, description FROM event_codes ORDER BY code`)
	if err != nil {
		return nil, dbErr("list event codes", err)
	}
	return collect(rows, "list event codes", func(s scanner) (c store.EventCode, err error) {
		return c, s.Scan(&c.Code, &c.Name, &c.Desc)
	})
}

// --- components ---

func scanComponent(s scanner) (c store.Component, err error) {
	return c, s.Scan(&c.ID, &c.CompanyID, &c.Name, &c.Unit, &c.IsProduct)
}

// ListComponents returns the company's components by id.
func (d *DB) ListComponents(ctx context.Context, companyID int64) ([]store.Component, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, company_id, name, unit, is_product FROM components
		WHERE company_id = ? ORDER BY id`, companyID)
	if err != nil {
		return nil, dbErr("list components", err)
	}
	return collect(rows, "list components", scanComponent)
}

// GetComponent returns the component with that id.
func (d *DB) GetComponent(ctx context.Context, id int64) (store.Component, error) {
	r, err := d.reader()
	if err != nil {
		return store.Component{}, err
	}
	c, err := scanComponent(r.QueryRowContext(ctx, `SELECT id, company_id, name, unit, is_product FROM components
		WHERE id = ?`, id))
	return c, dbErr("get component", err)
}

// CreateComponent inserts c and sets c.ID.
func (d *DB) CreateComponent(ctx context.Context, c *store.Component) error {
	if c.CompanyID == 0 {
		c.CompanyID = store.DefaultCompanyID
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		id, err := insertComponent(ctx, tx, c.CompanyID, c.Name, c.Unit, c.IsProduct)
		c.ID = id
		return err
	})
}

func insertComponent(ctx context.Context, tx *sql.Tx, company int64, name string, unit int, isProduct bool) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO components (company_id, name, unit, is_product) VALUES (?,?,?,?)`,
		company, name, unit, b2i(isProduct))
	if err != nil {
		return 0, dbErr("create component", err)
	}
	id, err := res.LastInsertId()
	return id, dbErr("create component", err)
}

// findOrCreateComponent returns the company's component with that name, unit
// and product flag, creating it when missing.
func findOrCreateComponent(ctx context.Context, tx *sql.Tx, company int64, name string, unit int, isProduct bool) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM components WHERE company_id = ? AND name = ? AND unit = ?
		AND is_product = ?`, company, name, unit, b2i(isProduct)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return insertComponent(ctx, tx, company, name, unit, isProduct)
	}
	return id, dbErr("find component", err)
}

// --- products ---

// ListProducts returns the company's products with their recipes, by id.
func (d *DB) ListProducts(ctx context.Context, companyID int64) ([]store.Product, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, company_id, name, composite, note, vat, inventory_number
		FROM products WHERE company_id = ? ORDER BY id`, companyID)
	if err != nil {
		return nil, dbErr("list products", err)
	}
	ps, err := collect(rows, "list products", scanProduct)
	if err != nil || len(ps) == 0 {
		return ps, err
	}
	idx := make(map[int64]int, len(ps))
	for i := range ps {
		idx[ps[i].ID] = i
	}
	rows, err = r.QueryContext(ctx, `SELECT pc.product_id, pc.component_id, pc.volume FROM product_components pc
		JOIN products p ON p.id = pc.product_id WHERE p.company_id = ? ORDER BY pc.product_id, pc.component_id`, companyID)
	if err != nil {
		return nil, dbErr("list products", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int64
		var it store.RecipeItem
		if err := rows.Scan(&pid, &it.ComponentID, &it.Volume); err != nil {
			return nil, dbErr("list products", err)
		}
		if i, ok := idx[pid]; ok {
			ps[i].Components = append(ps[i].Components, it)
		}
	}
	return ps, dbErr("list products", rows.Err())
}

func scanProduct(s scanner) (store.Product, error) {
	var (
		p   store.Product
		vat sql.NullFloat64
	)
	err := s.Scan(&p.ID, &p.CompanyID, &p.Name, &p.Composite, &p.Note, &vat, &p.InventoryNumber)
	if vat.Valid {
		v := vat.Float64
		p.VAT = &v
	}
	return p, err
}

// GetProduct returns the product with its recipe.
func (d *DB) GetProduct(ctx context.Context, id int64) (store.Product, error) {
	r, err := d.reader()
	if err != nil {
		return store.Product{}, err
	}
	return getProduct(ctx, r, id)
}

func getProduct(ctx context.Context, q querier, id int64) (store.Product, error) {
	p, err := scanProduct(q.QueryRowContext(ctx, `SELECT id, company_id, name, composite, note, vat, inventory_number
		FROM products WHERE id = ?`, id))
	if err != nil {
		return p, dbErr("get product", err)
	}
	p.Components, err = recipe(ctx, q, id)
	return p, err
}

func recipe(ctx context.Context, q querier, productID int64) ([]store.RecipeItem, error) {
	rows, err := q.QueryContext(ctx, `SELECT component_id, volume FROM product_components WHERE product_id = ?
		ORDER BY component_id`, productID)
	if err != nil {
		return nil, dbErr("recipe", err)
	}
	return collect(rows, "recipe", func(s scanner) (it store.RecipeItem, err error) {
		return it, s.Scan(&it.ComponentID, &it.Volume)
	})
}

func nullFloat(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// CreateProduct inserts p and sets p.ID and its resolved recipe.
func (d *DB) CreateProduct(ctx context.Context, p *store.Product) error {
	if p.CompanyID == 0 {
		p.CompanyID = store.DefaultCompanyID
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO products (company_id, name, composite, note, vat, inventory_number)
			VALUES (?,?,?,?,?,?)`, p.CompanyID, p.Name, b2i(p.Composite), p.Note, nullFloat(p.VAT), p.InventoryNumber)
		if err != nil {
			return dbErr("create product", err)
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return dbErr("create product", err)
		}
		items := p.Components
		if !p.Composite {
			// A simple product is one component of its own (spec "Простыми словами").
			cid, err := findOrCreateComponent(ctx, tx, p.CompanyID, p.Name, store.UnitPiece, true)
			if err != nil {
				return err
			}
			items = []store.RecipeItem{{ComponentID: cid, Volume: 1}}
		}
		p.Components, err = writeRecipe(ctx, tx, p.CompanyID, p.ID, items)
		return err
	})
}

// writeRecipe resolves items (by id in the company, or by name and unit,
// creating the component) and inserts them for the product.
func writeRecipe(ctx context.Context, tx *sql.Tx, company, productID int64, items []store.RecipeItem) ([]store.RecipeItem, error) {
	out := make([]store.RecipeItem, 0, len(items))
	for _, it := range items {
		if it.ComponentID != 0 {
			var owner int64
			err := tx.QueryRowContext(ctx, `SELECT company_id FROM components WHERE id = ?`, it.ComponentID).Scan(&owner)
			if err != nil {
				return nil, dbErr("recipe component", err)
			}
			if owner != company {
				return nil, fmt.Errorf("sqlite: recipe component %d: %w", it.ComponentID, store.ErrNotFound)
			}
		} else {
			id, err := findOrCreateComponent(ctx, tx, company, it.Name, it.Unit, false)
			if err != nil {
				return nil, err
			}
			it.ComponentID = id
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO product_components (product_id, component_id, volume)
			VALUES (?,?,?)`, productID, it.ComponentID, it.Volume); err != nil {
			return nil, dbErr("recipe component", err)
		}
		out = append(out, store.RecipeItem{ComponentID: it.ComponentID, Volume: it.Volume})
	}
	return out, nil
}

// UpdateProduct writes p's attributes and, when components is non-nil, its recipe.
func (d *DB) UpdateProduct(ctx context.Context, p store.Product, components []store.RecipeItem) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		var composite bool
		if err := tx.QueryRowContext(ctx, `SELECT composite FROM products WHERE id = ?`, p.ID).Scan(&composite); err != nil {
			return dbErr("update product", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE products SET name = ?, note = ?, vat = ?, inventory_number = ?
			WHERE id = ?`, p.Name, p.Note, nullFloat(p.VAT), p.InventoryNumber, p.ID)
		if err := mustAffect("update product", res, err); err != nil {
			return err
		}
		if !composite {
			_, err := tx.ExecContext(ctx, `UPDATE components SET name = ? WHERE is_product = 1 AND id IN
				(SELECT component_id FROM product_components WHERE product_id = ?)`, p.Name, p.ID)
			if err != nil {
				return dbErr("rename product component", err)
			}
		}
		if components == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM product_components WHERE product_id = ?`, p.ID); err != nil {
			return dbErr("update recipe", err)
		}
		_, err = writeRecipe(ctx, tx, p.CompanyID, p.ID, components)
		return err
	})
}

// DeleteProduct deletes the product; its recipe and layout positions go with it.
func (d *DB) DeleteProduct(ctx context.Context, id int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM products WHERE id = ?`, id)
		return mustAffect("delete product", res, err)
	})
}

// AddRecipeItem adds a component to the recipe.
func (d *DB) AddRecipeItem(ctx context.Context, productID, componentID, volume int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO product_components (product_id, component_id, volume)
			VALUES (?,?,?)`, productID, componentID, volume)
		return dbErr("add recipe item", err)
	})
}

// SetRecipeItem changes the component's volume in the recipe.
func (d *DB) SetRecipeItem(ctx context.Context, productID, componentID, volume int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE product_components SET volume = ? WHERE product_id = ?
			AND component_id = ?`, volume, productID, componentID)
		return mustAffect("set recipe item", res, err)
	})
}

// DeleteRecipeItem removes the component from the recipe.
func (d *DB) DeleteRecipeItem(ctx context.Context, productID, componentID int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM product_components WHERE product_id = ? AND component_id = ?`,
			productID, componentID)
		return mustAffect("delete recipe item", res, err)
	})
}

// --- planograms ---

// ListPlanograms returns the company's planograms, with details when full.
func (d *DB) ListPlanograms(ctx context.Context, companyID int64, full bool) ([]store.Planogram, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, company_id, name, mode FROM planograms WHERE company_id = ?
		ORDER BY id`, companyID)
	if err != nil {
		return nil, dbErr("list planograms", err)
	}
	ps, err := collect(rows, "list planograms", scanPlanogram)
	if err != nil || !full {
		return ps, err
	}
	for i := range ps {
		if err := planogramDetails(ctx, r, &ps[i]); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func scanPlanogram(s scanner) (p store.Planogram, err error) {
	return p, s.Scan(&p.ID, &p.CompanyID, &p.Name, &p.Mode)
}

func planogramDetails(ctx context.Context, q querier, p *store.Planogram) error {
	rows, err := q.QueryContext(ctx, `SELECT component_id, capacity, critical FROM planogram_capacity
		WHERE planogram_id = ? ORDER BY component_id`, p.ID)
	if err != nil {
		return dbErr("planogram capacity", err)
	}
	p.Capacity, err = collect(rows, "planogram capacity", func(s scanner) (c store.CapacityItem, err error) {
		var crit sql.NullInt64
		err = s.Scan(&c.ComponentID, &c.Capacity, &crit)
		c.Critical = ptr(crit)
		return c, err
	})
	if err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT product_id, number, price FROM planogram_layout WHERE planogram_id = ?
		ORDER BY rowid`, p.ID)
	if err != nil {
		return dbErr("planogram layout", err)
	}
	p.Layout, err = collect(rows, "planogram layout", func(s scanner) (l store.LayoutItem, err error) {
		var price sql.NullInt64
		err = s.Scan(&l.ProductID, &l.Number, &price)
		l.Price = ptr(price)
		return l, err
	})
	return err
}

// GetPlanogram returns the planogram with capacity and layout.
func (d *DB) GetPlanogram(ctx context.Context, id int64) (store.Planogram, error) {
	r, err := d.reader()
	if err != nil {
		return store.Planogram{}, err
	}
	p, err := scanPlanogram(r.QueryRowContext(ctx, `SELECT id, company_id, name, mode FROM planograms WHERE id = ?`, id))
	if err != nil {
		return p, dbErr("get planogram", err)
	}
	return p, planogramDetails(ctx, r, &p)
}

// CreatePlanogram inserts p and sets p.ID; see store.Catalog.
func (d *DB) CreatePlanogram(ctx context.Context, p *store.Planogram, assignVM, userID int64, at time.Time) error {
	if p.CompanyID == 0 {
		p.CompanyID = store.DefaultCompanyID
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO planograms (company_id, name, mode) VALUES (?,?,?)`,
			p.CompanyID, p.Name, p.Mode)
		if err != nil {
			return dbErr("create planogram", err)
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return dbErr("create planogram", err)
		}
		for _, c := range p.Capacity {
			if _, err := tx.ExecContext(ctx, `INSERT INTO planogram_capacity (planogram_id, component_id, capacity,
				critical) VALUES (?,?,?,?)`, p.ID, c.ComponentID, c.Capacity, nullPtr(c.Critical)); err != nil {
				return dbErr("planogram capacity", err)
			}
		}
		for _, l := range p.Layout {
			if _, err := tx.ExecContext(ctx, `INSERT INTO planogram_layout (planogram_id, number, product_id, price)
				VALUES (?,?,?,?)`, p.ID, l.Number, l.ProductID, nullPtr(l.Price)); err != nil {
				return dbErr("planogram layout", err)
			}
		}
		if assignVM == 0 {
			return nil
		}
		// Products on selections the new planogram does not have (or that hold
		// another product there) are unloaded; ingredients stay.
		keep, err := layoutComponents(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		err = unload(ctx, tx, assignVM, userID, at, func(row loadRow) bool {
			return row.layout == "" || keep[compLayout{row.comp, normSel(row.layout)}]
		})
		if err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `UPDATE machines SET planogram_id = ? WHERE id = ?`, p.ID, assignVM)
		return mustAffect("assign planogram", res, err)
	})
}

type compLayout struct {
	comp   int64
	layout string
}

// layoutComponents returns the (product component, selection) pairs of a planogram.
func layoutComponents(ctx context.Context, q querier, planogramID int64) (map[compLayout]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT pc.component_id, l.number FROM planogram_layout l
		JOIN product_components pc ON pc.product_id = l.product_id
		JOIN components c ON c.id = pc.component_id AND c.is_product = 1
		WHERE l.planogram_id = ?`, planogramID)
	if err != nil {
		return nil, dbErr("planogram layout", err)
	}
	defer rows.Close()
	out := map[compLayout]bool{}
	for rows.Next() {
		var k compLayout
		if err := rows.Scan(&k.comp, &k.layout); err != nil {
			return nil, dbErr("planogram layout", err)
		}
		k.layout = normSel(k.layout)
		out[k] = true
	}
	return out, dbErr("planogram layout", rows.Err())
}

// DeletePlanogram unloads the machines using it, detaches them and deletes it.
func (d *DB) DeletePlanogram(ctx context.Context, id, userID int64, at time.Time) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM machines WHERE planogram_id = ?`, id)
		if err != nil {
			return dbErr("delete planogram", err)
		}
		vms, err := collect(rows, "delete planogram", func(s scanner) (v int64, err error) { return v, s.Scan(&v) })
		if err != nil {
			return err
		}
		for _, vm := range vms {
			if err := unload(ctx, tx, vm, userID, at, func(loadRow) bool { return false }); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE machines SET planogram_id = NULL WHERE planogram_id = ?`, id); err != nil {
			return dbErr("delete planogram", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM planograms WHERE id = ?`, id)
		return mustAffect("delete planogram", res, err)
	})
}

// --- locations ---

func scanLocation(s scanner) (l store.Location, err error) {
	return l, s.Scan(&l.ID, &l.CompanyID, &l.Name, &l.Address, &l.Note)
}

// ListLocations returns the company's locations by id.
func (d *DB) ListLocations(ctx context.Context, companyID int64) ([]store.Location, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, company_id, name, address, note FROM locations
		WHERE company_id = ? ORDER BY id`, companyID)
	if err != nil {
		return nil, dbErr("list locations", err)
	}
	return collect(rows, "list locations", scanLocation)
}

// GetLocation returns the location with that id.
func (d *DB) GetLocation(ctx context.Context, id int64) (store.Location, error) {
	r, err := d.reader()
	if err != nil {
		return store.Location{}, err
	}
	l, err := scanLocation(r.QueryRowContext(ctx, `SELECT id, company_id, name, address, note FROM locations
		WHERE id = ?`, id))
	return l, dbErr("get location", err)
}

// CreateLocation inserts l and sets l.ID.
func (d *DB) CreateLocation(ctx context.Context, l *store.Location) error {
	if l.CompanyID == 0 {
		l.CompanyID = store.DefaultCompanyID
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO locations (company_id, name, address, note) VALUES (?,?,?,?)`,
			l.CompanyID, l.Name, l.Address, l.Note)
		if err != nil {
			return dbErr("create location", err)
		}
		l.ID, err = res.LastInsertId()
		return dbErr("create location", err)
	})
}

// UpdateLocation writes l's name, address and note.
func (d *DB) UpdateLocation(ctx context.Context, l store.Location) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE locations SET name = ?, address = ?, note = ? WHERE id = ?`,
			l.Name, l.Address, l.Note, l.ID)
		return mustAffect("update location", res, err)
	})
}

// DeleteLocation deletes the location; see store.Catalog.
func (d *DB) DeleteLocation(ctx context.Context, id int64, force bool) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM machines WHERE location_id = ?`, id).Scan(&n); err != nil {
			return dbErr("delete location", err)
		}
		if n > 0 {
			if !force {
				return fmt.Errorf("sqlite: location %d is assigned to %d machine(s): %w", id, n, store.ErrInUse)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE machines SET location_id = NULL WHERE location_id = ?`, id); err != nil {
				return dbErr("delete location", err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM locations WHERE id = ?`, id)
		return mustAffect("delete location", res, err)
	})
}

// --- loading ---
//
// The current level of a (machine, component, layout) is its baseline value
// minus the consumption of the machine's successful vends that count against
// it: those with an id above the row's vend_mark (not yet applied: every
// operation re-bases all rows of the machine at the newest vend id, so a vend
// that arrives late is still counted once) and a time after the row's
// time_floor (an inventory counted what was physically there at its time, so
// vends made before it are already in the count). A vend consumes the recipe of
// the product the machine's planogram puts on its selection: product
// components from the row of that selection, ingredients from the row with
// layout "". Levels never go below zero.

type loadRow struct {
	comp   int64
	layout string
	value  int64
	mark   int64
	floor  int64
}

type use struct {
	comp    int64
	volume  int64
	product bool // a product component: consumed from the selection's row
}

// normSel normalises a selection number for matching vends to the layout:
// trimmed, upper case, leading zeros of a numeric selection dropped ("07" = "7").
func normSel(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return s
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return s
		}
	}
	t := strings.TrimLeft(s, "0")
	if t == "" {
		return "0"
	}
	return t
}

// loadingNow returns the machine's rows at their current level and the newest
// vend id of the machine.
func loadingNow(ctx context.Context, q querier, vmID int64) ([]loadRow, int64, error) {
	var maxVend int64
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM vends WHERE vm_id = ?`, vmID).Scan(&maxVend); err != nil {
		return nil, 0, dbErr("loading", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT component_id, layout, value, vend_mark, time_floor FROM loading
		WHERE vm_id = ? ORDER BY component_id, layout`, vmID)
	if err != nil {
		return nil, 0, dbErr("loading", err)
	}
	lr, err := collect(rows, "loading", func(s scanner) (r loadRow, err error) {
		return r, s.Scan(&r.comp, &r.layout, &r.value, &r.mark, &r.floor)
	})
	if err != nil || len(lr) == 0 {
		return lr, maxVend, err
	}
	var plano sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT planogram_id FROM machines WHERE id = ?`, vmID).Scan(&plano); err != nil {
		return nil, 0, dbErr("loading", err)
	}
	if !plano.Valid {
		return lr, maxVend, nil
	}
	recipes, err := planogramRecipes(ctx, q, plano.Int64)
	if err != nil {
		return nil, 0, err
	}
	idx := make(map[compLayout]int, len(lr))
	type window struct{ mark, floor int64 }
	windows := map[window]bool{}
	for i, r := range lr {
		idx[compLayout{r.comp, normSel(r.layout)}] = i
		windows[window{r.mark, r.floor}] = true
	}
	consumed := make([]int64, len(lr))
	// Rows are re-based together, so there is normally one window per machine
	// (more only after a partial inventory).
	for w := range windows {
		vr, err := q.QueryContext(ctx, `SELECT selection, count(*) FROM vends WHERE vm_id = ? AND ok = 1 AND id > ?
			AND time > ? GROUP BY selection`, vmID, w.mark, w.floor)
		if err != nil {
			return nil, 0, dbErr("loading vends", err)
		}
		for vr.Next() {
			var sel string
			var n int64
			if err := vr.Scan(&sel, &n); err != nil {
				vr.Close()
				return nil, 0, dbErr("loading vends", err)
			}
			sel = normSel(sel)
			for _, u := range recipes[sel] {
				key := compLayout{u.comp, ""}
				if u.product {
					key.layout = sel
				}
				if i, ok := idx[key]; ok && lr[i].mark == w.mark && lr[i].floor == w.floor {
					consumed[i] += n * u.volume
				}
			}
		}
		err = vr.Err()
		vr.Close()
		if err != nil {
			return nil, 0, dbErr("loading vends", err)
		}
	}
	for i := range lr {
		lr[i].value = max(0, lr[i].value-consumed[i])
	}
	return lr, maxVend, nil
}

// planogramRecipes maps each normalised selection to the recipe of its product.
func planogramRecipes(ctx context.Context, q querier, planogramID int64) (map[string][]use, error) {
	rows, err := q.QueryContext(ctx, `SELECT l.number, pc.component_id, pc.volume, c.is_product
		FROM planogram_layout l JOIN product_components pc ON pc.product_id = l.product_id
		JOIN components c ON c.id = pc.component_id WHERE l.planogram_id = ?`, planogramID)
	if err != nil {
		return nil, dbErr("planogram recipes", err)
	}
	defer rows.Close()
	out := map[string][]use{}
	for rows.Next() {
		var num string
		var u use
		if err := rows.Scan(&num, &u.comp, &u.volume, &u.product); err != nil {
			return nil, dbErr("planogram recipes", err)
		}
		num = normSel(num)
		out[num] = append(out[num], u)
	}
	return out, dbErr("planogram recipes", rows.Err())
}

// CurrentLoading returns the machine's current levels.
func (d *DB) CurrentLoading(ctx context.Context, vmID int64) ([]store.LoadingEntry, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, _, err := loadingNow(ctx, r, vmID)
	if err != nil {
		return nil, err
	}
	out := make([]store.LoadingEntry, len(rows))
	for i, row := range rows {
		out[i] = store.LoadingEntry{ComponentID: row.comp, Layout: row.layout, Value: row.value}
	}
	return out, nil
}

// rebase writes the machine's rows as the new baseline at vend mark maxVend.
func rebase(ctx context.Context, tx *sql.Tx, vmID int64, rows []loadRow, maxVend int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM loading WHERE vm_id = ?`, vmID); err != nil {
		return dbErr("rebase loading", err)
	}
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, `INSERT INTO loading (vm_id, component_id, layout, value, vend_mark, time_floor)
			VALUES (?,?,?,?,?,?)`, vmID, r.comp, r.layout, r.value, maxVend, r.floor); err != nil {
			return dbErr("rebase loading", err)
		}
	}
	return nil
}

// insertTx records a loading transaction with its items.
func insertTx(ctx context.Context, tx *sql.Tx, t *store.LoadingTx) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO loading_tx (vm_id, user_id, kind, digest, note, created_at)
		VALUES (?,?,?,?,?,?)`, t.VMID, t.UserID, t.Kind, t.Digest, t.Note, ms(t.CreatedAt))
	if err != nil {
		return dbErr("loading tx", err)
	}
	if t.ID, err = res.LastInsertId(); err != nil {
		return dbErr("loading tx", err)
	}
	for i, it := range t.Items {
		if _, err := tx.ExecContext(ctx, `INSERT INTO loading_tx_items (tx_id, seq, component_id, layout, delta, orig,
			underflow) VALUES (?,?,?,?,?,?,?)`, t.ID, i, it.ComponentID, it.Layout, it.Delta, it.Orig,
			b2i(it.Underflow)); err != nil {
			return dbErr("loading tx", err)
		}
	}
	return nil
}

// unload takes every row that keep rejects out of the machine (recording a
// LoadUnload transaction when any held something) and re-bases the rest.
func unload(ctx context.Context, tx *sql.Tx, vmID, userID int64, at time.Time, keep func(loadRow) bool) error {
	rows, maxVend, err := loadingNow(ctx, tx, vmID)
	if err != nil || len(rows) == 0 {
		return err
	}
	t := store.LoadingTx{VMID: vmID, UserID: userID, Kind: store.LoadUnload, CreatedAt: at}
	kept := rows[:0:0]
	for _, r := range rows {
		if keep(r) {
			kept = append(kept, r)
			continue
		}
		if r.value != 0 {
			t.Items = append(t.Items, store.LoadingTxItem{ComponentID: r.comp, Layout: r.layout, Delta: -r.value, Orig: r.value})
		}
	}
	if err := rebase(ctx, tx, vmID, kept, maxVend); err != nil {
		return err
	}
	if len(t.Items) == 0 {
		return nil
	}
	return insertTx(ctx, tx, &t)
}

// ApplyLoading records op; see store.Catalog.
func (d *DB) ApplyLoading(ctx context.Context, vmID int64, op store.LoadingOp, at time.Time) (store.LoadingTx, bool, error) {
	created := op.CreatedAt
	if created.IsZero() {
		created = at
	}
	t := store.LoadingTx{VMID: vmID, UserID: op.UserID, Kind: op.Kind, Digest: op.Digest, Note: op.Note, CreatedAt: created}
	changed := false
	err := d.write(ctx, func(tx *sql.Tx) error {
		if op.Digest != "" {
			var last string
			err := tx.QueryRowContext(ctx, `SELECT digest FROM loading_tx WHERE vm_id = ? AND kind IN (?, ?)
				ORDER BY id DESC LIMIT 1`, vmID, store.LoadAdd, store.LoadInventory).Scan(&last)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return dbErr("apply loading", err)
			}
			if last == op.Digest {
				return store.ErrDuplicate
			}
		}
		rows, maxVend, err := loadingNow(ctx, tx, vmID)
		if err != nil {
			return err
		}
		idx := make(map[compLayout]int, len(rows))
		for i, r := range rows {
			idx[compLayout{r.comp, r.layout}] = i
		}
		for _, it := range op.Items {
			key := compLayout{it.ComponentID, it.Layout}
			i, ok := idx[key]
			if !ok {
				rows = append(rows, loadRow{comp: it.ComponentID, layout: it.Layout})
				i = len(rows) - 1
				idx[key] = i
			}
			orig := rows[i].value
			item := store.LoadingTxItem{ComponentID: it.ComponentID, Layout: it.Layout, Orig: orig}
			switch op.Kind {
			case store.LoadInventory:
				item.Delta = it.Amount - orig
				rows[i].value = it.Amount
				rows[i].floor = ms(created)
			default:
				item.Delta = it.Amount
				rows[i].value = orig + it.Amount
				if rows[i].value < 0 {
					rows[i].value, item.Underflow = 0, true
				}
			}
			if item.Delta != 0 {
				t.Items = append(t.Items, item)
			}
		}
		if len(t.Items) == 0 {
			return nil // nothing changed (an inventory matching the levels): write nothing
		}
		changed = true
		if err := rebase(ctx, tx, vmID, rows, maxVend); err != nil {
			return err
		}
		if err := insertTx(ctx, tx, &t); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE machines SET last_loading = max(last_loading, ?) WHERE id = ?`,
			ms(created), vmID)
		return mustAffect("apply loading", res, err)
	})
	if err != nil {
		return store.LoadingTx{}, false, err
	}
	return t, changed, nil
}

// ListLoadingTx returns the machine's loading transactions in the period.
func (d *DB) ListLoadingTx(ctx context.Context, vmID int64, since, until time.Time) ([]store.LoadingTx, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(since, until)
	rows, err := r.QueryContext(ctx, `SELECT id, vm_id, user_id, kind, digest, note, created_at FROM loading_tx
		WHERE vm_id = ? AND created_at >= ? AND created_at <= ? ORDER BY created_at, id`, vmID, lo, hi)
	if err != nil {
		return nil, dbErr("list loading tx", err)
	}
	txs, err := collect(rows, "list loading tx", func(s scanner) (t store.LoadingTx, err error) {
		var c int64
		err = s.Scan(&t.ID, &t.VMID, &t.UserID, &t.Kind, &t.Digest, &t.Note, &c)
		t.CreatedAt = tm(c)
		return t, err
	})
	if err != nil || len(txs) == 0 {
		return txs, err
	}
	idx := make(map[int64]int, len(txs))
	for i := range txs {
		idx[txs[i].ID] = i
	}
	items, err := r.QueryContext(ctx, `SELECT i.tx_id, i.component_id, coalesce(c.name, ''), i.layout, i.delta, i.orig,
		i.underflow FROM loading_tx_items i JOIN loading_tx t ON t.id = i.tx_id
		LEFT JOIN components c ON c.id = i.component_id
		WHERE t.vm_id = ? AND t.created_at >= ? AND t.created_at <= ? ORDER BY i.tx_id, i.seq`, vmID, lo, hi)
	if err != nil {
		return nil, dbErr("list loading tx", err)
	}
	defer items.Close()
	for items.Next() {
		var id int64
		var it store.LoadingTxItem
		if err := items.Scan(&id, &it.ComponentID, &it.Component, &it.Layout, &it.Delta, &it.Orig, &it.Underflow); err != nil {
			return nil, dbErr("list loading tx", err)
		}
		if i, ok := idx[id]; ok {
			txs[i].Items = append(txs[i].Items, it)
		}
	}
	return txs, dbErr("list loading tx", items.Err())
}

// LastValidAudit returns the machine's newest valid audit read at or before before.
func (d *DB) LastValidAudit(ctx context.Context, vmID int64, before time.Time) (store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return store.Audit{}, err
	}
	_, hi := bounds(time.Time{}, before)
	a, err := scanAudit(r.QueryRowContext(ctx, `SELECT id, modem_id, vm_id, msg_id, port, time, received, data, valid,
		error, command_id FROM audits WHERE vm_id = ? AND valid = 1 AND time <= ? ORDER BY time DESC, id DESC LIMIT 1`,
		vmID, hi))
	return a, dbErr("last valid audit", err)
}
