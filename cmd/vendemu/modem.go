package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"vendgate/emulator/machine"
	"vendgate/emulator/modem"
	"vendgate/protocol"
)

func runModem(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("modem", flag.ContinueOnError)
	var c common
	c.register(fs)
	imei := fs.String("imei", "350000000000001", "IMEI: client id and username (14..16 digits)")
	password := fs.String("password", "", "MQTT password")
	iccid := fs.String("iccid", "", "SIM ICCID reported in hello")
	firmware := fs.String("firmware", modem.DefaultFirmware, "firmware version reported in hello")
	phone := fs.String("phone", "", "phone number reported in hello")
	selections := fs.Int("selections", 10, "selections of the emulated machine")
	if code, ok := parse(fs, args, e); !ok {
		return code
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(e.stderr, "vendemu modem:", err)
		return 2
	}
	cashless := protocol.Cashless{Enabled: true, Address: 1, Level: 3}
	if protocol.Bus(c.bus) != protocol.BusMDB {
		cashless = protocol.Cashless{}
	}
	m, err := modem.New(modem.Config{
		Broker: c.broker, IMEI: *imei, Password: *password,
		HBInterval: c.hb, Keepalive: c.keepalive,
		ICCID: *iccid, Firmware: *firmware, Phone: *phone,
		Bus: protocol.Bus(c.bus), Cashless: cashless,
		EventRate: c.eventRate, VendRate: c.vendRate,
		Machine:      machine.New(machine.Config{Selections: *selections, Seed: c.seed}),
		Logger:       c.logger(e.stderr),
		ReconnectMin: c.reconnectMin, ReconnectMax: c.reconnectMax, BufferMax: c.buffer,
		Seed: c.seed,
		OnResult: func(req protocol.CommandRequest, res protocol.CommandResult, lat time.Duration) {
			fmt.Fprintf(e.stderr, "command %s %s → %s (code %d) in %s\n", req.ID, req.Name, res.Status, res.Code, lat)
		},
	})
	if err != nil {
		fmt.Fprintln(e.stderr, "vendemu modem:", err)
		return 2
	}
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-t.C:
			fmt.Fprintln(e.stderr, statsLine(time.Since(start), m.Stats()))
		case err := <-done:
			if err != nil {
				fmt.Fprintln(e.stderr, "vendemu modem:", err)
				return 1
			}
			fmt.Fprintln(e.stdout, statsLine(time.Since(start), m.Stats()))
			return 0
		}
	}
}

func statsLine(d time.Duration, s modem.Stats) string {
	return fmt.Sprintf("t=%s connected=%v epoch=%d sent=%d acked=%d buffered=%d dropped=%d cmd=%d dup=%d reconnects=%d last_error=%q",
		d.Truncate(time.Second), s.Connected, s.Epoch, s.Sent, s.Acked, s.Buffered, s.Dropped,
		s.CmdReceived, s.CmdDuplicates, s.Reconnects, s.LastError)
}
