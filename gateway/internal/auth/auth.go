// Package auth hashes and checks secrets: operators' passwords, modems' MQTT
// passwords and API tokens. Only hashes are ever stored.
//
// Two strengths, because the two kinds of secret differ:
//   - Operator passwords are chosen by people, so they get PBKDF2-HMAC-SHA256 with
//     many iterations (format "pbkdf2-sha256$ITER$SALT$HASH").
//   - Modem passwords are random secrets of at least MinModemPassword characters
//     made by provisioning, and every reconnect storm checks thousands of them at
//     once, so they get a salted PBKDF2 with few iterations: brute force is
//     bounded by the secret's entropy, not by the hash cost.
//
// Tokens are random 32-byte values; their SHA-256 is stored and looked up.
//
// ModemTable keeps every modem's credential in memory for the logins of a
// reconnect storm, with the store as the authority on a miss or mismatch;
// a revocation made by another process is seen within its Refresh interval.
package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Iteration counts of the two strengths.
const (
	UserIterations  = 100_000
	ModemIterations = 16
)

// MaxIterations is the largest iteration count Check accepts: ten times
// UserIterations. A larger count in a stored hash is refused as ErrFormat
// rather than spending seconds of CPU per check (10,000,000 took ~3 s).
const MaxIterations = 10 * UserIterations

// MinModemPassword is the shortest modem password provisioning accepts.
const MinModemPassword = 12

// ErrMismatch is returned when a secret does not match its hash.
var ErrMismatch = errors.New("auth: secret does not match")

// ErrFormat is returned for a stored hash that cannot be read.
var ErrFormat = errors.New("auth: bad hash format")

// Hash returns the encoded hash of secret with the given iteration count.
func Hash(secret string, iterations int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, secret, salt, iterations, 32)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", iterations,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Cheap reports whether checking a secret against encoded costs no more
// than QuickIterations PBKDF2 iterations (a modem's hash; false for anything
// that does not parse).
func Cheap(encoded string) bool {
	rest, ok := strings.CutPrefix(encoded, "pbkdf2-sha256$")
	if !ok {
		return false
	}
	n, _, ok := strings.Cut(rest, "$")
	iter, err := strconv.Atoi(n)
	return ok && err == nil && iter >= 1 && iter <= QuickIterations
}

// QuickIterations is the most iterations Cheap accepts: a few ModemIterations.
const QuickIterations = 4 * ModemIterations

// Check reports nil when secret matches the encoded hash.
func Check(secret, encoded string) error {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return ErrFormat
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > MaxIterations {
		return ErrFormat
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[2])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return ErrFormat
	}
	got, err := pbkdf2.Key(sha256.New, secret, salt, iter, len(want))
	if err != nil {
		return ErrFormat
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// NewToken returns a random token and the hash to store for it.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token), nil
}

// TokenHash is the stored form of a token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// RandomPassword returns a random password of n characters from an alphabet
// without look-alike characters.
func RandomPassword(n int) (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}
