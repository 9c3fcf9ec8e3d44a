package evadts

import "testing"

// FuzzIndex checks that the View of any input agrees with Parse and the
// Reader (checkView: same error or same reports, validation, typed
// sections and records) and never panics; the prefix cut at cut must
// agree too (audits cut anywhere).
func FuzzIndex(f *testing.F) {
	addSeeds(f)
	f.Add([]byte("DXS*1\r\nST*001*0001\r\nPA1*1*1\r\nG85*ABCD\r\nSE*3*0001\r\nDXE*1*1\r\n"), 40)
	f.Add([]byte("DXS\r\r\nST\rx\n\n\nG85*\nSE*\r"), 9)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		checkView(t, b)
		if len(b) > 0 {
			cut = min(max(cut, 0), len(b))
			checkView(t, b[:cut:cut])
		}
	})
}
