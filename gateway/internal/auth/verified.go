package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
)

// DefaultVerifiedEntries is the default bound of a VerifiedCache: a large
// fleet's modems, at about 100 bytes each.
const DefaultVerifiedEntries = 100_000

// VerifiedCache is Check with a memory of the credentials it has accepted, for
// modem logins: after a gateway restart a whole fleet reconnects at once, and
// each modem presents the same password it did last time. A repeated
// (id, secret, stored hash) skips the PBKDF2; anything else (a first login, a
// wrong password, a credential changed in the store) is checked in full.
//
// An entry is one SHA-256, keyed with a secret drawn when the cache is made,
// of the stored hash and the secret: it matches only the same secret against the
// same stored hash (so rotating a modem's password in the store invalidates it
// without any notification), and it is worthless outside this process (the key
// is never stored), unlike an unsalted hash of the password. Failed checks are
// never remembered, so guessing still costs a full Check per attempt.
//
// Safe for concurrent use. The zero value is not usable; use NewVerifiedCache.
type VerifiedCache struct {
	key [32]byte
	max int

	mu sync.RWMutex
	m  map[string][sha256.Size]byte // id → digest of (stored hash, secret)
}

// NewVerifiedCache returns a cache of at most max entries (max <= 0:
// DefaultVerifiedEntries).
func NewVerifiedCache(max int) (*VerifiedCache, error) {
	if max <= 0 {
		max = DefaultVerifiedEntries
	}
	c := &VerifiedCache{max: max, m: make(map[string][sha256.Size]byte)}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, err
	}
	return c, nil
}

// digest binds the secret to the stored hash it was checked against: SHA-256
// of key ‖ encoded ‖ NUL ‖ secret. Only equality with an earlier digest of this
// process is ever tested and the digests never leave it, so a keyed prefix is
// enough (no HMAC needed: length extension gives nothing without the key and
// without an oracle). A remembered encoded hash passed Check, so it has no
// NUL and the pair is read back unambiguously.
func (c *VerifiedCache) digest(secret, encoded string) [sha256.Size]byte {
	var buf [256]byte // typical key+hash+secret fit: no allocation
	b := append(buf[:0], c.key[:]...)
	b = append(b, encoded...)
	b = append(b, 0)
	b = append(b, secret...)
	return sha256.Sum256(b)
}

// Check reports nil when secret matches the encoded hash, like the package's
// Check, for the principal id (a modem's IMEI). Success is remembered for id.
func (c *VerifiedCache) Check(id, secret, encoded string) error {
	d := c.digest(secret, encoded)
	c.mu.RLock()
	prev, ok := c.m[id]
	c.mu.RUnlock()
	if ok && hmac.Equal(prev[:], d[:]) {
		return nil
	}
	if err := Check(secret, encoded); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok && len(c.m) >= c.max {
		for k := range c.m { // full: drop an arbitrary entry (map order is random)
			delete(c.m, k)
			break
		}
	}
	c.m[id] = d
	return nil
}

// Forget drops what is remembered for id (a modem deleted or its credential
// revoked: the next login is checked in full; not needed for correctness when
// the stored hash changed).
func (c *VerifiedCache) Forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// Len returns the number of remembered credentials.
func (c *VerifiedCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
