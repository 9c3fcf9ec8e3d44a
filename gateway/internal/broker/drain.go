package broker

import (
	"bytes"
	"runtime"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Drain is the first step of a graceful shutdown that keeps the modems
// connected while the gateway saves its state: it closes the listener (new
// connections are refused by the kernel), ends the connections that have
// not been established yet, and stops every Handler call — uplinks are no
// longer handed to the Handler nor acknowledged (a QoS 1 uplink without
// PUBACK is sent again by the modem on its next connection and the store
// deduplicates it by message id; a QoS 0 one is lost, as QoS 0 allows),
// SUBSCRIBE, PUBACK and connection ends are not reported. When Drain
// returns, no Handler call is in progress and none will start: the caller
// can stop what the Handler feeds (the store's writer, the command flow) and
// write the end of every connection while the sockets stay open. Only then
// does it call Shutdown (or Close), which closes them: the modems see their
// connection end as late as possible, and reconnect to the next process at
// their first retry instead of being refused, with a growing backoff, while
// this one finishes.
//
// PUBACKs of uplinks handed to an AsyncHandler before Drain still go out as
// their commits complete.
//
// Drain returns every connection that may be established and whose end the
// Handler will not hear of: the established ones still open, the ones that
// ended during Drain, and the ones registered but not yet established (a
// newer connection of a modem whose older one was taken over: its epoch
// orders after the older one's). It may also hold a connection that was
// reported as Disconnected just before; writing it offline again is
// harmless. Drain after Close or a second Drain returns nil.
func (b *Broker) Drain() []Conn {
	b.mu.Lock()
	if b.closing || b.draining.Load() {
		b.mu.Unlock()
		return nil
	}
	b.draining.Store(true) // OnSessionEstablish registers no more connections
	ln := b.ln
	b.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}

	// Wait for the Handler calls in progress; later ones see drained.
	b.hgate.Lock()
	b.drained = true
	b.hgate.Unlock()

	b.mu.Lock()
	seen := make(map[uint64]struct{}, len(b.modems)+len(b.gone))
	list := make([]Conn, 0, len(b.modems)+len(b.gone))
	for _, c := range b.gone {
		seen[c.ConnID] = struct{}{}
		list = append(list, c)
	}
	// A connection stays in modems until mochi has finished with it, i.e.
	// after its OnDisconnect: one that ended since drained was set is in
	// gone, every other registered one is here.
	for _, c := range b.modems {
		if _, ok := seen[c.id]; !ok {
			seen[c.id] = struct{}{}
			list = append(list, c.info)
		}
	}
	b.gone = nil
	b.listed = true
	var pre []*conn
	for c := range b.conns {
		if !c.registered {
			pre = append(pre, c)
		}
	}
	b.mu.Unlock()
	// Before CONNACK: the modem retries (and is refused until the next
	// process listens), nothing of it was stored.
	for _, c := range pre {
		_ = c.Close()
	}
	return list
}

// closeDrained is Close after Drain. It ends every connection in two steps
// so that the modems see their connections end within as short a time as
// the machine allows: first mochi ends each client (its read loop, its
// cleanup: most of the CPU of a shutdown, ~1 s for 19,000) with the sockets
// still open, then the sockets are closed in a tight loop, on GOMAXPROCS
// goroutines, with no reader left on them (a Close with a read in progress
// leaves the system call to the woken reader). A modem whose connection
// ended first in the one-step close was refused by this process, and the
// next one, for the whole second; its backoff grew.
func (b *Broker) closeDrained(all []*conn) {
	t0 := time.Now()
	for _, c := range all {
		c.quiesce()
	}
	_ = b.srv.Close() // waits for every client goroutine
	t1 := time.Now()
	parallel(all, (*conn).hangUp)
	b.log.Debug("broker: connections closed", "conns", len(all), "clients_ended", t1.Sub(t0), "sockets_closed", time.Since(t1))
}

// parallel runs fn for every connection on up to GOMAXPROCS goroutines.
func parallel(all []*conn, fn func(*conn)) {
	par := min(runtime.GOMAXPROCS(0), max(1, len(all)/256))
	chunk := (len(all) + par - 1) / par
	var wg sync.WaitGroup
	for i := 0; i < len(all); i += chunk {
		part := all[i:min(i+chunk, len(all))]
		wg.Go(func() {
			for _, c := range part {
				fn(c)
			}
		})
	}
	wg.Wait()
}

// disconnectV5 is an MQTT 5 DISCONNECT "server shutting down" (0x8B).
var disconnectV5 = func() []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
		ReasonCode: packets.ErrServerShuttingDown.Code, ProtocolVersion: 5}
	var buf bytes.Buffer
	_ = pk.DisconnectEncode(&buf)
	return buf.Bytes()
}()
