package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"vendgate/emulator/modem"
	"vendgate/protocol"
)

func imeiN(i int) string { return fmt.Sprintf("35%013d", 100000+i) }

const modemPassword = "e2e-modem-password"

// fleet runs emulated modems against a gateway's MQTT address.
type fleet struct {
	modems []*modem.Modem
	cancel []context.CancelFunc
	wg     sync.WaitGroup
}

func newModem(t testing.TB, broker, imei string, i int) *modem.Modem {
	t.Helper()
	m, err := modem.New(modem.Config{Broker: broker, IMEI: imei, Password: modemPassword,
		HBInterval: time.Second, Keepalive: 10 * time.Second, Bus: protocol.BusMDB,
		Cashless:     protocol.Cashless{Enabled: true, Address: 1, Level: 3},
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 300 * time.Millisecond, RebootDelay: 100 * time.Millisecond,
		Seed: int64(i + 1)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fleet) start(m *modem.Modem) {
	ctx, cancel := context.WithCancel(context.Background())
	f.modems = append(f.modems, m)
	f.cancel = append(f.cancel, cancel)
	f.wg.Go(func() { _ = m.Run(ctx) })
}

func (f *fleet) stop() {
	for _, c := range f.cancel {
		c()
	}
	f.wg.Wait()
}

type vmJSON struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	State int    `json:"state"`
	IMEI  any    `json:"imei"`
}

type commandJSON struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
}

func (g *gw) machineState(t testing.TB, id int64) int {
	var vm vmJSON
	g.api(t, "GET", fmt.Sprintf("/v2/vending_machines/%d", id), nil, 200, &vm)
	return vm.State
}

func (g *gw) waitCommand(t testing.TB, id, want string) commandJSON {
	t.Helper()
	var c commandJSON
	eventually(t, 10*time.Second, "command "+id+" "+want, func() bool {
		g.api(t, "GET", "/v2/commands/"+id, nil, 200, &c)
		return c.State == want
	})
	return c
}

