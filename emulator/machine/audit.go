package machine

import (
	"bytes"
	"fmt"
)

// auditSnapshot is what an audit is rendered from, copied under the machine's lock.
type auditSnapshot struct {
	serial, model string
	cnt           Counters
	sels          []Selection
	reads         int
}

// renderAudit writes a minimal EVA-DTS 6.x audit. It is the one place that knows the
// text layout, so it can be swapped for dex/evadts once that package has an encoder.
//
// Records (EVA-DTS 6.1 data dictionary): DXS header; ST transaction set header;
// ID1 machine id (serial, model); VA1 value of all paid vends (value, count, since
// init and since reset); CA2 cash sales; DA2 cashless-1 sales; PA1 selection + price
// and PA2 its paid sales, per selection; G85 check value; SE trailer with the number
// of records from ST to SE; DXE end.
func renderAudit(s auditSnapshot) []byte {
	var body bytes.Buffer // ST .. the record before G85: what G85 covers
	line := func(format string, a ...any) {
		fmt.Fprintf(&body, format, a...)
		body.WriteString("\r\n")
	}
	line("ST*001*0001")
	line("ID1*%s*%s*0001", s.serial, s.model)
	paidValue := s.cnt.CashValue + s.cnt.CashlessValue
	paidCount := s.cnt.CashVends + s.cnt.CashlessVends
	line("VA1*%d*%d*%d*%d", paidValue, paidCount, paidValue, paidCount)
	line("CA2*%d*%d*%d*%d", s.cnt.CashValue, s.cnt.CashVends, s.cnt.CashValue, s.cnt.CashVends)
	line("DA2*%d*%d*%d*%d", s.cnt.CashlessValue, s.cnt.CashlessVends, s.cnt.CashlessValue, s.cnt.CashlessVends)
	for _, sel := range s.sels {
		line("PA1*%s*%d", sel.Code, sel.Price)
		line("PA2*%d*%d*%d*%d", sel.Vends, sel.Value, sel.Vends, sel.Value)
	}
	records := bytes.Count(body.Bytes(), []byte("\r\n")) + 2 // + G85 and SE

	var out bytes.Buffer
	fmt.Fprintf(&out, "DXS*%s*VA*V0/6*1\r\n", s.serial)
	out.Write(body.Bytes())
	fmt.Fprintf(&out, "G85*%04X\r\n", CRC16ARC(body.Bytes()))
	fmt.Fprintf(&out, "SE*%d*0001\r\n", records)
	out.WriteString("DXE*1*1\r\n")
	return out.Bytes()
}

// CRC16ARC is CRC-16/ARC (poly 0x8005 reflected = 0xA001, init 0, no final XOR), the
// check value EVA-DTS uses for G85 (dex.md §2.2; check("123456789") = 0xBB3D).
func CRC16ARC(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
