package evadts

import (
	"errors"
	"fmt"
	"strings"
)

// ErrDifferentMachine is returned by Sales for audits of two machines.
var ErrDifferentMachine = errors.New("evadts: audits are from different machines")

// CounterModulus is where "since initialisation" counters are assumed to
// wrap: EVA-DTS §5.1.6 says counters wrap at their field width, and the
// data dictionary gives Nc/N0 counters 8 digits (after 99 999 999 comes 0).
// When either reading is at or above it, the binary dword limit 2^32 is
// assumed instead (some machines wrap there; §5.1.6 allows it).
const CounterModulus = 100_000_000

// Amount is a count of vends and their value in minor units.
type Amount struct {
	Count int64 `json:"count"`
	Value int64 `json:"value"`
}

// ProductSales is the sales of one product between two audits.
type ProductSales struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Amount
	// ByDevice splits the sales by payment device (PA7), keyed "DA" etc.
	// plus "/" and the price list when it is not empty.
	ByDevice map[string]Amount `json:"by_device,omitempty"`
}

// EventCount is how often an EA2 event occurred between two audits.
type EventCount struct {
	Code    string `json:"code"`
	Product string `json:"product,omitempty"`
	Count   int64  `json:"count"`
}

// Delta is what happened between two audits of one machine.
type Delta struct {
	Machine   string            `json:"machine"`
	Vends     Amount            `json:"vends"`      // VA1 paid vends
	Cash      Amount            `json:"cash"`       // CA2
	Cashless  Amount            `json:"cashless"`   // sum of DA2 and DB2
	Devices   map[string]Amount `json:"devices"`    // per cashless prefix "DA", "DB"
	Products  []ProductSales    `json:"products"`   // products with sales, in cur order
	NewEvents []TimedEvent      `json:"new_events"` // EA1 in cur and not in prev
	Events    []EventCount      `json:"events"`     // EA2 increases
	// Wrapped names the counters that went backwards and were taken as
	// having wrapped at CounterModulus (or 2^32).
	Wrapped []string `json:"wrapped,omitempty"`
	// Reinitialised is set when EA4 (last initialisation) changed between
	// the audits; counters that went backwards are then read as restarted
	// from zero instead of wrapped.
	Reinitialised bool `json:"reinitialised"`
}

// MachineID is the identity Sales compares: ID101 (machine serial), else
// CB101 (control board serial), else the DXS communication id.
func (r *Report) MachineID() string {
	if s := strings.TrimSpace(r.Machine.Serial); s != "" {
		return s
	}
	if cb := r.Machine.ControlBoard; cb != nil {
		if s := strings.TrimSpace(cb.Serial); s != "" {
			return s
		}
	}
	return strings.TrimSpace(r.Header.CommID)
}

