package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vendgate/emulator/rawmqtt"
	"vendgate/internal/proccpu"
	"vendgate/protocol"
)

// BenchmarkCommandCPU drives commands concurrently through the whole gateway
// (REST POST /set → MQTT to a modem → accepted and succeeded results → GET
// /v2/commands/{id}?wait long poll) and reports the process CPU (user + sys,
// getrusage) per command. The modems are raw MQTT clients (emulator/rawmqtt)
// and the REST client shares the process, so the figure includes their CPU
// too: compare figures of this benchmark with each other, not with a
// gateway-only profile. One command in flight per modem, as the gateway
// allows; inflight modems in all.
func BenchmarkCommandCPU(b *testing.B) {
	for _, inflight := range []int{64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			benchCommandCPU(b, inflight)
		})
	}
}

func benchCommandCPU(b *testing.B, inflight int) {
	g := startGatewayB(b)
	ctx := context.Background()
	addr := g.MQTTAddr().String()
	for i := range inflight {
		if err := g.Provision(ctx, imeiN(i), modemPassword, "cpu"); err != nil {
			b.Fatal(err)
		}
	}
	var modems []struct {
		ID   int64  `json:"id"`
		IMEI string `json:"imei"`
	}
	g.api(b, "GET", "/v2/modems", nil, 200, &modems)
	if len(modems) != inflight {
		b.Fatalf("%d modems listed, want %d", len(modems), inflight)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	conns := make([]*rawmqtt.Conn, 0, inflight)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, m := range modems {
		c := benchRawModem(b, &wg, addr, m.IMEI)
		conns = append(conns, c)
	}
	time.Sleep(300 * time.Millisecond) // let the subscriptions reach the command service

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * inflight, MaxConnsPerHost: 2 * inflight}}
	call := func(method, path string, body []byte, out any) error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequest(method, g.base+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+g.token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, data)
		}
		return json.Unmarshal(data, out)
	}
	one := func(modemID int64, i int64) (time.Duration, error) {
		start := time.Now()
		var res struct{ Commands []string }
		if err := call("POST", fmt.Sprintf("/v2/modems/%d/set", modemID), fmt.Appendf(nil, `{"cashless_mode":%d}`, i%2), &res); err != nil {
			return 0, err
		}
		if len(res.Commands) != 1 {
			return 0, fmt.Errorf("set answered %v", res.Commands)
		}
		var c commandJSON
		for c.State != "succeeded" {
			if err := call("GET", "/v2/commands/"+res.Commands[0]+"?wait=10", nil, &c); err != nil {
				return 0, err
			}
			if c.State == "failed" || c.State == "rejected" || c.State == "timed_out" || c.State == "expired" {
				return 0, fmt.Errorf("command %s", c.State)
			}
		}
		return time.Since(start), nil
	}
	// Warm up: one command per modem (the first of a connection also
	// verifies it), the HTTP connections and the statements.
	var warm sync.WaitGroup
	werrs := make(chan error, len(modems))
	for _, m := range modems {
		warm.Go(func() {
			if _, err := one(m.ID, 0); err != nil {
				werrs <- err
			}
		})
	}
	warm.Wait()
	close(werrs)
	for err := range werrs {
		b.Fatal(err)
	}

	var next atomic.Int64
	lats := make([][]time.Duration, len(modems))
	errs := make(chan error, len(modems))
	b.ResetTimer()
	cpu0 := proccpu.Used()
	start := time.Now()
	var workers sync.WaitGroup
	for k, m := range modems {
		workers.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				d, err := one(m.ID, n)
				if err != nil {
					errs <- err
					return
				}
				lats[k] = append(lats[k], d)
			}
		})
	}
	workers.Wait()
	el := time.Since(start)
	cpu := proccpu.Used() - cpu0
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/cmd")
	b.ReportMetric(float64(b.N)/el.Seconds(), "cmds/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

// benchRawModem connects a minimal modem: it subscribes to its command topic
// and answers every command with accepted, then succeeded (QoS 1 each).
func benchRawModem(b *testing.B, wg *sync.WaitGroup, addr, imei string) *rawmqtt.Conn {
	b.Helper()
	c, err := rawmqtt.Dial(context.Background(), rawmqtt.Config{Addr: addr, Connect: rawmqtt.ConnectOptions{
		ClientID: imei, Username: imei, Password: modemPassword, Keepalive: 60, CleanSession: true}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Subscribe(protocol.CommandRequestFilter(imei), 1); err != nil {
		b.Fatal(err)
	}
	reqPrefix := protocol.CommandRequestTopic(imei, "")
	wg.Go(func() {
		for {
			p, _, err := c.ReadPacket()
			if err != nil {
				return
			}
			if p.Type != rawmqtt.PUBLISH || !strings.HasPrefix(p.Topic, reqPrefix) {
				continue
			}
			id := p.Topic[len(reqPrefix):]
			now := time.Now().UnixMilli()
			topic := protocol.CommandResultTopic(imei, id)
			for i, st := range []protocol.Status{protocol.StatusAccepted, protocol.StatusSucceeded} {
				payload := fmt.Appendf(nil, `{"v":1,"id":"r%d-%s","ts":%d,"cmd":%q,"status":%q,"code":0}`, i, id, now, id, st)
				if _, err := c.Publish(topic, payload, 1, false, 0); err != nil {
					return
				}
			}
		}
	})
	return c
}
