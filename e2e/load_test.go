package e2e

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	emfleet "vendgate/emulator/fleet"
	"vendgate/gateway"
	"vendgate/protocol"
)

// TestLoadFleet is the short load test of `make test`: 2,000 raw-client modems
// (500 under -race, see loadModems) against an in-process gateway. Every modem must connect, every
// uplink the gateway acknowledged must be stored, and every command sent over
// REST must come back succeeded. The full figures come from `make loadtest`.
func TestLoadFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	const (
		n        = loadModems
		commands = loadModems / 20
		secret   = "e2e-load-secret"
		prefix   = "36"
	)
	dir := t.TempDir()
	ctx := context.Background()
	var creds bytes.Buffer
	if err := emfleet.WriteProvision(&creds, emfleet.Config{N: n, Secret: secret, IMEIPrefix: prefix}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	imported, err := gateway.ImportModems(ctx, dir, &creds)
	if err != nil || imported != n {
		t.Fatalf("import: %d, %v", imported, err)
	}
	t.Logf("imported %d modems in %s", n, time.Since(start).Round(time.Millisecond))
	g := startGateway(t, dir, "127.0.0.1:0", nil)

	allUp := make(chan struct{})
	var once sync.Once
	type result struct {
		sum emfleet.Summary
		err error
	}
	done := make(chan result, 1)
	fctx, stopFleet := context.WithCancel(ctx)
	defer stopFleet()
	go func() {
		sum, err := emfleet.Run(fctx, emfleet.Config{
			Client: emfleet.ClientRaw, Broker: "tcp://" + g.MQTTAddr().String(), N: n, IMEIPrefix: prefix, Secret: secret,
			Ramp: 1000, Duration: 100 * time.Second, // stopped early below HBInterval: 15 * time.Second, Keepalive: 30 * time.Second,
			EventRate: 1, VendRate: 1, // SQLite under -race takes a few hundred commits/s DialParallel: 64, Drain: 5 * time.Second,
			ReconnectMin: 200 * time.Millisecond, ReconnectMax: 2 * time.Second,
			Progress: func(p emfleet.Progress) {
				if p.Connected == n {
					once.Do(func() { close(allUp) })
				}
			},
		})
		done <- result{sum, err}
	}()
	select {
	case <-allUp:
	case r := <-done:
		t.Fatalf("fleet ended before every modem connected: %v\n%s", r.err, r.sum)
	case <-time.After(60 * time.Second): // ~7 s with -race on an idle 2-core machine
		t.Fatal("not every modem connected within 60s")
	}
	t.Logf("all %d connected after %s", n, time.Since(start).Round(time.Millisecond))
	if got := g.metric(t, "vendgate_modems_connected"); got != n {
		t.Errorf("gateway counts %v connected modems, want %d", got, n)
	}

	// Commands over REST to the first modems; each must end succeeded.
	var mods []struct {
		ID   int64  `json:"id"`
		IMEI string `json:"imei"`
	}
	g.api(t, "GET", "/v2/modems", nil, 200, &mods)
	if len(mods) != n {
		t.Fatalf("GET /v2/modems: %d modems, want %d", len(mods), n)
	}
	ids := make([]string, commands)
	var wg sync.WaitGroup
	for i := range commands {
		wg.Go(func() {
			var res struct {
				Commands []string `json:"commands"`
			}
			code := g.call(t, "POST", fmt.Sprintf("/v2/modems/%d/set", mods[i].ID), g.token, map[string]any{"cashless_mode": i % 2}, &res)
			if code != 200 || len(res.Commands) != 1 {
				t.Errorf("set: status %d, commands %v", code, res.Commands)
				return
			}
			ids[i] = res.Commands[0]
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d commands submitted after %s", commands, time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(45 * time.Second)
	for {
		states := map[string]int{}
		for _, id := range ids {
			// The store, not GET /v2/commands: 100 REST polls a round are slow under -race.
			c, err := g.Store().GetCommand(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			states[string(c.State)]++
		}
		if states["succeeded"] == commands {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("commands not all succeeded within 45s: %v", states)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Logf("%d commands succeeded after %s", commands, time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // more heartbeats, events and vends
	stopFleet()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	sum := r.sum
	t.Logf("\n%s", sum)
	if sum.EverConnected != n || sum.MaxConnected != n {
		t.Errorf("ever connected %d, max connected %d, want %d", sum.EverConnected, sum.MaxConnected, n)
	}
	if sum.Reconnects != 0 || len(sum.Errors) != 0 {
		t.Errorf("reconnects %d, errors %v; want none", sum.Reconnects, sum.Errors)
	}
	if sum.Acked != sum.Sent {
		t.Errorf("%d uplinks sent, %d acknowledged", sum.Sent, sum.Acked)
	}
	if sum.CmdResults[protocol.StatusSucceeded] != commands || sum.CmdReceived != commands {
		t.Errorf("modems received %d commands and answered %v; want %d succeeded", sum.CmdReceived, sum.CmdResults, commands)
	}
	// What was acknowledged is stored: the PUBACK follows the commit.
	var events, vends int
	for _, m := range mods {
		e, v, _, err := g.Store().CountUplinks(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		events += e
		vends += v
	}
	if uint64(events) != sum.AckedByClass["evt"] || uint64(vends) != sum.AckedByClass["vend"] {
		t.Errorf("stored %d events and %d vends; the modems got PUBACKs for %d and %d",
			events, vends, sum.AckedByClass["evt"], sum.AckedByClass["vend"])
	}
	if events == 0 || vends == 0 || sum.AckedByClass["hb"] == 0 || sum.AckedByClass["hello"] != n {
		t.Errorf("too little traffic: %v", sum.AckedByClass)
	}
	if rej := g.metric(t, "vendgate_messages_rejected_total"); rej != 0 {
		t.Errorf("gateway rejected %v uplinks", rej)
	}
}