// TestFleet: 50 modems connect, report, take commands; presence follows their connections.
func TestFleet(t *testing.T) {
	g := startGateway(t, t.TempDir(), "127.0.0.1:0", nil)
	ctx := context.Background()
	const n = 50
	broker := "tcp://" + g.MQTTAddr().String()
	f := &fleet{}
	defer f.stop()
	for i := range n {
		if err := g.Provision(ctx, imeiN(i), modemPassword, fmt.Sprintf("machine %d", i)); err != nil {
			t.Fatal(err)
		}
		f.start(newModem(t, broker, imeiN(i), i))
	}
	eventually(t, 15*time.Second, "all modems connected", func() bool {
		return g.metric(t, "vendgate_modems_connected") == n
	})
	var vms []vmJSON
	eventually(t, 10*time.Second, "every machine working (state 1)", func() bool {
		g.api(t, "GET", "/v2/vending_machines", nil, 200, &vms)
		working := 0
		for _, vm := range vms {
			if vm.State == 1 {
				working++
			}
		}
		return len(vms) == n && working == n
	})
	// The machine list is ordered by id and machine i belongs to modem i.
	vm0 := vms[0].ID

	t.Run("command acknowledged and visible", func(t *testing.T) {
		var res struct {
			Res      bool     `json:"res"`
			Commands []string `json:"commands"`
		}
		var mod []struct {
			ID   int64  `json:"id"`
			IMEI string `json:"imei"`
		}
		g.api(t, "GET", "/v2/modems", nil, 200, &mod)
		g.api(t, "POST", fmt.Sprintf("/v2/modems/%d/set", mod[3].ID), map[string]any{"cashless_mode": 0}, 200, &res)
		if !res.Res || len(res.Commands) != 1 {
			t.Fatalf("set answered %+v", res)
		}
		c := g.waitCommand(t, res.Commands[0], "succeeded")
		if c.Attempts != 1 {
			t.Fatalf("command sent %d times, want 1", c.Attempts)
		}
		if got := f.modems[3].Stats().CmdResults[protocol.StatusSucceeded]; got != 1 {
			t.Fatalf("modem executed %d commands, want 1", got)
		}
	})

	t.Run("long poll answers when the command ends", func(t *testing.T) {
		var mod []struct {
			ID int64 `json:"id"`
		}
		g.api(t, "GET", "/v2/modems", nil, 200, &mod)
		// An offline modem: the command waits in the queue, the GET waits for it.
		f.cancel[2]()
		eventually(t, 5*time.Second, "modem 2 gone", func() bool {
			return g.metric(t, "vendgate_modems_connected") == n-1
		})
		var res struct {
			Commands []string `json:"commands"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/modems/%d/set", mod[2].ID), map[string]any{"cashless_mode": 1}, 200, &res)
		if len(res.Commands) != 1 {
			t.Fatalf("set answered %+v", res)
		}
		start := time.Now()
		var c commandJSON
		g.api(t, "GET", "/v2/commands/"+res.Commands[0]+"?wait=1", nil, 200, &c)
		if c.State != "queued" {
			t.Fatalf("state %q while the modem is away, want queued", c.State)
		}
		if d := time.Since(start); d < time.Second {
			t.Fatalf("wait=1 answered after %v", d)
		}
		// The modem comes back while a GET waits; that one GET sees it through.
		got := make(chan commandJSON, 1)
		go func() {
			var c commandJSON
			g.api(t, "GET", "/v2/commands/"+res.Commands[0]+"?wait=20", nil, 200, &c)
			got <- c
		}()
		f.start(newModem(t, broker, imeiN(2), 2))
		c = <-got
		if c.State != "succeeded" {
			t.Fatalf("state %q after a 20 s wait, want succeeded", c.State)
		}
		for _, bad := range []string{"31", "soon", "-1"} {
			if code := g.call(t, "GET", "/v2/commands/"+res.Commands[0]+"?wait="+bad, g.token, nil, nil); code != 422 {
				t.Fatalf("wait=%s: status %d, want 422", bad, code)
			}
		}
	})

	t.Run("audit request", func(t *testing.T) {
		var r struct {
			RequestID int64 `json:"request_id"`
			Progress  bool  `json:"progress"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/request", vms[5].ID), map[string]any{"report": true}, 200, &r)
		if r.RequestID == 0 {
			t.Fatal("no request_id")
		}
		eventually(t, 10*time.Second, "request done (404)", func() bool {
			return g.call(t, "GET", fmt.Sprintf("/v2/vending_machines/%d/request/%d", vms[5].ID, r.RequestID), g.token, nil, nil) == 404
		})
		var ts map[string]*string
		g.api(t, "GET", fmt.Sprintf("/v2/vending_machines/%d/timestamp", vms[5].ID), nil, 200, &ts)
		if ts["last_acquired_report"] == nil {
			t.Fatalf("no last_acquired_report after the audit: %v", ts)
		}
	})

	t.Run("events stored", func(t *testing.T) {
		if err := f.modems[0].SendEvent("DOOR", map[string]any{"open": true}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "event visible", func() bool {
			var evs []struct {
				Code string `json:"code"`
				Date string `json:"date"`
			}
			g.api(t, "GET", fmt.Sprintf("/v2/vending_machines/%d/events", vm0), nil, 200, &evs)
			for _, e := range evs {
				if e.Code == "DOOR" {
					return true
				}
			}
			return false
		})
	})

	t.Run("drop shows state 3 then 1", func(t *testing.T) {
		f.modems[0].Disconnect()
		eventually(t, 3*time.Second, "state 3 after the drop", func() bool { return g.machineState(t, vm0) == 3 })
		eventually(t, 10*time.Second, "state 1 after the return", func() bool { return g.machineState(t, vm0) == 1 })
	})

	t.Run("malformed payload counted and ignored", func(t *testing.T) {
		before := g.metric(t, "vendgate_messages_rejected_total", `class="evt"`)
		if err := f.modems[1].SendRaw("evt", []byte(`{"v":1,"id":"x","ts":1,"code":"lower case!"}`)); err != nil {
			t.Fatal(err)
		}
		if err := f.modems[1].SendRaw("evt", []byte(`not json`)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "two rejections counted", func() bool {
			return g.metric(t, "vendgate_messages_rejected_total", `class="evt"`) == before+2
		})
		// The modem stays connected and its next message is stored.
		if err := f.modems[1].SendEvent("AFTER", nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "later event stored", func() bool {
			var evs []struct{ Code string }
			g.api(t, "GET", fmt.Sprintf("/v2/vending_machines/%d/events", vms[1].ID), nil, 200, &evs)
			for _, e := range evs {
				if e.Code == "AFTER" {
					return true
				}
				if strings.Contains(e.Code, "lower") {
					t.Fatal("malformed event stored")
				}
			}
			return false
		})
	})

	t.Run("checkpoints exported", func(t *testing.T) {
		// An idle database has its log copied within the checkpointer's tick (1 s).
		eventually(t, 5*time.Second, "a passive checkpoint counted", func() bool {
			return g.metric(t, "vendgate_store_checkpoints_total", `mode="passive"`) >= 1
		})
		if n := g.metric(t, "vendgate_store_checkpoints_failed_total"); n != 0 {
			t.Errorf("%v checkpoints failed", n)
		}
	})
}

func pahoClient(broker, id, user, pw string) mqtt.Client {
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetUsername(user).SetPassword(pw).
		SetKeepAlive(10 * time.Second).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(3 * time.Second)
	return mqtt.NewClient(o)
}

// TestCredentialsAndConfinement: wrong credentials are refused and a modem cannot
// touch another modem's topics.
func TestCredentialsAndConfinement(t *testing.T) {
	g := startGateway(t, t.TempDir(), "127.0.0.1:0", nil)
	ctx := context.Background()
	a, b := imeiN(1), imeiN(2)
	for _, imei := range []string{a, b} {
		if err := g.Provision(ctx, imei, modemPassword, "m"+imei); err != nil {
			t.Fatal(err)
		}
	}
	broker := "tcp://" + g.MQTTAddr().String()
	for name, c := range map[string]mqtt.Client{
		"wrong password":        pahoClient(broker, a, a, "not-the-password"),
		"unknown imei":          pahoClient(broker, imeiN(99), imeiN(99), modemPassword),
		"client id ≠ user name": pahoClient(broker, b, a, modemPassword),
	} {
		tok := c.Connect()
		if !tok.WaitTimeout(5*time.Second) || tok.Error() == nil {
			t.Errorf("%s: connection accepted", name)
			c.Disconnect(0)
		} else if err := tok.Error(); !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) &&
			!errors.Is(err, packets.ErrorRefusedNotAuthorised) {
			// Not "server unavailable": that tells a modem to retry soon, forever.
			t.Errorf("%s: refused with %v, want a refusal of the credentials", name, err)
		}
	}

	ca := pahoClient(broker, a, a, modemPassword)
	if tok := ca.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("good credentials refused: %v", tok.Error())
	}
	defer ca.Disconnect(100)

	// Subscribing to b's commands is refused in the SUBACK.
	st := ca.Subscribe(protocol.CommandRequestFilter(b), 1, nil)
	st.WaitTimeout(5 * time.Second)
	if q := st.(*mqtt.SubscribeToken).Result()[protocol.CommandRequestFilter(b)]; q != 0x80 {
		t.Fatalf("subscription to another modem's commands granted with %#x", q)
	}
	st = ca.Subscribe("#", 1, nil)
	st.WaitTimeout(5 * time.Second)
	if q := st.(*mqtt.SubscribeToken).Result()["#"]; q != 0x80 {
		t.Fatalf("subscription to # granted with %#x", q)
	}
	// Publishing into b's topics stores nothing for b. MQTT 3.1.1 has no
	// negative PUBACK, so the broker closes the connection instead.
	ev := fmt.Sprintf(`{"v":1,"id":"intruder-1","ts":%d,"code":"INTRUDE","time":%d}`, time.Now().UnixMilli(), time.Now().UnixMilli())
	if tok := ca.Publish(protocol.TopicFor(b, protocol.ClassEvent), 1, false, ev); tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
		t.Fatal("publish into another modem's topic was acknowledged")
	}
	eventually(t, 5*time.Second, "the intruding connection closed", func() bool { return !ca.IsConnectionOpen() })
	// Its own event goes through on a new connection.
	ca = pahoClient(broker, a, a, modemPassword)
	if tok := ca.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("reconnect: %v", tok.Error())
	}
	defer ca.Disconnect(100)
	own := strings.Replace(ev, "intruder-1", "own-1", 1)
	if tok := ca.Publish(protocol.TopicFor(a, protocol.ClassEvent), 1, false, own); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("own publish: %v", tok.Error())
	}
	mb, err := g.Store().GetModemByIMEI(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	ma, _ := g.Store().GetModemByIMEI(ctx, a)
	evA, _, _, _ := g.Store().CountUplinks(ctx, ma.ID)
	evB, _, _, _ := g.Store().CountUplinks(ctx, mb.ID)
	if evA != 1 || evB != 0 {
		t.Fatalf("events stored: a=%d b=%d, want 1 and 0", evA, evB)
	}
}