// Sales computes the sales between an earlier audit prev and a later audit
// cur of the same machine from the "since initialisation" counters, which
// reads never reset (the "since last reset" ones are zeroed by reads in AUTO
// mode, EVA-DTS §2.6, so they cannot be trusted across readers).
func Sales(prev, cur *Report) (Delta, error) {
	if prev == nil || cur == nil {
		return Delta{}, errors.New("evadts: sales needs two audits")
	}
	if a, b := prev.MachineID(), cur.MachineID(); a != b {
		return Delta{}, fmt.Errorf("%w: %q and %q", ErrDifferentMachine, a, b)
	}
	d := Delta{Machine: cur.MachineID(), Devices: map[string]Amount{}}
	if pi, ci := prev.Events.Initialised, cur.Events.Initialised; pi != nil && ci != nil &&
		(pi.Date != ci.Date || pi.Time != ci.Time) {
		d.Reinitialised = true
	}
	diff := func(name string, a, b int64) int64 {
		if b >= a {
			return b - a
		}
		if d.Reinitialised {
			return b
		}
		mod := int64(CounterModulus)
		if a >= mod || b >= mod {
			mod = 1 << 32
		}
		d.Wrapped = append(d.Wrapped, name)
		if a >= mod { // beyond any known width: cannot reason about it
			return 0
		}
		return b + mod - a
	}
	totals := func(name string, a, b *Totals) Amount {
		if b == nil {
			return Amount{}
		}
		if a == nil {
			a = &Totals{}
		}
		return Amount{Count: diff(name+" count", a.CountInit, b.CountInit),
			Value: diff(name+" value", a.ValueInit, b.ValueInit)}
	}
	if cur.Meters.Paid != nil {
		var p *Totals
		if prev.Meters.Paid != nil {
			p = &prev.Meters.Paid.Totals
		}
		d.Vends = totals("VA1", p, &cur.Meters.Paid.Totals)
	}
	d.Cash = totals("CA2", prev.Cash.Sales, cur.Cash.Sales)
	for _, c := range cur.Cashless {
		var p *Totals
		for _, q := range prev.Cashless {
			if q.Prefix == c.Prefix {
				p = q.Sales
			}
		}
		a := totals(c.Prefix+"2", p, c.Sales)
		d.Devices[c.Prefix] = a
		d.Cashless.Count += a.Count
		d.Cashless.Value += a.Value
	}

	prevProd := map[string]*Product{}
	for i := range prev.Products {
		if _, ok := prevProd[prev.Products[i].ID]; !ok {
			prevProd[prev.Products[i].ID] = &prev.Products[i]
		}
	}
	for i := range cur.Products {
		cp := &cur.Products[i]
		pp := prevProd[cp.ID]
		if pp == nil {
			pp = &Product{}
		}
		ps := ProductSales{ID: cp.ID, Name: strings.TrimSpace(cp.Name)}
		name := "PA2 " + cp.ID
		switch {
		case cp.Paid != nil:
			var a VendCount
			if pp.Paid != nil {
				a = pp.Paid.VendCount
			}
			ps.Count = diff(name+" count", a.CountInit, cp.Paid.CountInit)
			ps.Value = diff(name+" value", a.ValueInit, cp.Paid.ValueInit)
		}
		for _, dv := range cp.ByDevice {
			key := dv.Device
			if dv.PriceList != "" {
				key += "/" + dv.PriceList
			}
			var a DeviceVends
			for _, q := range pp.ByDevice {
				if q.Device == dv.Device && q.PriceList == dv.PriceList {
					a = q
				}
			}
			am := Amount{Count: diff("PA7 "+cp.ID+" "+key+" count", a.CountInit, dv.CountInit),
				Value: diff("PA7 "+cp.ID+" "+key+" value", a.ValueInit, dv.ValueInit)}
			if am == (Amount{}) {
				continue
			}
			if ps.ByDevice == nil {
				ps.ByDevice = map[string]Amount{}
			}
			ps.ByDevice[key] = am
			if cp.Paid == nil { // DTS 6.1 machines may report PA7 only
				ps.Count += am.Count
				ps.Value += am.Value
			}
		}
		if ps.Amount != (Amount{}) || len(ps.ByDevice) > 0 {
			d.Products = append(d.Products, ps)
		}
	}

	seen := map[TimedEventKey]bool{}
	for _, e := range prev.Events.Timed {
		seen[e.Key()] = true
	}
	for _, e := range cur.Events.Timed {
		if !seen[e.Key()] {
			d.NewEvents = append(d.NewEvents, e)
		}
	}
	prevCount := map[[2]string]int64{}
	for _, e := range prev.Events.Counters {
		prevCount[[2]string{e.Code, e.Product}] = e.CountInit
	}
	for _, e := range cur.Events.Counters {
		n := diff("EA2 "+e.Code, prevCount[[2]string{e.Code, e.Product}], e.CountInit)
		if n > 0 {
			d.Events = append(d.Events, EventCount{Code: e.Code, Product: e.Product, Count: n})
		}
	}
	return d, nil
}

// TimedEventKey identifies an EA1 event across audits.
type TimedEventKey struct{ Code, Date, Time, Product string }

// Key returns the identity of the event: code, date, time and product.
func (e TimedEvent) Key() TimedEventKey {
	return TimedEventKey{e.Code, e.Date, e.Time, e.Product}
}
