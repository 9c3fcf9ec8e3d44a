package broker

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"vendgate/protocol"
)

func TestACL(t *testing.T) {
	p := protocol.Prefix(imeiA)
	tests := []struct {
		name     string
		topic    string
		pub, sub bool
	}{
		{"hello", p + "hello", true, false},
		{"state", p + "state", true, false},
		{"heartbeat", p + "tele/hb", true, false},
		{"event", p + "evt", true, false},
		{"vend", p + "vend", true, false},
		{"audit", p + "audit", true, false},
		{"command result", p + "cmd/res/abc-1", true, false},
		{"command request", p + "cmd/req/abc-1", false, true},
		{"command filter", p + "cmd/req/+", false, true},
		{"other modem uplink", protocol.Prefix(imeiB) + "tele/hb", false, false},
		{"other modem commands", protocol.CommandRequestFilter(imeiB), false, false},
		{"all", "#", false, false},
		{"own subtree", p + "#", false, false},
		{"cmd subtree", p + "cmd/#", false, false},
		{"res wildcard", p + "cmd/res/+", false, false},
		{"any modem", "vm/v1/+/cmd/req/+", false, false},
		{"sys", "$SYS/broker/clients/connected", false, false},
		{"shared", "$share/g/" + p + "cmd/req/+", false, false},
		{"trailing slash", p + "cmd/req/+/", false, false},
		{"extra level", p + "tele/hb/x", false, false},
		{"empty", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.pub, allowedPublish(imeiA, tc.topic), "publish")
			assert.Equal(t, tc.sub, allowedSubscribe(imeiA, tc.topic), "subscribe")
		})
	}
}

// FuzzACL checks the ACL never panics and never lets a modem outside its own
// topics: anything allowed is below vm/v1/{imei}/ and free of wildcards
// except the one command filter.
func FuzzACL(f *testing.F) {
	for _, s := range []string{"#", "+", "vm/v1/" + imeiA + "/cmd/req/+", "vm/v1/" + imeiA + "/state",
		"vm/v1/" + imeiB + "/tele/hb", "vm/v1/" + imeiA + "/cmd/res/x", "$SYS/#", "vm/v1//cmd/req/+", "vm/v1/" + imeiA + "/cmd/req/+/+"} {
		f.Add(imeiA, s)
	}
	f.Add("", "vm/v1//cmd/req/+")
	f.Fuzz(func(t *testing.T, imei, topic string) {
		pub, sub := allowedPublish(imei, topic), allowedSubscribe(imei, topic)
		if !protocol.ValidIMEI(imei) {
			// The broker only calls the ACL with a validated IMEI, but it must
			// still not open anything for a malformed one.
			if pub || sub {
				assert.True(t, strings.HasPrefix(topic, protocol.Prefix(imei)))
			}
			return
		}
		if pub {
			assert.True(t, strings.HasPrefix(topic, protocol.Prefix(imei)), "publish outside own prefix: %q", topic)
			assert.False(t, strings.ContainsAny(topic, "+#"))
			tp, err := protocol.ParseTopic(topic)
			assert.NoError(t, err)
			assert.True(t, tp.Class.Uplink())
		}
		if sub {
			assert.True(t, strings.HasPrefix(topic, protocol.Prefix(imei)+"cmd/req/"), "subscribe outside own commands: %q", topic)
			assert.False(t, strings.Contains(topic, "#"))
			if strings.Contains(topic, "+") {
				assert.Equal(t, protocol.CommandRequestFilter(imei), topic)
			}
		}
		assert.False(t, pub && sub, "a topic is either uplink or downlink")
	})
}
