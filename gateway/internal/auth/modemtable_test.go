package auth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSource is a store of modem credentials that counts its reads.
type fakeSource struct {
	mu      sync.Mutex
	m       map[string]ModemCredential
	fail    error
	inAll   chan struct{} // when set, AllModemCredentials signals it has read ...
	release chan struct{} // ... and waits for this before returning
	all     atomic.Int32
	one     atomic.Int32
}

func (f *fakeSource) AllModemCredentials(ctx context.Context) (map[string]ModemCredential, error) {
	f.all.Add(1)
	f.mu.Lock()
	m, err := maps.Clone(f.m), f.fail
	f.mu.Unlock()
	if f.inAll != nil {
		f.inAll <- struct{}{}
		<-f.release
	}
	return m, err
}

func (f *fakeSource) ModemCredential(ctx context.Context, imei string) (ModemCredential, error) {
	f.one.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return ModemCredential{}, f.fail
	}
	c, ok := f.m[imei]
	if !ok {
		return ModemCredential{}, fmt.Errorf("store: %s: %w", imei, ErrUnknownModem)
	}
	return c, nil
}

func (f *fakeSource) put(imei string, c ModemCredential) {
	f.mu.Lock()
	f.m[imei] = c
	f.mu.Unlock()
}

func (f *fakeSource) del(imei string) {
	f.mu.Lock()
	delete(f.m, imei)
	f.mu.Unlock()
}

const (
	imeiA = "860000000000001"
	imeiB = "860000000000002"
)

func newTable(t *testing.T, now func() time.Time) (*ModemTable, *fakeSource) {
	t.Helper()
	src := &fakeSource{m: map[string]ModemCredential{
		imeiA: {ID: 1, Hash: mustHash(t, "password-a-1")},
		imeiB: {ID: 2, Hash: mustHash(t, "password-b-1")},
	}}
	tab, err := NewModemTable(src, ModemTableConfig{Refresh: time.Minute, Now: now})
	require.NoError(t, err)
	require.NoError(t, tab.Load(context.Background()))
	require.Equal(t, 2, tab.Len())
	return tab, src
}

func TestModemTable(t *testing.T) {
	ctx := context.Background()
	t.Run("preloaded logins read no store", func(t *testing.T) {
		tab, src := newTable(t, nil)
		for range 3 {
			id, err := tab.Authenticate(ctx, imeiA, "password-a-1")
			require.NoError(t, err)
			assert.Equal(t, int64(1), id)
		}
		id, err := tab.Authenticate(ctx, imeiB, "password-b-1")
		require.NoError(t, err)
		assert.Equal(t, int64(2), id)
		assert.Zero(t, src.one.Load())
	})
	t.Run("wrong password and unknown modem", func(t *testing.T) {
		tab, src := newTable(t, nil)
		_, err := tab.Authenticate(ctx, imeiA, "password-a-2")
		assert.ErrorIs(t, err, ErrMismatch)
		_, err = tab.Authenticate(ctx, "860000000000009", "password-x-1")
		assert.ErrorIs(t, err, ErrUnknownModem)
		assert.Equal(t, int32(2), src.one.Load(), "a miss or mismatch reads the store")
	})
	t.Run("modem provisioned after the load", func(t *testing.T) {
		tab, src := newTable(t, nil)
		src.put("860000000000003", ModemCredential{ID: 3, Hash: mustHash(t, "password-c-1")})
		id, err := tab.Authenticate(ctx, "860000000000003", "password-c-1")
		require.NoError(t, err)
		assert.Equal(t, int64(3), id)
		_, err = tab.Authenticate(ctx, "860000000000003", "password-c-1")
		require.NoError(t, err)
		assert.Equal(t, int32(1), src.one.Load())
	})
	t.Run("password changed elsewhere", func(t *testing.T) {
		tab, src := newTable(t, nil)
		src.put(imeiA, ModemCredential{ID: 1, Hash: mustHash(t, "password-a-2")})
		// The new password works at once (mismatch: the store decides) ...
		id, err := tab.Authenticate(ctx, imeiA, "password-a-2")
		require.NoError(t, err)
		assert.Equal(t, int64(1), id)
		// ... and from then on the old one is refused.
		_, err = tab.Authenticate(ctx, imeiA, "password-a-1")
		assert.ErrorIs(t, err, ErrMismatch)
	})
	t.Run("old password passes until the reload", func(t *testing.T) {
		tab, src := newTable(t, nil)
		src.put(imeiA, ModemCredential{ID: 1, Hash: mustHash(t, "password-a-2")})
		_, err := tab.Authenticate(ctx, imeiA, "password-a-1")
		require.NoError(t, err, "within Refresh the table's hash still decides (documented bound)")
		require.NoError(t, tab.Load(ctx))
		_, err = tab.Authenticate(ctx, imeiA, "password-a-1")
		assert.ErrorIs(t, err, ErrMismatch)
	})
	t.Run("deleted modem", func(t *testing.T) {
		tab, src := newTable(t, nil)
		src.del(imeiB)
		_, err := tab.Authenticate(ctx, imeiB, "password-b-1")
		require.NoError(t, err, "within Refresh (documented bound)")
		require.NoError(t, tab.Load(ctx))
		assert.Equal(t, 1, tab.Len())
		_, err = tab.Authenticate(ctx, imeiB, "password-b-1")
		assert.ErrorIs(t, err, ErrUnknownModem)
	})
	t.Run("forget", func(t *testing.T) {
		tab, src := newTable(t, nil)
		src.del(imeiB)
		tab.Forget(imeiB)
		_, err := tab.Authenticate(ctx, imeiB, "password-b-1")
		assert.ErrorIs(t, err, ErrUnknownModem)
	})
	t.Run("table too old is not trusted", func(t *testing.T) {
		var now atomic.Int64
		now.Store(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).UnixNano())
		tab, src := newTable(t, func() time.Time { return time.Unix(0, now.Load()) })
		src.del(imeiB)
		src.fail = errors.New("disk on fire")
		assert.Error(t, tab.Load(ctx), "a failed reload keeps the old table")
		assert.Equal(t, 2, tab.Len())
		src.fail = nil
		now.Add(int64(2*time.Minute + time.Second)) // past MaxAge = 2 × Refresh
		_, err := tab.Authenticate(ctx, imeiB, "password-b-1")
		assert.ErrorIs(t, err, ErrUnknownModem)
		_, err = tab.Authenticate(ctx, imeiA, "password-a-1")
		require.NoError(t, err)
		assert.Equal(t, int32(2), src.one.Load())
	})
	t.Run("store failure is not a refusal", func(t *testing.T) {
		tab, src := newTable(t, nil)
		src.fail = errors.New("busy")
		_, err := tab.Authenticate(ctx, "860000000000009", "password-x-1")
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrUnknownModem)
		assert.NotErrorIs(t, err, ErrMismatch)
	})
	t.Run("change seen during a reload outlives it", func(t *testing.T) {
		tab, src := newTable(t, nil)
		src.inAll, src.release = make(chan struct{}), make(chan struct{})
		done := make(chan error)
		go func() { done <- tab.Load(ctx) }()
		<-src.inAll // the reload has read the old hash of A
		src.put(imeiA, ModemCredential{ID: 1, Hash: mustHash(t, "password-a-2")})
		_, err := tab.Authenticate(ctx, imeiA, "password-a-2")
		require.NoError(t, err)
		close(src.release)
		require.NoError(t, <-done)
		_, err = tab.Authenticate(ctx, imeiA, "password-a-1")
		assert.ErrorIs(t, err, ErrMismatch, "the reload's older hash must not come back")
	})
}

