package modem

import (
	"encoding/json"
	"time"

	"vendgate/protocol"
)

// encode validates and marshals an outgoing message (protocol.Encode refuses what the
// gateway's decoders would refuse, so the emulator cannot drift from the contract).
func encode(v any) ([]byte, error) { return protocol.Encode(v) }

// jsonRaw marshals an event payload or a command result object.
func jsonRaw(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	return json.RawMessage(b), err
}

// millis is a time as protocol timestamps carry it: Unix milliseconds.
func millis(t time.Time) int64 { return protocol.Millis(t) }
