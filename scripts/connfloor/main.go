//go:build linux

// Command connfloor is a measurement for BENCHMARKS.md, not part of vendgate:
// how much memory a Go process needs per idle MQTT 3.1.1 connection when no
// goroutine is parked per connection (the gateway's broker, mochi, runs two).
// One epoll loop; per connection only a small struct, and a pending buffer
// while a packet is split across reads. It answers CONNECT, SUBSCRIBE,
// PINGREQ and QoS 1 PUBLISH (PUBACK at once): enough for vendemu fleet
// --client raw. No authentication, sessions or storage: it is the floor of
// holding connections, not a broker. scripts/connfloor.sh runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

type conn struct {
	fd      int32
	pending []byte
}

func main() {
	port := flag.Int("port", 18900, "loopback port")
	flag.Parse()
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	check(err)
	check(syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1))
	check(syscall.Bind(lfd, &syscall.SockaddrInet4{Port: *port, Addr: [4]byte{127, 0, 0, 1}}))
	check(syscall.Listen(lfd, 4096))
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	check(err)
	check(syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}))
	conns := map[int32]*conn{}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1) // print Go's memory statistics after a forced collection
	go func() {
		for range sig {
			runtime.GC()
			debug.FreeOSMemory()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(os.Stderr, "heapInuse=%d stackInuse=%d goroutines=%d\n", m.HeapInuse, m.StackInuse, runtime.NumGoroutine())
		}
	}()
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	out := make([]byte, 0, 64)
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		check(err)
		for _, ev := range events[:n] {
			if ev.Fd == int32(lfd) {
				for {
					nfd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
					if err != nil {
						if err != syscall.EAGAIN && err != syscall.EINTR && err != syscall.ECONNABORTED {
							check(err) // e.g. out of file descriptors: stop rather than spin on the listener
						}
						break
					}
					conns[int32(nfd)] = &conn{fd: int32(nfd)}
					check(syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, nfd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(nfd)}))
				}
				continue
			}
			c := conns[ev.Fd]
			if c == nil {
				continue
			}
			closed := false
			for {
				r, err := syscall.Read(int(c.fd), buf)
				if r > 0 {
					data := buf[:r]
					if len(c.pending) > 0 {
						c.pending = append(c.pending, data...)
						data = c.pending
					}
					out = out[:0]
					rest, ok := handle(data, &out)
					if !ok {
						closed = true
					}
					if len(out) > 0 {
						syscall.Write(int(c.fd), out)
					}
					if len(rest) > 0 {
						c.pending = append([]byte(nil), rest...)
					} else {
						c.pending = nil
					}
				}
				if r == 0 || (err != nil && err != syscall.EAGAIN) {
					closed = true
				}
				if closed || err == syscall.EAGAIN || r < len(buf) {
					break
				}
			}
			if closed {
				syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, int(c.fd), nil)
				syscall.Close(int(c.fd))
				delete(conns, c.fd)
			}
		}
	}
}

// handle answers every whole packet in b and returns the partial rest.
func handle(b []byte, out *[]byte) ([]byte, bool) {
	for len(b) >= 2 {
		typ := b[0] >> 4
		rem, mul, i := 0, 1, 1
		for ; ; i++ {
			if i == 5 {
				return nil, false // a remaining length of more than 4 bytes: malformed
			}
			if i >= len(b) {
				return b, true // the length itself is split
			}
			rem += int(b[i]&127) * mul
			mul *= 128
			if b[i]&128 == 0 {
				break
			}
		}
		start := i + 1
		if len(b) < start+rem {
			return b, true
		}
		body := b[start : start+rem]
		switch typ {
		case 1: // CONNECT
			*out = append(*out, 0x20, 2, 0, 0)
		case 3: // PUBLISH
			qos := (b[0] >> 1) & 3
			if qos > 0 && len(body) >= 2 {
				tl := int(body[0])<<8 | int(body[1])
				if len(body) >= 2+tl+2 {
					*out = append(*out, 0x40, 2, body[2+tl], body[2+tl+1])
				}
			}
		case 8: // SUBSCRIBE
			if len(body) >= 2 {
				*out = append(*out, 0x90, 3, body[0], body[1], 1)
			}
		case 12: // PINGREQ
			*out = append(*out, 0xD0, 0)
		case 14: // DISCONNECT
			return nil, false
		}
		b = b[start+rem:]
	}
	return b, true
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
