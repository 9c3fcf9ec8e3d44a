package auth

import (
	"errors"
	"fmt"
	"testing"
)

func newCache(t testing.TB, max int) *VerifiedCache {
	t.Helper()
	c, err := NewVerifiedCache(max)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustHash(t testing.TB, secret string) string {
	t.Helper()
	h, err := Hash(secret, ModemIterations)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerifiedCache(t *testing.T) {
	const imei = "860000000000001"
	stored := mustHash(t, "modem-secret-1")

	t.Run("remembers a success only", func(t *testing.T) {
		c := newCache(t, 0)
		if err := c.Check(imei, "wrong-secret", stored); !errors.Is(err, ErrMismatch) {
			t.Fatalf("wrong secret: %v", err)
		}
		if c.Len() != 0 {
			t.Fatal("a failure was remembered")
		}
		for range 2 {
			if err := c.Check(imei, "modem-secret-1", stored); err != nil {
				t.Fatal(err)
			}
		}
		if c.Len() != 1 {
			t.Fatalf("len %d", c.Len())
		}
		// A remembered id still refuses another secret.
		if err := c.Check(imei, "modem-secret-2", stored); !errors.Is(err, ErrMismatch) {
			t.Fatalf("other secret after a success: %v", err)
		}
	})

	t.Run("a changed stored hash is checked in full", func(t *testing.T) {
		c := newCache(t, 0)
		if err := c.Check(imei, "modem-secret-1", stored); err != nil {
			t.Fatal(err)
		}
		rotated := mustHash(t, "modem-secret-2")
		if err := c.Check(imei, "modem-secret-1", rotated); !errors.Is(err, ErrMismatch) {
			t.Fatalf("old secret against the rotated hash: %v", err)
		}
		if err := c.Check(imei, "modem-secret-2", rotated); err != nil {
			t.Fatal(err)
		}
		// Same secret, stored hash re-salted: still has to match the new hash.
		if err := c.Check(imei, "modem-secret-2", "pbkdf2-sha256$16$AAAA$AAAA"); err == nil {
			t.Fatal("a cached secret passed against a different stored hash")
		}
	})

	t.Run("entries are per id", func(t *testing.T) {
		c := newCache(t, 0)
		if err := c.Check("a", "modem-secret-1", stored); err != nil {
			t.Fatal(err)
		}
		if err := c.Check("b", "modem-secret-1", "garbage"); !errors.Is(err, ErrFormat) {
			t.Fatalf("other id: %v", err)
		}
	})

	t.Run("forget", func(t *testing.T) {
		c := newCache(t, 0)
		_ = c.Check(imei, "modem-secret-1", stored)
		c.Forget(imei)
		if c.Len() != 0 {
			t.Fatal("not forgotten")
		}
	})

	t.Run("bounded", func(t *testing.T) {
		c := newCache(t, 3)
		for i := range 10 {
			if err := c.Check(fmt.Sprint(i), "modem-secret-1", stored); err != nil {
				t.Fatal(err)
			}
			if c.Len() > 3 {
				t.Fatalf("len %d > 3", c.Len())
			}
		}
	})

	t.Run("keys differ between caches", func(t *testing.T) {
		a, b := newCache(t, 0), newCache(t, 0)
		if a.digest("s", stored) == b.digest("s", stored) {
			t.Fatal("two caches share a key")
		}
	})
}

// BenchmarkModemLogin compares the credential check of a modem login: "full"
// runs the PBKDF2 (ModemIterations) every time, "cached" is a modem logging in
// again to the same process through a VerifiedCache (reconnects after a network
// or broker blip; after a process restart the cache starts empty and every
// first login is "full"). 19,000 modems as in the storm target.
func BenchmarkModemLogin(b *testing.B) {
	const n = 19_000
	type cred struct{ id, secret, stored string }
	creds := make([]cred, n)
	for i := range creds {
		s := fmt.Sprintf("secret-%012d", i)
		creds[i] = cred{fmt.Sprintf("86%013d", i), s, mustHash(b, s)}
	}
	b.Run("full", func(b *testing.B) {
		i := 0
		for b.Loop() {
			c := creds[i%n]
			i++
			if err := Check(c.secret, c.stored); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		vc := newCache(b, 0)
		for _, c := range creds {
			if err := vc.Check(c.id, c.secret, c.stored); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		for b.Loop() {
			c := creds[i%n]
			i++
			if err := vc.Check(c.id, c.secret, c.stored); err != nil {
				b.Fatal(err)
			}
		}
	})
}
