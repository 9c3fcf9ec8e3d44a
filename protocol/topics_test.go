package protocol

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testIMEI = "861234567890123"

func TestParseTopic(t *testing.T) {
	good := []struct {
		name  string
		topic string
		want  Topic
	}{
		{"hello", "vm/v1/861234567890123/hello", Topic{IMEI: testIMEI, Class: ClassHello}},
		{"state", "vm/v1/861234567890123/state", Topic{IMEI: testIMEI, Class: ClassState}},
		{"heartbeat", "vm/v1/861234567890123/tele/hb", Topic{IMEI: testIMEI, Class: ClassHeartbeat}},
		{"event", "vm/v1/861234567890123/evt", Topic{IMEI: testIMEI, Class: ClassEvent}},
		{"vend", "vm/v1/861234567890123/vend", Topic{IMEI: testIMEI, Class: ClassVend}},
		{"audit", "vm/v1/861234567890123/audit", Topic{IMEI: testIMEI, Class: ClassAudit}},
		{"cmd result", "vm/v1/861234567890123/cmd/res/01JDB6Z3K2Q9", Topic{IMEI: testIMEI, Class: ClassCommandResult, CmdID: "01JDB6Z3K2Q9"}},
		{"cmd request", "vm/v1/861234567890123/cmd/req/a.b:c-d_e", Topic{IMEI: testIMEI, Class: ClassCommandRequest, CmdID: "a.b:c-d_e"}},
		{"14-digit imei", "vm/v1/86123456789012/hello", Topic{IMEI: "86123456789012", Class: ClassHello}},
		{"16-digit imei", "vm/v1/8612345678901234/state", Topic{IMEI: "8612345678901234", Class: ClassState}},
		{"64-char cmd id", "vm/v1/861234567890123/cmd/res/" + strings.Repeat("x", 64), Topic{IMEI: testIMEI, Class: ClassCommandResult, CmdID: strings.Repeat("x", 64)}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTopic(tc.topic)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.topic, got.String(), "String must rebuild the topic")
		})
	}

	bad := []struct {
		name  string
		topic string
	}{
		{"empty", ""},
		{"other version", "vm/v2/861234567890123/hello"},
		{"no message level", "vm/v1/861234567890123"},
		{"trailing slash", "vm/v1/861234567890123/hello/"},
		{"imei too short", "vm/v1/8612345678901/hello"},
		{"imei too long", "vm/v1/86123456789012345/hello"},
		{"imei not digits", "vm/v1/86123456789012a/hello"},
		{"imei wildcard", "vm/v1/+/hello"},
		{"unknown level", "vm/v1/861234567890123/telemetry"},
		{"hb without tele", "vm/v1/861234567890123/hb"},
		{"extra level", "vm/v1/861234567890123/evt/door"},
		{"cmd without id", "vm/v1/861234567890123/cmd/res/"},
		{"cmd wildcard", "vm/v1/861234567890123/cmd/req/+"},
		{"cmd id with slash", "vm/v1/861234567890123/cmd/req/a/b"},
		{"cmd id too long", "vm/v1/861234567890123/cmd/res/" + strings.Repeat("x", 65)},
		{"cmd unknown direction", "vm/v1/861234567890123/cmd/ack/x"},
		{"leading slash", "/vm/v1/861234567890123/hello"},
		{"upper case", "VM/v1/861234567890123/hello"},
		{"huge", "vm/v1/861234567890123/cmd/res/" + strings.Repeat("x", 10000)},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			_, err := ParseTopic(tc.topic)
			require.ErrorIs(t, err, ErrTopic)
			assert.Equal(t, "topic", Reason(err))
		})
	}
}