func TestModemTableRun(t *testing.T) {
	src := &fakeSource{m: map[string]ModemCredential{imeiA: {ID: 1, Hash: mustHash(t, "password-a-1")}}}
	tab, err := NewModemTable(src, ModemTableConfig{Refresh: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tab.Run(ctx); close(done) }()
	require.Eventually(t, func() bool { return tab.Len() == 1 && src.all.Load() >= 2 }, 3*time.Second, time.Millisecond)
	cancel()
	<-done
}

// BenchmarkModemTableLogin is the cost of one login of a reconnect storm after
// a restart (table loaded, password not yet remembered: one PBKDF2 of
// ModemIterations) and of a repeated one.
func BenchmarkModemTableLogin(b *testing.B) {
	src := &fakeSource{m: map[string]ModemCredential{}}
	const n = 19000
	hash := mustHash(b, "password-storm-1")
	for i := range n {
		src.m[fmt.Sprintf("86%013d", i)] = ModemCredential{ID: int64(i + 1), Hash: hash}
	}
	ctx := context.Background()
	for _, first := range []bool{true, false} {
		b.Run(map[bool]string{true: "first", false: "repeat"}[first], func(b *testing.B) {
			tab, err := NewModemTable(src, ModemTableConfig{})
			require.NoError(b, err)
			require.NoError(b, tab.Load(ctx))
			if !first {
				for i := range n {
					_, _ = tab.Authenticate(ctx, fmt.Sprintf("86%013d", i), "password-storm-1")
				}
			}
			imeis := make([]string, n)
			for i := range imeis {
				imeis[i] = fmt.Sprintf("86%013d", i)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if first && i%n == 0 && i > 0 {
					b.StopTimer()
					tab.cfg.Verified, _ = NewVerifiedCache(0)
					b.StartTimer()
				}
				if _, err := tab.Authenticate(ctx, imeis[i%n], "password-storm-1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCheap(t *testing.T) {
	modem, err := Hash("x", ModemIterations)
	require.NoError(t, err)
	user, err := Hash("x", UserIterations)
	require.NoError(t, err)
	assert.True(t, Cheap(modem))
	assert.False(t, Cheap(user))
	for _, bad := range []string{"", "pbkdf2-sha256$", "pbkdf2-sha256$x$a$b", "pbkdf2-sha256$0$a$b", "md5$1$a$b"} {
		assert.False(t, Cheap(bad), bad)
	}
}

// AuthenticateQuick accepts only what the fresh table vouches for at a
// modem's hash cost, reads no store, and decides nothing otherwise.
func TestAuthenticateQuick(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).UnixNano())
	tab, src := newTable(t, func() time.Time { return time.Unix(0, now.Load()) })
	id, ok := tab.AuthenticateQuick(imeiA, "password-a-1")
	assert.True(t, ok)
	assert.Equal(t, int64(1), id)
	_, ok = tab.AuthenticateQuick(imeiA, "password-a-2")
	assert.False(t, ok, "wrong password")
	_, ok = tab.AuthenticateQuick("860000000000009", "password-x-1")
	assert.False(t, ok, "unknown modem")

	costly, err := Hash("password-c-1", UserIterations)
	require.NoError(t, err)
	src.put("860000000000003", ModemCredential{ID: 3, Hash: costly})
	require.NoError(t, tab.Load(context.Background()))
	_, ok = tab.AuthenticateQuick("860000000000003", "password-c-1")
	assert.False(t, ok, "a costly hash is left to Authenticate (bounded workers)")

	now.Add(int64(2*time.Minute + time.Second)) // past MaxAge
	_, ok = tab.AuthenticateQuick(imeiA, "password-a-1")
	assert.False(t, ok, "a stale table vouches for nothing")
	assert.Zero(t, src.one.Load(), "no store read")
}
