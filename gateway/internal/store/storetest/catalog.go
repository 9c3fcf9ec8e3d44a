package storetest

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// CatalogTests runs the contract of store.Catalog (reference lists, catalogue,
// loading); the store open returns must implement store.Catalog.
func CatalogTests(t *testing.T, open Opener) {
	for _, name := range slices.Sorted(maps.Keys(catalogTests)) {
		fn := catalogTests[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			c, ok := s.(store.Catalog)
			require.Truef(t, ok, "%T does not implement store.Catalog", s)
			fn(t, s, c)
		})
	}
}

// catVend is a successful vend on selection sel at T0+sec.
func catVend(modem int64, sec int, msgID, sel string) store.Uplink {
	return store.Uplink{Kind: store.UpVend, ModemID: modem, Received: at(sec),
		Vend: &store.Vend{MsgID: msgID, Selection: sel, Price: 100, Payment: "cash", Type: "paid", OK: true, Time: at(sec)}}
}

// catFixture is a coffee-and-snack planogram: recipe "Эспрессо" (coffee 7 g,
// water 30 ml, cup 1) on selection "1", and product "Bounty" on "A1" and "A2".
type catFixture struct {
	coffee, water, cup, bounty int64 // component ids
	espresso, bar              int64 // product ids
	plano                      store.Planogram
}

func newCatFixture(t *testing.T, c store.Catalog) catFixture {
	t.Helper()
	var f catFixture
	cup := store.Component{Name: "Стаканчик", Unit: store.UnitPiece}
	require.NoError(t, c.CreateComponent(ctx, &cup))
	f.cup = cup.ID
	esp := store.Product{Name: "Эспрессо", Composite: true, Components: []store.RecipeItem{
		{Name: "Кофе", Unit: store.UnitGram, Volume: 7},
		{Name: "Вода", Unit: store.UnitML, Volume: 30},
		{ComponentID: cup.ID, Volume: 1},
	}}
	require.NoError(t, c.CreateProduct(ctx, &esp))
	f.espresso = esp.ID
	f.coffee, f.water = esp.Components[0].ComponentID, esp.Components[1].ComponentID
	bar := store.Product{Name: "Bounty"}
	require.NoError(t, c.CreateProduct(ctx, &bar))
	f.bar = bar.ID
	require.Len(t, bar.Components, 1)
	f.bounty = bar.Components[0].ComponentID
	f.plano = store.Planogram{Name: "Комбо", Mode: "basic",
		Capacity: []store.CapacityItem{{ComponentID: f.coffee, Capacity: 1000, Critical: ptr(100)}, {ComponentID: f.bounty, Capacity: 20}},
		Layout:   []store.LayoutItem{{ProductID: f.espresso, Number: "1", Price: ptr(50)}, {ProductID: f.bar, Number: "A1"}, {ProductID: f.bar, Number: "A2"}},
	}
	require.NoError(t, c.CreatePlanogram(ctx, &f.plano, 0, 0, T0))
	return f
}

func levels(t *testing.T, c store.Catalog, vm int64) map[[2]any]int64 {
	t.Helper()
	es, err := c.CurrentLoading(ctx, vm)
	require.NoError(t, err)
	out := map[[2]any]int64{}
	for _, e := range es {
		out[[2]any{e.ComponentID, e.Layout}] = e.Value
	}
	return out
}

