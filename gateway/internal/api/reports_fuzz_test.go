package api

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/internal/cp1251"
)

// FuzzReportAudit feeds arbitrary audit bodies to everything the reports
// derive from audits: none may panic, and the base64 rendering must give the
// bytes back (cp1251 ones when the text is representable).
func FuzzReportAudit(f *testing.F) {
	f.Add([]byte("DXS*NRI0000001*VA*V0/6*1\r\nST*001*0001\r\nCA3*10*10*0*5\r\nCA10*3\r\nCA15*700\r\nEA2*D54*2*9**1\r\nEA3*4\r\nG85*1234\r\nSE*7*0001\r\nDXE*1*1\r\n"), "D54")
	f.Add([]byte("ID1*Кофе\r\n"), "EGS")
	f.Add([]byte{0xff, 0xfe, '*', 0}, "ejj")
	f.Fuzz(func(t *testing.T, data []byte, code string) {
		a := store.Audit{ID: 1, VMID: 1, Port: 1, Time: t0, Received: t0, Data: data, Valid: true}
		_, _ = auditCash(a)
		_ = auditErrors(a, time.UTC)
		_, _ = lookupErrorCode(code)
		raw, err := base64.StdEncoding.DecodeString(auditText(data, false, true))
		require.NoError(t, err)
		require.Equal(t, data, raw)
		if want, err := cp1251.FromUTF8(data); err == nil {
			raw, err := base64.StdEncoding.DecodeString(auditText(data, true, true))
			require.NoError(t, err)
			require.Equal(t, want, raw)
		}
	})
}
