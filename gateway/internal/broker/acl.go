package broker

import (
	"strings"
	"time"

	"vendgate/protocol"
)

// timeNow is the clock of Conn.At.
var timeNow = time.Now

// cmdReqWildcard is the level suffix of the command filter vm/v1/{imei}/cmd/req/+.
const cmdReqWildcard = "/cmd/req/+"

// allowedPublish reports whether modem imei may publish to topic: one of its
// own uplink topics (docs/protocol.md "Topics", mqtt.md §5.2).
func allowedPublish(imei, topic string) bool {
	t, err := protocol.ParseTopic(topic)
	return err == nil && t.IMEI == imei && t.Class.Uplink()
}

// allowedSubscribe reports whether modem imei may subscribe to filter (or
// receive a message on that topic): its own vm/v1/{imei}/cmd/req/+ or one
// vm/v1/{imei}/cmd/req/{id}. Nothing else: no other wildcard, no $SYS, no
// shared subscription, nothing of another modem.
func allowedSubscribe(imei, filter string) bool {
	if rest, ok := strings.CutPrefix(filter, protocol.TopicPrefix); ok {
		if own, ok := strings.CutPrefix(rest, imei); ok && own == cmdReqWildcard {
			return true
		}
	}
	t, err := protocol.ParseTopic(filter)
	return err == nil && t.IMEI == imei && t.Class == protocol.ClassCommandRequest
}
