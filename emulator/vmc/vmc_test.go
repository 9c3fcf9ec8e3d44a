package vmc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/dex"
	"vendgate/dex/evadts"
	"vendgate/emulator/machine"
)

type session struct {
	err   error
	bytes int
}

// serve runs Run on one end of a pipe and returns the reader's end; the
// sessions the machine saw are sent on the returned channel.
func serve(t *testing.T, cfg Config) (net.Conn, <-chan session) {
	t.Helper()
	reader, vm := net.Pipe()
	sessions := make(chan session, 16)
	cfg.OnSession = func(err error, n int) { sessions <- session{err, n} }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, Run(ctx, vm, cfg)) })
	t.Cleanup(func() { cancel(); reader.Close(); vm.Close(); wg.Wait() })
	return reader, sessions
}

func newMachine() *machine.Machine {
	m := machine.New(machine.Config{Selections: 30, Seed: 3, Serial: "VM0000042"})
	for range 50 {
		_, _ = m.RandomVend()
	}
	return m
}

func TestRunFaults(t *testing.T) {
	tests := []struct {
		name          string
		faults        Faults
		machineMaster bool
		wantErr       error
	}{
		{name: "clean"},
		{name: "machine master", machineMaster: true},
		{name: "every 2nd block corrupt", faults: Faults{CorruptEvery: 2}},
		{name: "every 3rd block corrupt", faults: Faults{CorruptEvery: 3}},
		{name: "every block corrupt", faults: Faults{CorruptEvery: 1}, wantErr: dex.ErrCRC},
		{name: "silent after 1 block", faults: Faults{SilentAfter: 1}, wantErr: dex.ErrTimeout},
		{name: "silent after 3 blocks", faults: Faults{SilentAfter: 3}, wantErr: dex.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMachine()
				line, sessions := serve(t, Config{Machine: m, Faults: tt.faults, MachineMaster: tt.machineMaster})
				text, err := (&dex.Master{}).Read(context.Background(), line)
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					if tt.faults.SilentAfter > 0 {
						assert.Equal(t, tt.faults.SilentAfter*dex.MaxBlockText, len(text), "exactly the blocks before the silence")
					}
					return
				}
				require.NoError(t, err)
				reps, err := evadts.ParseBytes(text)
				require.NoError(t, err)
				require.Len(t, reps, 1)
				assert.True(t, reps[0].Validate().Valid())
				assert.Equal(t, "VM0000042", reps[0].MachineID())
				assert.Equal(t, int64(1), reps[0].Events.Reads.ReadsTotal, "one session, one machine read")
				s := <-sessions
				require.NoError(t, s.err)
				assert.Equal(t, len(text), s.bytes)
			})
		})
	}
}

// TestRunSuccessiveAudits: the machine keeps vending between reads, so two
// reads a minute apart differ by the vends made in between.
func TestRunSuccessiveAudits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMachine()
		line, _ := serve(t, Config{Machine: m, VendRate: 30})
		read := func() *evadts.Report {
			text, err := (&dex.Master{}).Read(context.Background(), line)
			require.NoError(t, err)
			reps, err := evadts.ParseBytes(text)
			require.NoError(t, err)
			return reps[0]
		}
		first := read()
		time.Sleep(time.Minute) // fake time inside the bubble
		second := read()
		d, err := evadts.Sales(first, second)
		require.NoError(t, err)
		assert.InDelta(t, 30, d.Vends.Count, 1, "30 vends per minute")
	})
}

func TestLineCorruptKeepsFraming(t *testing.T) {
	tests := []struct {
		name string
		text []byte
	}{
		{"text", []byte("DXS*AB0000001*VA*V0/6*1\r\n")},
		{"empty text", nil},
		{"only DLEs", []byte{dex.DLE, dex.DLE, dex.DLE}},
		{"one char", []byte("X")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blk := dex.AppendBlock(nil, tt.text, true)
			var w bytes.Buffer
			l := NewLine(&rwBuf{&w}, Faults{CorruptEvery: 1})
			n, err := l.Write(blk)
			require.NoError(t, err)
			assert.Equal(t, len(blk), n)
			got := w.Bytes()
			require.Len(t, got, len(blk))
			diff := 0
			for i := range got {
				if got[i] != blk[i] {
					diff++
				}
			}
			assert.Equal(t, 1, diff, "exactly one byte changed")
			var dec dex.Decoder
			frames := dec.Feed(got)
			require.Len(t, frames, 1, "still one frame")
			assert.ErrorIs(t, frames[0].Err, dex.ErrBadCRC)
			assert.Equal(t, 1, l.Blocks())
		})
	}
}

func TestLineSilentAndPassThrough(t *testing.T) {
	var w bytes.Buffer
	l := NewLine(&rwBuf{&w}, Faults{SilentAfter: 1})
	_, err := l.Write([]byte{dex.ENQ})
	require.NoError(t, err)
	blk := dex.AppendBlock(nil, []byte("ST*001*0001\r\n"), false)
	_, err = l.Write(blk)
	require.NoError(t, err)
	n, err := l.Write([]byte{dex.EOT})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a swallowed write reports success")
	assert.Equal(t, append([]byte{dex.ENQ}, blk...), w.Bytes())
	assert.ErrorIs(t, l.SetReadDeadline(time.Now()), errors.ErrUnsupported)
}

func TestRunConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no machine", Config{}},
		{"negative rate", Config{Machine: newMachine(), VendRate: -1}},
		{"negative fault", Config{Machine: newMachine(), Faults: Faults{CorruptEvery: -2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, Run(context.Background(), &rwBuf{&bytes.Buffer{}}, tt.cfg), ErrConfig)
		})
	}
}

// rwBuf is a line without deadlines: reads see EOF.
type rwBuf struct{ *bytes.Buffer }

func (b *rwBuf) Read([]byte) (int, error) { return 0, io.EOF }

// FuzzCorrupt: whatever the block text, a corrupted block is still exactly
// one frame, of the same length, that fails its block check.
func FuzzCorrupt(f *testing.F) {
	f.Add([]byte("DXS*AB0000001*VA*V0/6*1\r\n"), false)
	f.Add([]byte{}, true)
	f.Add([]byte{dex.DLE, 'A', dex.DLE}, true)
	f.Add([]byte{0x7f, 0x00, dex.ETX, dex.ETB}, false)
	f.Fuzz(func(t *testing.T, text []byte, last bool) {
		if len(text) > dex.MaxBlockText {
			text = text[:dex.MaxBlockText]
		}
		blk := dex.AppendBlock(nil, text, last)
		bad := append([]byte(nil), blk...)
		corrupt(bad)
		require.Len(t, bad, len(blk))
		require.NotEqual(t, blk, bad)
		var dec dex.Decoder
		frames := dec.Feed(bad)
		require.Len(t, frames, 1)
		require.ErrorIs(t, frames[0].Err, dex.ErrBadCRC)
	})
}
