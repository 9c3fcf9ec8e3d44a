//go:build linux

package main

import (
	"bytes"
	"testing"
)

func TestHandle(t *testing.T) {
	connect := []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	sub := []byte{0x82, 6, 0, 7, 0, 1, 'x', 1}
	pub := []byte{0x32, 6, 0, 1, 't', 0, 9, 'p'}
	in := bytes.Join([][]byte{connect, sub, pub, {0xC0, 0}, pub[:3]}, nil)
	var out []byte
	rest, ok := handle(in, &out)
	if !ok {
		t.Fatal("connection ended")
	}
	want := []byte{0x20, 2, 0, 0, 0x90, 3, 0, 7, 1, 0x40, 2, 0, 9, 0xD0, 0}
	if !bytes.Equal(out, want) {
		t.Fatalf("replies % x, want % x", out, want)
	}
	if !bytes.Equal(rest, pub[:3]) {
		t.Fatalf("rest % x, want the split PUBLISH % x", rest, pub[:3])
	}
	if _, ok := handle([]byte{0xE0, 0}, &out); ok {
		t.Fatal("DISCONNECT did not end the connection")
	}
}

// FuzzHandle: any bytes are answered or kept without a panic, and what is
// kept is the unread tail of the input.
func FuzzHandle(f *testing.F) {
	f.Add([]byte{0x10, 2, 0, 0, 0x32, 6, 0, 1, 't', 0, 9, 'p'})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out []byte
		rest, _ := handle(b, &out)
		if len(rest) > len(b) || !bytes.Equal(rest, b[len(b)-len(rest):]) {
			t.Fatalf("rest % x is not a tail of % x", rest, b)
		}
	})
}
