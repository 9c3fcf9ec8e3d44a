package rawmqtt

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnectEncoding(t *testing.T) {
	// §3.1 example layout, checked byte by byte.
	got := AppendConnect(nil, ConnectOptions{ClientID: "c", Username: "u", Password: "p", Keepalive: 60,
		CleanSession: true, WillTopic: "w", WillPayload: []byte("x"), WillQoS: 1, WillRetain: true})
	want := []byte{0x10, 25, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02, 0, 60,
		0, 1, 'c', 0, 1, 'w', 0, 1, 'x', 0, 1, 'u', 0, 1, 'p'}
	assert.Equal(t, want, got)
	bare := AppendConnect(nil, ConnectOptions{ClientID: "id", Keepalive: 1})
	assert.Equal(t, []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 1, 0, 2, 'i', 'd'}, bare)
}

func TestRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 20000) // three length bytes
	tests := []struct {
		name string
		p    Packet
	}{
		{"connack", Packet{Type: CONNACK, SessionPresent: true, ReturnCode: 0}},
		{"connack refused", Packet{Type: CONNACK, ReturnCode: 4}},
		{"publish qos0", Packet{Type: PUBLISH, Topic: "a/b", Payload: []byte("hi")}},
		{"publish qos1 retain dup", Packet{Type: PUBLISH, Topic: "t", Payload: []byte{}, QoS: 1, Retain: true, Dup: true, PacketID: 7}},
		{"publish big", Packet{Type: PUBLISH, Topic: "t", Payload: big, QoS: 1, PacketID: 65535}},
		{"puback", Packet{Type: PUBACK, PacketID: 258}},
		{"subscribe", Packet{Type: SUBSCRIBE, PacketID: 3, Topic: "vm/v1/+/cmd/req/+", ReturnCode: 1}},
		{"suback", Packet{Type: SUBACK, PacketID: 3, ReturnCode: 0x80}},
		{"pingreq", Packet{Type: PINGREQ}},
		{"pingresp", Packet{Type: PINGRESP}},
		{"disconnect", Packet{Type: DISCONNECT}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Append(nil, tt.p)
			require.NoError(t, err)
			b = append(b, 0xff) // trailing byte of the next packet is not consumed
			got, n, err := Decode(b, 0)
			require.NoError(t, err)
			assert.Equal(t, len(b)-1, n)
			if tt.p.Payload == nil && got.Payload != nil && len(got.Payload) == 0 {
				got.Payload = nil
			}
			assert.Equal(t, tt.p, got)
			// Every proper prefix is incomplete.
			for _, cut := range []int{0, 1, n / 2, n - 1} {
				if cut < 0 || cut >= n {
					continue
				}
				_, _, err := Decode(b[:cut], 0)
				assert.ErrorIs(t, err, ErrIncomplete, "cut %d", cut)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"length five bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
		{"too large", []byte{0x30, 0xff, 0x01}, ErrTooLarge},
		{"connack long", []byte{0x20, 3, 0, 0, 0}, ErrMalformed},
		{"connack bad flags byte", []byte{0x20, 2, 2, 0}, ErrMalformed},
		{"puback flags", []byte{0x41, 2, 0, 1}, ErrMalformed},
		{"publish qos3", []byte{0x36, 3, 0, 1, 't'}, ErrMalformed},
		{"publish qos2", []byte{0x34, 5, 0, 1, 't', 0, 1}, ErrUnsupported},
		{"publish dup qos0", []byte{0x38, 3, 0, 1, 't'}, ErrMalformed},
		{"publish empty topic", []byte{0x30, 2, 0, 0}, ErrMalformed},
		{"publish topic overruns", []byte{0x30, 3, 0, 5, 't'}, ErrMalformed},
		{"publish no id", []byte{0x32, 3, 0, 1, 't'}, ErrMalformed},
		{"publish id zero", []byte{0x32, 5, 0, 1, 't', 0, 0}, ErrMalformed},
		{"suback bad code", []byte{0x90, 3, 0, 1, 3}, ErrMalformed},
		{"subscribe no filter", []byte{0x82, 2, 0, 1}, ErrMalformed},
		{"subscribe qos 3", []byte{0x82, 6, 0, 1, 0, 1, 'a', 3}, ErrMalformed},
		{"pingresp body", []byte{0xd0, 1, 0}, ErrMalformed},
		{"connect", []byte{0x10, 0}, ErrUnsupported},
		{"reserved 0", []byte{0x00, 0}, ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode(tt.in, 100)
			require.ErrorIs(t, err, tt.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tt.in[0]>>4, de.Type)
			assert.Contains(t, err.Error(), "rawmqtt: packet type")
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x20, 2, 0, 0})
	f.Add(AppendPublish(nil, "vm/v1/350000000000001/cmd/req/c1", []byte(`{"v":1}`), 1, false, false, 9))
	f.Add(AppendPuback(nil, 1))
	f.Add(AppendSubscribe(nil, 1, "a/+", 1))
	f.Add(AppendSuback(nil, 1, 1))
	f.Add([]byte{0xd0, 0, 0xc0, 0})
	f.Add([]byte{0x30, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := Decode(b, 1<<16)
		if err != nil {
			if n != 0 {
				t.Fatalf("n=%d with error", n)
			}
			return
		}
		if n < 2 || n > len(b) {
			t.Fatalf("n=%d of %d", n, len(b))
		}
		// Re-encoding what was decoded and decoding again gives the same packet.
		enc, err := Append(nil, p)
		if err != nil {
			t.Fatalf("decoded %d but cannot encode: %v", p.Type, err)
		}
		q, m, err := Decode(enc, 1<<16)
		if err != nil || m != len(enc) {
			t.Fatalf("re-decode: %v (n=%d of %d)", err, m, len(enc))
		}
		if p.Type != q.Type || p.Topic != q.Topic || !bytes.Equal(p.Payload, q.Payload) || p.PacketID != q.PacketID ||
			p.QoS != q.QoS || p.Retain != q.Retain || p.Dup != q.Dup || p.ReturnCode != q.ReturnCode || p.SessionPresent != q.SessionPresent {
			t.Fatalf("round trip: %+v != %+v", p, q)
		}
	})
}
