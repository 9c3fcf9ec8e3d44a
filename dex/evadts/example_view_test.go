package evadts_test

import (
	"fmt"

	"vendgate/dex/evadts"
)

// Index validates and reads a few fields without building the typed report.
func ExampleIndex() {
	audit := "DXS*XYZ1234567*VA*V0/6*1\r\n" +
		"ST*001*0001\r\n" +
		"ID1*SN42*MODEL7\r\n" +
		"VA1*1500*10*300*2\r\n" +
		"PA1*11*150*Cola\r\n" +
		"PA2*6*900*1*150\r\n" +
		"G85*%s\r\n" +
		"SE*7*0001\r\n" +
		"DXE*1*1\r\n"
	check := evadts.CRC16(0, []byte("ST*001*0001\r\nID1*SN42*MODEL7\r\nVA1*1500*10*300*2\r\nPA1*11*150*Cola\r\nPA2*6*900*1*150\r\n"))
	v, err := evadts.Index(fmt.Appendf(nil, audit, fmt.Sprintf("%04X", check)))
	if err != nil {
		panic(err)
	}
	a := v.Audit(0)
	fmt.Println(a.Validate())
	if id1, ok := a.Find("ID1"); ok {
		fmt.Printf("machine %s\n", id1.Field(1))
	}
	for pa1 := range a.All("PA1") {
		price, _ := pa1.Int(2)
		fmt.Printf("selection %s costs %d\n", pa1.Text(1), price)
	}
	fmt.Println("paid vends:", a.Meters().Paid.CountInit)
	// Output:
	// G85 A9CC ok (computed A9CC); SE 7/7 ok
	// machine SN42
	// selection 11 costs 150
	// paid vends: 10
}