var catalogTests = map[string]func(t *testing.T, s store.Store, c store.Catalog){
	"ReferenceListsSeeded": func(t *testing.T, s store.Store, c store.Catalog) {
		ms, err := c.ListVMModels(ctx)
		require.NoError(t, err)
		require.Equal(t, []store.VMModel{{ID: 1, Name: "Bianchi BVM 676"}, {ID: 2, Name: "Necta Kikko Max"}}, ms)
		tz, err := c.ListTimezones(ctx)
		require.NoError(t, err)
		require.Contains(t, tz, store.Timezone{ID: 109, Name: "America/Grenada"})
		require.Contains(t, tz, store.Timezone{ID: 220, Name: "Asia/Baku"})
		codes, err := c.ListEventCodes(ctx)
		require.NoError(t, err)
		require.Contains(t, codes, store.EventCode{Code: "EA1A", Name: "Cassette Removed",
			Desc: "COIN MECHANISM: The coin storage cassette has been removed unexpectedly."})
	},
	"ComponentsAndProducts": func(t *testing.T, s store.Store, c store.Catalog) {
		f := newCatFixture(t, c)
		dup := store.Component{Name: "Стаканчик", Unit: store.UnitPiece}
		require.ErrorIs(t, c.CreateComponent(ctx, &dup), store.ErrConflict)
		cs, err := c.ListComponents(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Len(t, cs, 4, "cup, coffee and water, plus the bar's own component")
		bc, err := c.GetComponent(ctx, f.bounty)
		require.NoError(t, err)
		require.Equal(t, store.Component{ID: f.bounty, CompanyID: 1, Name: "Bounty", Unit: store.UnitPiece, IsProduct: true}, bc)

		// A second recipe naming water again reuses the component.
		lat := store.Product{Name: "Латте", Composite: true, Components: []store.RecipeItem{{Name: "Вода", Unit: store.UnitML, Volume: 100}}}
		require.NoError(t, c.CreateProduct(ctx, &lat))
		require.Equal(t, f.water, lat.Components[0].ComponentID)
		require.ErrorIs(t, c.CreateProduct(ctx, &store.Product{Name: "Латте"}), store.ErrConflict)

		vat := 12.5
		p, err := c.GetProduct(ctx, f.bar)
		require.NoError(t, err)
		p.Name, p.VAT = "Bounty 55г", &vat
		require.NoError(t, c.UpdateProduct(ctx, p, nil))
		bc, err = c.GetComponent(ctx, f.bounty)
		require.NoError(t, err)
		require.Equal(t, "Bounty 55г", bc.Name, "a simple product's component follows its name")
		p, err = c.GetProduct(ctx, f.bar)
		require.NoError(t, err)
		require.Equal(t, 12.5, *p.VAT)

		// Recipe edits.
		require.ErrorIs(t, c.AddRecipeItem(ctx, f.espresso, f.cup, 1), store.ErrConflict)
		require.NoError(t, c.SetRecipeItem(ctx, f.espresso, f.coffee, 8))
		require.NoError(t, c.DeleteRecipeItem(ctx, f.espresso, f.cup))
		require.ErrorIs(t, c.DeleteRecipeItem(ctx, f.espresso, f.cup), store.ErrNotFound)
		require.NoError(t, c.AddRecipeItem(ctx, f.espresso, f.cup, 2))
		p, err = c.GetProduct(ctx, f.espresso)
		require.NoError(t, err)
		require.Equal(t, []store.RecipeItem{{ComponentID: f.cup, Volume: 2}, {ComponentID: f.coffee, Volume: 8},
			{ComponentID: f.water, Volume: 30}}, p.Components, "by component id")
		require.NoError(t, c.UpdateProduct(ctx, p, []store.RecipeItem{{ComponentID: f.water, Volume: 40}}))
		p, err = c.GetProduct(ctx, f.espresso)
		require.NoError(t, err)
		require.Equal(t, []store.RecipeItem{{ComponentID: f.water, Volume: 40}}, p.Components)

		ps, err := c.ListProducts(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Len(t, ps, 3)
		require.NoError(t, c.DeleteProduct(ctx, f.bar))
		_, err = c.GetProduct(ctx, f.bar)
		require.ErrorIs(t, err, store.ErrNotFound)
		pl, err := c.GetPlanogram(ctx, f.plano.ID)
		require.NoError(t, err)
		require.Len(t, pl.Layout, 1, "the deleted product's selections are gone")
	},
	"Planograms": func(t *testing.T, s store.Store, c store.Catalog) {
		f := newCatFixture(t, c)
		got, err := c.GetPlanogram(ctx, f.plano.ID)
		require.NoError(t, err)
		require.Equal(t, f.plano, got)
		list, err := c.ListPlanograms(ctx, store.DefaultCompanyID, false)
		require.NoError(t, err)
		require.Equal(t, []store.Planogram{{ID: f.plano.ID, CompanyID: 1, Name: "Комбо", Mode: "basic"}}, list)
		list, err = c.ListPlanograms(ctx, store.DefaultCompanyID, true)
		require.NoError(t, err)
		require.Equal(t, []store.Planogram{f.plano}, list)
		require.ErrorIs(t, c.CreatePlanogram(ctx, &store.Planogram{Name: "Комбо", Mode: "snack"}, 0, 0, T0), store.ErrConflict)
		require.NoError(t, c.DeletePlanogram(ctx, f.plano.ID, 0, T0))
		_, err = c.GetPlanogram(ctx, f.plano.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, c.DeletePlanogram(ctx, f.plano.ID, 0, T0), store.ErrNotFound)
	},
	"Locations": func(t *testing.T, s store.Store, c store.Catalog) {
		l := store.Location{Name: "БЦ Конфетка", Address: "Большая Посадская, 1", Note: "на столе"}
		require.NoError(t, c.CreateLocation(ctx, &l))
		require.ErrorIs(t, c.CreateLocation(ctx, &store.Location{Name: "БЦ Конфетка"}), store.ErrConflict)
		l.Address = "Таежная, 42"
		require.NoError(t, c.UpdateLocation(ctx, l))
		got, err := c.GetLocation(ctx, l.ID)
		require.NoError(t, err)
		require.Equal(t, store.Location{ID: l.ID, CompanyID: 1, Name: "БЦ Конфетка", Address: "Таежная, 42", Note: "на столе"}, got)
		vm := newMachine(t, s, 0)
		vm.LocationID = &l.ID
		require.NoError(t, s.UpdateMachine(ctx, vm, false))
		require.ErrorIs(t, c.DeleteLocation(ctx, l.ID, false), store.ErrInUse)
		require.NoError(t, c.DeleteLocation(ctx, l.ID, true))
		require.Nil(t, getMachine(t, s, vm.ID).LocationID)
		ls, err := c.ListLocations(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Empty(t, ls)
		require.ErrorIs(t, c.UpdateLocation(ctx, l), store.ErrNotFound)
	},
	"LoadingConsumesRecipes": func(t *testing.T, s store.Store, c store.Catalog) {
		f := newCatFixture(t, c)
		modem, vm := boundModem(t, s)
		vm.PlanogramID = &f.plano.ID
		require.NoError(t, s.UpdateMachine(ctx, vm, false))
		apply(t, s, catVend(modem.ID, 1, "before", "1")) // before any loading: no baseline

		tx, changed, err := c.ApplyLoading(ctx, vm.ID, store.LoadingOp{Kind: store.LoadAdd, UserID: 7, Digest: "d1", Note: "n",
			CreatedAt: at(10), Items: []store.LoadingItem{
				{ComponentID: f.coffee, Amount: 1000}, {ComponentID: f.water, Amount: 5000},
				{ComponentID: f.cup, Amount: 3}, {ComponentID: f.bounty, Layout: "A1", Amount: 10},
				{ComponentID: f.bounty, Layout: "A2", Amount: 4},
			}}, at(11))
		require.NoError(t, err)
		require.True(t, changed)
		require.NotZero(t, tx.ID)
		require.Equal(t, at(10), getMachine(t, s, vm.ID).LastLoading)

		apply(t, s,
			catVend(modem.ID, 20, "e1", "1"), catVend(modem.ID, 21, "e2", "01"), // "01" is selection "1"
			catVend(modem.ID, 22, "b1", "A1"), catVend(modem.ID, 23, "b2", "a1"),
			catVend(modem.ID, 24, "x", "Z9"), // not in the planogram
			catVend(modem.ID, 25, "e3", "1"), catVend(modem.ID, 26, "e4", "1"),
		)
		failed := catVend(modem.ID, 27, "fail", "A2")
		failed.Vend.OK = false
		apply(t, s, failed)
		lv := levels(t, c, vm.ID)
		require.Equal(t, int64(1000-4*7), lv[[2]any{f.coffee, ""}])
		require.Equal(t, int64(5000-4*30), lv[[2]any{f.water, ""}])
		require.Equal(t, int64(0), lv[[2]any{f.cup, ""}], "4 cups from 3: clamped at zero")
		require.Equal(t, int64(8), lv[[2]any{f.bounty, "A1"}])
		require.Equal(t, int64(4), lv[[2]any{f.bounty, "A2"}], "failed vends consume nothing")

		// The same digest again is a duplicate; a new one applies on the current levels.
		_, _, err = c.ApplyLoading(ctx, vm.ID, store.LoadingOp{Kind: store.LoadAdd, Digest: "d1",
			Items: []store.LoadingItem{{ComponentID: f.cup, Amount: 1}}}, at(30))
		require.ErrorIs(t, err, store.ErrDuplicate)
		tx, _, err = c.ApplyLoading(ctx, vm.ID, store.LoadingOp{Kind: store.LoadAdd, Digest: "d2",
			Items: []store.LoadingItem{{ComponentID: f.cup, Amount: 10}, {ComponentID: f.bounty, Layout: "A2", Amount: -6}}}, at(30))
		require.NoError(t, err)
		require.Equal(t, []store.LoadingTxItem{
			{ComponentID: f.cup, Delta: 10, Orig: 0},
			{ComponentID: f.bounty, Layout: "A2", Delta: -6, Orig: 4, Underflow: true},
		}, tx.Items)
		lv = levels(t, c, vm.ID)
		require.Equal(t, int64(10), lv[[2]any{f.cup, ""}])
		require.Equal(t, int64(0), lv[[2]any{f.bounty, "A2"}])
		require.Equal(t, int64(1000-4*7), lv[[2]any{f.coffee, ""}], "re-basing keeps the consumption")

		// A vend that happened before the re-base but arrives after it still counts once.
		apply(t, s, catVend(modem.ID, 28, "late", "1"))
		lv = levels(t, c, vm.ID)
		require.Equal(t, int64(1000-5*7), lv[[2]any{f.coffee, ""}])
		require.Equal(t, int64(9), lv[[2]any{f.cup, ""}])

		txs, err := c.ListLoadingTx(ctx, vm.ID, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, txs, 2)
		require.Equal(t, "d1", txs[0].Digest)
		require.Equal(t, int64(7), txs[0].UserID)
		require.Equal(t, "Стаканчик", txs[0].Items[2].Component)
		require.Len(t, txs[0].Items, 5)
		txs, err = c.ListLoadingTx(ctx, vm.ID, at(29), at(100))
		require.NoError(t, err)
		require.Len(t, txs, 1)
	},
	"Inventory": func(t *testing.T, s store.Store, c store.Catalog) {
		f := newCatFixture(t, c)
		modem, vm := boundModem(t, s)
		vm.PlanogramID = &f.plano.ID
		require.NoError(t, s.UpdateMachine(ctx, vm, false))
		_, _, err := c.ApplyLoading(ctx, vm.ID, store.LoadingOp{Kind: store.LoadAdd, Digest: "l",
			Items: []store.LoadingItem{{ComponentID: f.bounty, Layout: "A1", Amount: 10}, {ComponentID: f.coffee, Amount: 500}}}, at(1))
		require.NoError(t, err)
		apply(t, s, catVend(modem.ID, 5, "v1", "A1"))

		inv := func(digest string, created int, items ...store.LoadingItem) (store.LoadingTx, bool) {
			t.Helper()
			tx, changed, err := c.ApplyLoading(ctx, vm.ID, store.LoadingOp{Kind: store.LoadInventory, Digest: digest,
				CreatedAt: at(created), Items: items}, at(created))
			require.NoError(t, err)
			return tx, changed
		}
		_, changed := inv("i1", 10, store.LoadingItem{ComponentID: f.bounty, Layout: "A1", Amount: 9})
		require.False(t, changed, "the count matches the level: nothing recorded")
		txs, err := c.ListLoadingTx(ctx, vm.ID, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, txs, 1)

		tx, changed := inv("i2", 20, store.LoadingItem{ComponentID: f.bounty, Layout: "A1", Amount: 6})
		require.True(t, changed)
		require.Equal(t, []store.LoadingTxItem{{ComponentID: f.bounty, Layout: "A1", Delta: -3, Orig: 9}}, tx.Items)
		// A vend made before the count but received after it is already in the
		// count; one made after it is not.
		apply(t, s, catVend(modem.ID, 15, "v2", "A1"), catVend(modem.ID, 25, "v3", "A1"),
			catVend(modem.ID, 16, "v4", "1"), catVend(modem.ID, 26, "v5", "1"))
		lv := levels(t, c, vm.ID)
		require.Equal(t, int64(5), lv[[2]any{f.bounty, "A1"}])
		require.Equal(t, int64(500-2*7), lv[[2]any{f.coffee, ""}], "rows not in the count keep their window: both espressos count")
	},
	"PlanogramChangeUnloads": func(t *testing.T, s store.Store, c store.Catalog) {
		f := newCatFixture(t, c)
		_, vm := boundModem(t, s)
		vm.PlanogramID = &f.plano.ID
		require.NoError(t, s.UpdateMachine(ctx, vm, false))
		_, _, err := c.ApplyLoading(ctx, vm.ID, store.LoadingOp{Kind: store.LoadAdd, Digest: "l",
			Items: []store.LoadingItem{{ComponentID: f.bounty, Layout: "A1", Amount: 10},
				{ComponentID: f.bounty, Layout: "A2", Amount: 5}, {ComponentID: f.coffee, Amount: 500}}}, at(1))
		require.NoError(t, err)
		// The new planogram keeps the bar on A1 only.
		p2 := store.Planogram{Name: "Снеки", Mode: "snack", Layout: []store.LayoutItem{{ProductID: f.bar, Number: "A1"}}}
		require.NoError(t, c.CreatePlanogram(ctx, &p2, vm.ID, 9, at(5)))
		require.Equal(t, p2.ID, *getMachine(t, s, vm.ID).PlanogramID)
		lv := levels(t, c, vm.ID)
		require.Equal(t, map[[2]any]int64{{f.bounty, "A1"}: 10, {f.coffee, ""}: 500}, lv)
		txs, err := c.ListLoadingTx(ctx, vm.ID, T0, at(100))
		require.NoError(t, err)
		require.Len(t, txs, 2)
		require.Equal(t, store.LoadUnload, txs[1].Kind)
		require.Equal(t, int64(9), txs[1].UserID)
		require.Equal(t, []store.LoadingTxItem{{ComponentID: f.bounty, Component: "Bounty", Layout: "A2", Delta: -5, Orig: 5}}, txs[1].Items)

		require.NoError(t, c.DeletePlanogram(ctx, p2.ID, 9, at(6)))
		require.Nil(t, getMachine(t, s, vm.ID).PlanogramID)
		require.Empty(t, levels(t, c, vm.ID))
		_, _, err = c.ApplyLoading(ctx, 999999, store.LoadingOp{Kind: store.LoadAdd, Items: []store.LoadingItem{{ComponentID: f.cup, Amount: 1}}}, at(7))
		require.Error(t, err, "unknown machine")
	},
	"LastValidAudit": func(t *testing.T, s store.Store, c store.Catalog) {
		modem, vm := boundModem(t, s)
		_, err := c.LastValidAudit(ctx, vm.ID, T0.Add(1e12))
		require.ErrorIs(t, err, store.ErrNotFound)
		apply(t, s, audit(modem.ID, 10, "a1", 1, true), audit(modem.ID, 20, "a2", 1, true), audit(modem.ID, 30, "a3", 1, false))
		a, err := c.LastValidAudit(ctx, vm.ID, at(100))
		require.NoError(t, err)
		require.Equal(t, "a2", a.MsgID)
		a, err = c.LastValidAudit(ctx, vm.ID, at(15))
		require.NoError(t, err)
		require.Equal(t, "a1", a.MsgID)
		_, err = c.LastValidAudit(ctx, vm.ID, at(5))
		require.True(t, errors.Is(err, store.ErrNotFound))
	},
}
