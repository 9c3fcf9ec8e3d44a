package sqlite

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

func TestContractMachineList(t *testing.T) {
	storetest.MachineListTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestContractMachineService(t *testing.T) {
	storetest.MachineServiceTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// TestFleetArmsMatchVends checks the fleet summaries (hour and minute
// roll-ups plus partial minutes of vends) against a count over the vends for
// ranges with every kind of edge.
func TestFleetArmsMatchVends(t *testing.T) {
	db := openTemp(t)
	m := store.Modem{IMEI: "861110000000009", CreatedAt: t0}
	require.NoError(t, db.CreateModem(ctx, &m))
	vm := store.Machine{ModemID: &m.ID, CreatedAt: t0}
	require.NoError(t, db.CreateMachine(ctx, &vm, false))
	rng := rand.New(rand.NewPCG(1, 2))
	var ups []store.Uplink
	for i := range 3000 {
		at := t0.Add(time.Duration(rng.Int64N(int64(3 * time.Hour))))
		pay := []string{"cash", "cashless", "token"}[i%3]
		ups = append(ups, store.Uplink{Kind: store.UpVend, ModemID: m.ID, Received: at, Vend: &store.Vend{
			MsgID: fmt.Sprint(i), Selection: "1", Price: int64(100 + i%7), Payment: pay, Type: "paid", OK: i%11 != 0, Time: at}})
	}
	require.NoError(t, db.ApplyUplinks(ctx, ups))
	ranges := [][2]time.Duration{
		{0, 3 * time.Hour}, {17*time.Minute + 3*time.Second, 2*time.Hour + 5*time.Minute + 7*time.Second},
		{time.Hour, 2*time.Hour - time.Millisecond}, {90 * time.Second, 50 * time.Minute},
		{10*time.Minute + time.Second, 10*time.Minute + 30*time.Second}, {time.Minute, 2*time.Minute - time.Millisecond},
		{59 * time.Minute, 2*time.Hour + time.Minute},
	}
	for _, r := range ranges {
		lo, hi := t0.Add(r[0]), t0.Add(r[1])
		for _, pay := range []string{"", "cash"} {
			got, err := db.VendSummary(ctx, store.VendFilter{CompanyID: store.DefaultCompanyID, Since: lo, Until: hi, Payment: pay})
			require.NoError(t, err)
			var want store.VendTotal
			for _, u := range ups {
				v := u.Vend
				if v.OK && !v.Time.Before(lo) && !v.Time.After(hi) && (pay == "" || v.Payment == pay) {
					want.Count++
					want.Value += v.Price
				}
			}
			require.Equal(t, want, got, "range %v..%v payment %q", r[0], r[1], pay)
		}
	}
}
