package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"vendgate/emulator/modem"
	"vendgate/gateway"
	"vendgate/protocol"
)

// runDemo provisions n demo modems with machines and runs them as emulated
// modems against the gateway over loopback, like real devices. The demo IMEIs
// are 990000000000001 and up; their passwords are new at every start.
func runDemo(ctx context.Context, g *gateway.Gateway, n int, log *slog.Logger) error {
	broker := "tcp://" + g.MQTTAddr().String()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range n {
		imei := fmt.Sprintf("99%013d", i+1)
		secret := make([]byte, 12)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		pw := hex.EncodeToString(secret)
		if err := g.Provision(ctx, imei, pw, fmt.Sprintf("Demo machine %d", i+1)); err != nil {
			return fmt.Errorf("provision %s: %w", imei, err)
		}
		bus := protocol.BusMDB
		if i%3 == 2 {
			bus = protocol.BusEXE
		}
		m, err := modem.New(modem.Config{Broker: broker, IMEI: imei, Password: pw, HBInterval: 10 * time.Second,
			Keepalive: 30 * time.Second, Bus: bus, Cashless: protocol.Cashless{Enabled: true, Address: 1, Level: 3},
			EventRate: 0.5, VendRate: 2, Seed: int64(i + 1), Logger: log})
		if err != nil {
			return err
		}
		wg.Go(func() { _ = m.Run(ctx) })
	}
	log.Info("demo fleet running", "modems", n, "broker", broker)
	<-ctx.Done()
	return nil
}