// TestCommandSurvivesRestart: a command queued while the modem is offline is
// delivered after the gateway restarts and the modem connects, exactly once.
func TestCommandSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, dir, "127.0.0.1:0", nil)
	addr := g.MQTTAddr().String()
	ctx := context.Background()
	imei := imeiN(7)
	if err := g.Provision(ctx, imei, modemPassword, "restart"); err != nil {
		t.Fatal(err)
	}
	var vms []vmJSON
	g.api(t, "GET", "/v2/vending_machines", nil, 200, &vms)
	var ok struct {
		Status    string `json:"status"`
		CommandID string `json:"command_id"`
	}
	g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vms[0].ID), nil, 200, &ok)
	if ok.CommandID == "" {
		t.Fatalf("reset answered %+v", ok)
	}
	g.waitCommand(t, ok.CommandID, "queued")
	g.stop(t)

	// Free the port for the second gateway, which listens where the modem dials.
	waitPortFree(t, addr)
	g2 := startGateway(t, dir, addr, nil)
	m := newModem(t, "tcp://"+addr, imei, 7)
	f := &fleet{}
	defer f.stop()
	f.start(m)
	c := g2.waitCommand(t, ok.CommandID, "succeeded")
	if c.Attempts != 1 {
		t.Fatalf("command sent %d times, want 1", c.Attempts)
	}
	// Stay a little: nothing is sent again.
	time.Sleep(300 * time.Millisecond)
	st := m.Stats()
	if st.CmdReceived != 1 || st.CmdResults[protocol.StatusSucceeded] != 1 {
		t.Fatalf("modem received %d commands and succeeded %d, want 1 and 1", st.CmdReceived, st.CmdResults[protocol.StatusSucceeded])
	}
}

func waitPortFree(t testing.TB, addr string) {
	eventually(t, 5*time.Second, "port "+addr+" free", func() bool {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		ln.Close()
		return true
	})
}
