package modem

import (
	"context"
	"net"
	"sync"
	"time"

	"vendgate/dex"
)

// In-process DEX link defaults. DEX over net.Pipe moves bytes instantly, so
// only the driver's deliberate waits cost time: the turnaround delay before
// every reply (≥ 10 ms on a real line, EVA-DTS 6.2 §4.5.8) and the
// intersession pause (≥ 100 ms). In process they protect nothing (there is
// no half-duplex line to turn around), so the modem drops them (a negative
// dex.Config duration means no wait; any sub-millisecond wait would cost a
// whole millisecond, the runtime's timer resolution when idle); the timeouts
// (Timers A, B, D) keep their spec values.
const (
	inProcessResponseDelay = -1
	inProcessPause         = -1
	// dexReadTimeout bounds one in-process audit read whatever the timers.
	dexReadTimeout = 30 * time.Second
	// modemCommID is the communication id the modem presents to its machine
	// (3 letters + 7 digits, EVA-DTS 6.2 §4.5.4).
	modemCommID = "VGM0000001"
)

// dexConfig is the link configuration for both ends of the in-process link.
func (m *Modem) dexConfig() dex.Config {
	if m.cfg.DEX != nil {
		return *m.cfg.DEX
	}
	return dex.Config{CommID: modemCommID, ResponseDelay: inProcessResponseDelay, Pause: inProcessPause}
}

// readAudit reads the machine's audit the way a modem on a DEX jack does:
// a dex.Slave plays the machine (its source is machine.Audit) on one end of
// an in-memory line and a dex.Master reads it on the other. The slave
// serves exactly one session; the line is closed when the read ends, which
// also ends the slave.
func (m *Modem) readAudit(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, dexReadTimeout)
	defer cancel()
	modemEnd, machineEnd := net.Pipe()
	cfg := m.dexConfig()
	slave := &dex.Slave{Config: cfg}
	if m.dexSlave != nil {
		m.dexSlave(slave)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = slave.ServeOne(ctx, machineEnd, func() ([]byte, error) { return m.mach.Audit(), nil })
	})
	master := &dex.Master{Config: cfg}
	text, err := master.Read(ctx, modemEnd)
	modemEnd.Close()
	machineEnd.Close()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return text, nil
}
