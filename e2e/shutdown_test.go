package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"vendgate/protocol"
)

// TestShutdownLosesNothingAcknowledged: the gateway stops while modems are
// publishing; every uplink that got its PUBACK is in the store afterwards.
func TestShutdownLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, dir, "127.0.0.1:0", nil)
	ctx := context.Background()
	broker := "tcp://" + g.MQTTAddr().String()
	const clients = 8
	var acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range clients {
		imei := imeiN(200 + i)
		if err := g.Provision(ctx, imei, modemPassword, "shutdown"); err != nil {
			t.Fatal(err)
		}
		o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(imei).SetUsername(imei).SetPassword(modemPassword).
			SetKeepAlive(10 * time.Second).SetAutoReconnect(false)
		c := mqtt.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		wg.Go(func() {
			defer c.Disconnect(0)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				now := time.Now().UnixMilli()
				p := fmt.Sprintf(`{"v":1,"id":"s%d","ts":%d,"code":"SHUT","time":%d}`, n, now, now)
				tok := c.Publish(protocol.TopicFor(imei, protocol.ClassEvent), 1, false, p)
				if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
					return // the gateway is gone
				}
				acked.Add(1)
			}
		})
	}
	eventually(t, 10*time.Second, "some uplinks acknowledged", func() bool { return acked.Load() > 200 })
	g.stop(t) // cancels Run: the same path as SIGTERM in vendgate serve
	close(stop)
	wg.Wait()
	got := acked.Load()

	g2 := startGateway(t, dir, "127.0.0.1:0", nil)
	var stored int
	for i := range clients {
		m, err := g2.Store().GetModemByIMEI(ctx, imeiN(200+i))
		if err != nil {
			t.Fatal(err)
		}
		ev, _, _, err := g2.Store().CountUplinks(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored += ev
	}
	if int64(stored) < got {
		t.Fatalf("%d uplinks acknowledged but only %d stored", got, stored)
	}
	t.Logf("%d acknowledged, %d stored", got, stored)
}

// TestShutdownEndsLongPolls: a GET /v2/commands/{id}?wait=30 in progress
// answers at once with the command's state when the gateway stops, and the
// shutdown does not wait the 30 seconds.
func TestShutdownEndsLongPolls(t *testing.T) {
	g := startGateway(t, t.TempDir(), "127.0.0.1:0", nil)
	ctx := context.Background()
	if err := g.Provision(ctx, imeiN(300), modemPassword, "away"); err != nil {
		t.Fatal(err)
	}
	var mod []struct {
		ID int64 `json:"id"`
	}
	g.api(t, "GET", "/v2/modems", nil, 200, &mod)
	var res struct {
		Commands []string `json:"commands"`
	}
	g.api(t, "POST", fmt.Sprintf("/v2/modems/%d/set", mod[0].ID), map[string]any{"cashless_mode": 1}, 200, &res)
	if len(res.Commands) != 1 {
		t.Fatalf("set answered %+v", res)
	}
	type answer struct {
		code  int
		state string
	}
	got := make(chan answer, 1)
	go func() {
		var c commandJSON
		code := g.call(t, "GET", "/v2/commands/"+res.Commands[0]+"?wait=30", g.token, nil, &c)
		got <- answer{code, c.State}
	}()
	// The modem never connects: the poll can only end by the shutdown.
	time.Sleep(300 * time.Millisecond) // let the GET reach its wait (ordering, not a timing assertion)
	start := time.Now()
	g.stop(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a long poll open", d)
	}
	select {
	case a := <-got:
		if a.code != 200 || a.state != "queued" {
			t.Fatalf("long poll answered %d %q, want 200 queued", a.code, a.state)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not answer when the gateway stopped")
	}
}
