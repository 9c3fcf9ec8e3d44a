package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"vendgate/protocol"
)

// BenchmarkDurableUplinks measures uplinks per second through the whole gateway:
// MQTT in, strict decoding, batched SQLite commit, then the PUBACK. Each of the
// clients keeps up to 32 QoS 1 publishes in flight.
func BenchmarkDurableUplinks(b *testing.B) {
	for _, clients := range []int{10, 100} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			g := startGatewayB(b)
			ctx := context.Background()
			broker := "tcp://" + g.MQTTAddr().String()
			cs := make([]mqtt.Client, clients)
			for i := range cs {
				imei := imeiN(i)
				if err := g.Provision(ctx, imei, modemPassword, "bench"); err != nil {
					b.Fatal(err)
				}
				o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(imei).SetUsername(imei).SetPassword(modemPassword).
					SetKeepAlive(30 * time.Second).SetAutoReconnect(false).SetMaxResumePubInFlight(32)
				cs[i] = mqtt.NewClient(o)
				if tok := cs[i].Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					b.Fatal(tok.Error())
				}
			}
			defer func() {
				for _, c := range cs {
					c.Disconnect(50)
				}
			}()
			var next atomic.Int64
			var errs atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, c := range cs {
				imei := imeiN(i)
				wg.Go(func() {
					sem := make(chan struct{}, 32)
					var inner sync.WaitGroup
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							break
						}
						now := time.Now().UnixMilli()
						p := fmt.Sprintf(`{"v":1,"id":"e%d","ts":%d,"code":"BENCH","time":%d,"payload":{"n":%d}}`, n, now, now, n)
						sem <- struct{}{}
						tok := c.Publish(protocol.TopicFor(imei, protocol.ClassEvent), 1, false, p)
						inner.Go(func() {
							if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
								errs.Add(1)
							}
							<-sem
						})
					}
					inner.Wait()
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if errs.Load() > 0 {
				b.Fatalf("%d publishes not acknowledged", errs.Load())
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "uplinks/s")
		})
	}
}

// BenchmarkCommandRoundTrip measures REST → MQTT → emulated modem → result →
// visible over REST, one command at a time.
func BenchmarkCommandRoundTrip(b *testing.B) {
	g := startGatewayB(b)
	ctx := context.Background()
	imei := imeiN(1)
	if err := g.Provision(ctx, imei, modemPassword, "rtt"); err != nil {
		b.Fatal(err)
	}
	t := b
	m := newModem(t, "tcp://"+g.MQTTAddr().String(), imei, 1)
	f := &fleet{}
	defer f.stop()
	f.start(m)
	for !m.Connected() {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let it subscribe
	var mod []struct {
		ID int64 `json:"id"`
	}
	g.api(t, "GET", "/v2/modems", nil, 200, &mod)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		var res struct{ Commands []string }
		g.api(t, "POST", fmt.Sprintf("/v2/modems/%d/set", mod[0].ID), map[string]any{"cashless_mode": i % 2}, 200, &res)
		var c commandJSON
		for c.State != "succeeded" { // long poll: answered when the command ends
			g.api(t, "GET", "/v2/commands/"+res.Commands[0]+"?wait=10", nil, 200, &c)
			if c.State == "failed" || c.State == "rejected" {
				b.Fatalf("command %s", c.State)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func startGatewayB(b *testing.B) *gw {
	b.Helper()
	return startGateway(b, b.TempDir(), "127.0.0.1:0", nil)
}