func TestTopicBuilders(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"hello", TopicFor(testIMEI, ClassHello), "vm/v1/861234567890123/hello"},
		{"state", TopicFor(testIMEI, ClassState), "vm/v1/861234567890123/state"},
		{"hb", TopicFor(testIMEI, ClassHeartbeat), "vm/v1/861234567890123/tele/hb"},
		{"evt", TopicFor(testIMEI, ClassEvent), "vm/v1/861234567890123/evt"},
		{"vend", TopicFor(testIMEI, ClassVend), "vm/v1/861234567890123/vend"},
		{"audit", TopicFor(testIMEI, ClassAudit), "vm/v1/861234567890123/audit"},
		{"no cmd via TopicFor", TopicFor(testIMEI, ClassCommandRequest), ""},
		{"unknown", TopicFor(testIMEI, ClassUnknown), ""},
		{"cmd req", CommandRequestTopic(testIMEI, "c1"), "vm/v1/861234567890123/cmd/req/c1"},
		{"cmd res", CommandResultTopic(testIMEI, "c1"), "vm/v1/861234567890123/cmd/res/c1"},
		{"filter", CommandRequestFilter(testIMEI), "vm/v1/861234567890123/cmd/req/+"},
		{"prefix", Prefix(testIMEI), "vm/v1/861234567890123/"},
		{"unknown String", Topic{IMEI: testIMEI}.String(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, tc.got) })
	}
	// The longest valid topic is exactly MaxTopicLen.
	longest := CommandResultTopic("1234567890123456", strings.Repeat("a", 64))
	assert.Len(t, longest, MaxTopicLen)
	_, err := ParseTopic(longest)
	require.NoError(t, err)
}

func TestValidIMEIAndID(t *testing.T) {
	imeis := map[string]bool{
		"":                  false,
		"1234567890123":     false,
		"12345678901234":    true,
		"123456789012345":   true,
		"1234567890123456":  true,
		"12345678901234567": false,
		"12345678901234x":   false,
		"١٢٣٤٥٦٧٨٩٠١٢٣٤":    false, // Arabic-Indic digits are not ASCII
	}
	for s, want := range imeis {
		t.Run("imei/"+s, func(t *testing.T) { assert.Equal(t, want, ValidIMEI(s)) })
	}
	ids := map[string]bool{
		"":                        false,
		"a":                       true,
		"01JDB6Z3K2Q9":            true,
		"a-b_c.d:e":               true,
		strings.Repeat("z", 64):   true,
		strings.Repeat("z", 65):   false,
		"a b":                     false,
		"a/b":                     false,
		"+":                       false,
		"#":                       false,
		"é":                       false,
		"550e8400-e29b-41d4-a716": true,
	}
	for s, want := range ids {
		t.Run("id/"+s, func(t *testing.T) { assert.Equal(t, want, ValidID(s)) })
	}
}

func TestClassStringAndUplink(t *testing.T) {
	tests := []struct {
		c      Class
		name   string
		uplink bool
	}{
		{ClassUnknown, "unknown", false},
		{ClassHello, "hello", true},
		{ClassState, "state", true},
		{ClassHeartbeat, "hb", true},
		{ClassEvent, "evt", true},
		{ClassVend, "vend", true},
		{ClassAudit, "audit", true},
		{ClassCommandResult, "cmd_res", true},
		{ClassCommandRequest, "cmd_req", false},
		{Class(200), "unknown", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.name, tc.c.String())
			assert.Equal(t, tc.uplink, tc.c.Uplink())
			if tc.c != ClassUnknown && tc.c.String() != "unknown" {
				assert.Positive(t, MaxPayload(tc.c))
				assert.Less(t, MaxPayload(tc.c)+MaxTopicLen, MaxPacket)
			} else {
				assert.Zero(t, MaxPayload(tc.c))
			}
		})
	}
}

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{
		"vm/v1/861234567890123/hello", "vm/v1/861234567890123/tele/hb",
		"vm/v1/861234567890123/cmd/res/abc", "vm/v1/861234567890123/cmd/req/x:y",
		"vm/v1/861234567890123/", "vm/v1//hello", "vm/v1/861234567890123/cmd/req/+", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTopic(s)
		if err != nil {
			require.ErrorIs(t, err, ErrTopic)
			return
		}
		// A parsed topic rebuilds to exactly its input and parses again.
		require.Equal(t, s, tp.String())
		require.True(t, ValidIMEI(tp.IMEI))
		if tp.Class == ClassCommandRequest || tp.Class == ClassCommandResult {
			require.True(t, ValidID(tp.CmdID))
		} else {
			require.Empty(t, tp.CmdID)
		}
		again, err := ParseTopic(tp.String())
		require.NoError(t, err)
		require.Equal(t, tp, again)
	})
}
