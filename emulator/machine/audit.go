package machine

import (
	"bytes"
	"strings"
	"time"

	"vendgate/dex/evadts"
)

// Event identifiers used in EA2 records (EVA-DTS 6.2 §2.8, Appendix C; see
// shared/research/dex.md §3.6). Fault codes raised with SetFault are
// reported under their own code, as vendor event ids are in the wild.
const (
	EADoorOpen = "EGS" // door opened: counted on every opening, active while open
)

// resetBase is the machine's counters at the last reset: "since last reset"
// values are the current ones minus these.
type resetBase struct {
	cnt       Counters
	sels      map[int][3]int64 // selection number → Vends, Value, Free
	doorOpens int64
	faults    map[string]int64
	powerUps  int64
}

// resetLocked starts the "since last reset" counters from zero (AUTO mode
// after a read, EVA-DTS 6.2 §2.6).
func (m *Machine) resetLocked() {
	b := resetBase{cnt: m.cnt, sels: map[int][3]int64{}, doorOpens: m.doorOpens,
		faults: map[string]int64{}, powerUps: m.powerUps}
	for _, s := range m.sels {
		b.sels[s.Number] = [3]int64{s.Vends, s.Value, s.Free}
	}
	for k, v := range m.faults {
		b.faults[k] = v
	}
	m.base = b
	m.resetsN++
}

// Audit date and time formats: YYMMDD and HHMMSS (EVA-DTS 6.2 Appendix A
// allows HHMM or HHMMSS).
const (
	auditDate = "060102"
	auditTime = "150405"
)

// reportLocked builds the audit of the machine as it is now. The read being
// taken (m.audits already counts it) is in EA3; m.lastRead is the previous one.
//
// Records (EVA-DTS 6.2 §2.5–2.8): ID1 serial and model, ID4 decimal places;
// VA1 paid vends and VA3 free vends; CA2 cash sales and CA3 cash in (the
// emulated customers pay exactly, all to the cash box); DA2 cashless-1
// sales; EA2 door openings (EGS) and fault codes; EA3 reads; EA4 last
// initialisation (New); EA7 power-ups; one PA1 per selection (price,
// capacity, current level) with PA2 paid and PA4 free vends. Every counter
// carries its since-init and since-reset values.
func (m *Machine) reportLocked(now time.Time) *evadts.Report {
	b := m.base
	r := evadts.NewReport(m.cfg.Serial)
	r.Machine = evadts.Machine{Serial: m.cfg.Serial, Model: m.cfg.Model, BuildStandard: "0001",
		Currency: &evadts.Currency{Decimals: 2}}

	c, bc := m.cnt, b.cnt
	paidValue, paidCount := c.CashValue+c.CashlessValue, c.CashVends+c.CashlessVends
	r.Meters.Paid = &evadts.Meter{Totals: evadts.Totals{
		ValueInit: paidValue, CountInit: paidCount,
		ValueReset: paidValue - bc.CashValue - bc.CashlessValue, CountReset: paidCount - bc.CashVends - bc.CashlessVends,
	}}
	var freeValue, freeValueBase int64
	for _, s := range m.sels {
		freeValue += s.Free * s.Price
		freeValueBase += b.sels[s.Number][2] * s.Price
	}
	r.Meters.Free = &evadts.Meter{Totals: evadts.Totals{
		ValueInit: freeValue, CountInit: c.FreeVends,
		ValueReset: freeValue - freeValueBase, CountReset: c.FreeVends - bc.FreeVends,
	}}
	cashReset := c.CashValue - bc.CashValue
	r.Cash.Sales = &evadts.Totals{ValueInit: c.CashValue, CountInit: c.CashVends,
		ValueReset: cashReset, CountReset: c.CashVends - bc.CashVends}
	r.Cash.In = &evadts.CashIn{InReset: cashReset, ToBoxReset: cashReset, InInit: c.CashValue, ToBoxInit: c.CashValue}
	r.Cashless = []evadts.Cashless{{Prefix: "DA", Sales: &evadts.Totals{
		ValueInit: c.CashlessValue, CountInit: c.CashlessVends,
		ValueReset: c.CashlessValue - bc.CashlessValue, CountReset: c.CashlessVends - bc.CashlessVends,
	}}}

	if m.doorOpens > 0 || m.door {
		r.Events.Counters = append(r.Events.Counters, evadts.EventCounter{
			Code: EADoorOpen, CountReset: m.doorOpens - b.doorOpens, CountInit: m.doorOpens, Active: flag(m.door),
		})
	}
	for _, code := range m.faultSeq {
		r.Events.Counters = append(r.Events.Counters, evadts.EventCounter{
			Code: auditSafe(code), CountReset: m.faults[code] - b.faults[code], CountInit: m.faults[code],
			Active: flag(m.fault == code),
		})
	}
	reads := &evadts.ReadInfo{Date: now.Format(auditDate), Time: now.Format(auditTime),
		ReadsTotal: int64(m.audits), Resets: m.resetsN}
	if m.cfg.ResetOnRead {
		// This read resets (after the snapshot), so it counts as one with reset.
		reads.ReadsWithReset, reads.Resets = m.resetsN+1, m.resetsN+1
	}
	if !m.lastRead.IsZero() {
		reads.LastDate, reads.LastTime = m.lastRead.Format(auditDate), m.lastRead.Format(auditTime)
	}
	r.Events.Reads = reads
	r.Events.Initialised = &evadts.DateTime{Date: m.initAt.Format(auditDate), Time: m.initAt.Format(auditTime)}
	r.Events.PowerOutages = &evadts.ResetInit{Reset: m.powerUps - b.powerUps, Init: m.powerUps}

	for _, s := range m.sels {
		bs := b.sels[s.Number]
		p := evadts.Product{ID: s.Code, Price: s.Price, Capacity: int64(s.Capacity), Level: int64(s.Stock),
			Paid: &evadts.PaidVends{VendCount: evadts.VendCount{
				CountInit: s.Vends, ValueInit: s.Value, CountReset: s.Vends - bs[0], ValueReset: s.Value - bs[1],
			}}}
		if s.Free > 0 {
			p.Free = &evadts.FreeVends{VendCount: evadts.VendCount{
				CountInit: s.Free, ValueInit: s.Free * s.Price, CountReset: s.Free - bs[2], ValueReset: (s.Free - bs[2]) * s.Price,
			}}
		}
		r.Products = append(r.Products, p)
	}
	return r
}

// encodeAudit writes r with evadts.Encode, which computes G85 and SE. The
// machine's own strings pass through auditSafe, so Encode cannot refuse
// them; should it anyway, the read yields no data rather than a bad audit.
func encodeAudit(r *evadts.Report) []byte {
	var buf bytes.Buffer
	if err := evadts.Encode(&buf, r); err != nil {
		return nil
	}
	return buf.Bytes()
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// auditSafe replaces the characters an EVA-DTS element cannot hold (the
// element separator and line ends) so any configured string can be encoded.
func auditSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '*', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}
