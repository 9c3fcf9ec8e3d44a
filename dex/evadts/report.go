package evadts

// Report is one audit (DXS..DXE) in typed form. Records whose element
// positions the research notes do not document are kept as raw segments in
// the section they belong to (Other fields) or in Unknown, so nothing read is
// lost. "Init" fields count since initialisation (never reset by a read);
// "Reset" fields count since the last reset (zeroed by reads in AUTO mode,
// EVA-DTS §2.6) — analytics use the Init ones.
type Report struct {
	Header   Header     `json:"header"`
	Machine  Machine    `json:"machine"`
	Meters   Meters     `json:"meters"`
	Cash     Cash       `json:"cash"`
	Cashless []Cashless `json:"cashless"`
	Products []Product  `json:"products"`
	Events   Events     `json:"events"`
	// Config holds MA5 manufacturer-specific records in input order.
	Config  []MA5     `json:"config"`
	Trailer Trailer   `json:"trailer"`
	Unknown []Segment `json:"unknown"`
	// Truncated is set when the audit ended (end of input, or a new DXS)
	// before its SE: the data is incomplete.
	Truncated bool `json:"truncated"`
	// Issues lists non-fatal problems, e.g. a numeric element that is not a
	// number (the value is taken as 0).
	Issues []*ParseError `json:"issues"`

	st parseState // what Validate needs from the wire text
}

// parseState is collected while parsing for Validate.
type parseState struct {
	parsed      bool
	inSpan      bool   // between ST and G85
	crc         uint16 // over the span with every line end normalised to CRLF
	crcNoLast   uint16 // the same without the final CRLF
	lfSeen      bool   // some line in the span ended with a bare LF
	g85Seen     bool
	seSeen      bool
	counted     int // segments from ST to SE inclusive
	loopCounted int // LS/LE among them
	seenID1     bool
	missingDXE  bool // SE seen, input ended (or a new DXS began) before DXE
}

// Header is the DXS and ST envelope.
type Header struct {
	CommID       string   `json:"comm_id"`       // DXS01: manufacturer code + 7 digits (≥ DTS 6.0)
	FunctionalID string   `json:"functional_id"` // DXS02: "VA"
	Version      string   `json:"version"`       // DXS03: "V0/6" (DTS 6.x), "V1/1" (older)
	Transmission string   `json:"transmission"`  // DXS04: transmission control number
	Extra        []string `json:"extra,omitempty"`
	SetID        string   `json:"set_id"`      // ST01: "001"
	SetControl   string   `json:"set_control"` // ST02: "0001"
}

// Device identifies a component (CB1 control board, CA1 coin mechanism, BA1
// bill validator, DA1/DB1 cashless, AM1 audit module): 01 serial, 02 model,
// 03 software revision.
type Device struct {
	Serial   string   `json:"serial"`
	Model    string   `json:"model"`
	Software string   `json:"software"`
	Extra    []string `json:"extra,omitempty"`
}

// Machine is the identity block (ID1..ID5, CB1, AM1).
type Machine struct {
	Serial        string    `json:"serial"`         // ID101
	Model         string    `json:"model"`          // ID102
	BuildStandard string    `json:"build_standard"` // ID103
	Location      string    `json:"location"`       // ID104
	UserDefined   string    `json:"user_defined"`   // ID105
	Asset         string    `json:"asset"`          // ID106 asset number
	DTSLevel      string    `json:"dts_level"`      // ID107
	DTSRevision   string    `json:"dts_revision"`   // ID108
	Extra         []string  `json:"extra,omitempty"`
	Currency      *Currency `json:"currency,omitempty"` // ID4, nil when absent
	Clock         *Clock    `json:"clock,omitempty"`    // ID5, nil when absent
	ControlBoard  *Device   `json:"control_board,omitempty"`
	AuditModule   *Device   `json:"audit_module,omitempty"`
	// Other keeps ID2, ID3 and other ID* records, whose layout the
	// research notes do not document.
	Other []Segment `json:"other"`
}

// Currency is ID4.
type Currency struct {
	Decimals int      `json:"decimals"` // ID401 decimal point position
	Numeric  string   `json:"numeric"`  // ID402 ISO 4217 numeric (seen "1978" = EUR, "001" in old gear)
	Alpha    string   `json:"alpha"`    // ID403 e.g. "EUR"
	Extra    []string `json:"extra,omitempty"`
}

// Clock is ID5, the machine's date and time when the audit was taken.
type Clock struct {
	Date  string   `json:"date"` // YYMMDD or YYYYMMDD
	Time  string   `json:"time"` // HHMM or HHMMSS
	Extra []string `json:"extra,omitempty"`
}

// Totals is the value/count layout of VA1, VA2, VA3, CA2, DA2:
// 01 value since init, 02 count since init, 03 value since reset, 04 count
// since reset. Values are money in minor units.
type Totals struct {
	ValueInit  int64 `json:"value_init"`
	CountInit  int64 `json:"count_init"`
	ValueReset int64 `json:"value_reset"`
	CountReset int64 `json:"count_reset"`
}

// Meter is VA1 (paid vends), VA2 (test vends) or VA3 (free vends): 01-04
// totals, 05-08 discounted vends, 09-12 surcharged vends (same layout).
type Meter struct {
	Totals
	Discounts  *Totals  `json:"discounts,omitempty"`
	Surcharges *Totals  `json:"surcharges,omitempty"`
	Extra      []string `json:"extra,omitempty"`
}

// Meters are the machine totals.
type Meters struct {
	Paid *Meter `json:"paid,omitempty"` // VA1
	Test *Meter `json:"test,omitempty"` // VA2
	Free *Meter `json:"free,omitempty"` // VA3
}

// ResetInit is a pair of "since reset" (01) and "since init" (02) values, the
// layout of CA8 (overpay), CA9 (exact-change vends) and EA7 (power outages).
type ResetInit struct {
	Reset int64 `json:"reset"`
	Init  int64 `json:"init"`
}

// CashIn is CA3 (money accepted), all money in minor units.
type CashIn struct {
	InReset              int64 `json:"in_reset"`                // 01
	ToBoxReset           int64 `json:"to_box_reset"`            // 02
	ToTubesReset         int64 `json:"to_tubes_reset"`          // 03
	BillsReset           int64 `json:"bills_reset"`             // 04 (N0 whole units in old North American gear)
	InInit               int64 `json:"in_init"`                 // 05
	ToBoxInit            int64 `json:"to_box_init"`             // 06
	ToTubesInit          int64 `json:"to_tubes_init"`           // 07
	BillsInit            int64 `json:"bills_init"`              // 08
	BillsResetNc         int64 `json:"bills_reset_nc"`          // 09 unambiguous Nc form (DTS 6.0)
	BillsInitNc          int64 `json:"bills_init_nc"`           // 10
	BillsToRecyclerReset int64 `json:"bills_to_recycler_reset"` // 11
	BillsToRecyclerInit  int64 `json:"bills_to_recycler_init"`  // 12
}

// CashOut is CA4 (money paid out).
type CashOut struct {
	DispensedReset int64    `json:"dispensed_reset"` // 01
	ManualReset    int64    `json:"manual_reset"`    // 02 manually dispensed
	DispensedInit  int64    `json:"dispensed_init"`  // 03
	ManualInit     int64    `json:"manual_init"`     // 04
	Extra          []string `json:"extra,omitempty"` // 05-10 bills dispensed / recycler
}

// CashFilled is CA10.
type CashFilled struct {
	Reset      int64 `json:"reset"`       // 01
	Init       int64 `json:"init"`        // 02
	BillsReset int64 `json:"bills_reset"` // 03
	BillsInit  int64 `json:"bills_init"`  // 04
}

// CoinTube is CA17.
type CoinTube struct {
	CoinType  string   `json:"coin_type"` // 01
	Value     int64    `json:"value"`     // 02 coin value
	InTube    int64    `json:"in_tube"`   // 03 coins in tube
	Inserted  int64    `json:"inserted"`  // 04
	Dispensed int64    `json:"dispensed"` // 05
	Full      string   `json:"full"`      // 06 tube full flag
	Extra     []string `json:"extra,omitempty"`
}

// Cash is the coin and bill section (CA*, BA1).
type Cash struct {
	CoinMech      *Device     `json:"coin_mech,omitempty"`      // CA1
	BillValidator *Device     `json:"bill_validator,omitempty"` // BA1
	Sales         *Totals     `json:"sales,omitempty"`          // CA2
	In            *CashIn     `json:"in,omitempty"`             // CA3
	Out           *CashOut    `json:"out,omitempty"`            // CA4
	Overpay       *ResetInit  `json:"overpay,omitempty"`        // CA8
	ExactChange   *ResetInit  `json:"exact_change,omitempty"`   // CA9
	Filled        *CashFilled `json:"filled,omitempty"`         // CA10
	Tubes         []CoinTube  `json:"tubes"`                    // CA17
	// Other keeps CA5-CA7, CA11-CA16, CA18+ and BA2+ raw.
	Other []Segment `json:"other"`
}

// Cashless is one cashless device section: DA* (device 1) or DB* (device 2).
type Cashless struct {
	Prefix string  `json:"prefix"` // "DA" or "DB"
	Device *Device `json:"device,omitempty"`
	Sales  *Totals `json:"sales,omitempty"` // DA2
	// Other keeps DA3-DA10 raw (revalue, discounts, user groups, mixed
	// payment: positions not documented in the research notes).
	Other []Segment `json:"other"`
}

// VendCount is the count/value layout of PA2, PA3 and PA4 (note: count
// first, unlike VA1): 01 count since init, 02 value since init, 03 count
// since reset, 04 value since reset.
type VendCount struct {
	CountInit  int64 `json:"count_init"`
	ValueInit  int64 `json:"value_init"`
	CountReset int64 `json:"count_reset"`
	ValueReset int64 `json:"value_reset"`
}

// PaidVends is PA2: 01-04 paid vends, 05-08 discounts, 09-12 surcharges.
type PaidVends struct {
	VendCount
	Discounts  *VendCount `json:"discounts,omitempty"`
	Surcharges *VendCount `json:"surcharges,omitempty"`
	Extra      []string   `json:"extra,omitempty"`
}

// FreeVends is PA4: 01-04 free vends, 05/06 free vends without cup.
type FreeVends struct {
	VendCount
	NoCupInit  int64    `json:"no_cup_init"`
	NoCupReset int64    `json:"no_cup_reset"`
	Extra      []string `json:"extra,omitempty"`
}

// SoldOut is PA5.
type SoldOut struct {
	Date string `json:"date"` // 01 date sold out (some machines: date of last sale)
	Time string `json:"time"` // 02
	// Selections is 03, how often the product was chosen while sold out.
	Selections int64    `json:"selections"`
	Extra      []string `json:"extra,omitempty"`
}

// DeviceVends is PA7 (DTS 6.1+): sales of one product per payment device and
// price list.
type DeviceVends struct {
	Product    string   `json:"product"`     // 01
	Device     string   `json:"device"`      // 02 CA cash, DA cashless 1, DB cashless 2, TA token …
	PriceList  string   `json:"price_list"`  // 03
	Price      int64    `json:"price"`       // 04 applied price
	CountInit  int64    `json:"count_init"`  // 05
	ValueInit  int64    `json:"value_init"`  // 06
	CountReset int64    `json:"count_reset"` // 07
	ValueReset int64    `json:"value_reset"` // 08
	Extra      []string `json:"extra,omitempty"`
}

// Product is a PA1 record with the PA2..PA8 (and product events) that follow it.
type Product struct {
	ID                string   `json:"id"`                 // PA101 selection
	Price             int64    `json:"price"`              // PA102
	Name              string   `json:"name"`               // PA103 product identification
	Capacity          int64    `json:"capacity"`           // PA104
	StandardFill      int64    `json:"standard_fill"`      // PA105
	StandardDispensed int64    `json:"standard_dispensed"` // PA106
	Status            string   `json:"status"`             // PA107: ""/0 present, 1 not present
	Level             int64    `json:"level"`              // PA108 current level
	MinLevel          int64    `json:"min_level"`          // PA109
	Extra             []string `json:"extra,omitempty"`

	Paid     *PaidVends    `json:"paid,omitempty"`      // PA2
	Test     *VendCount    `json:"test,omitempty"`      // PA3
	Free     *FreeVends    `json:"free,omitempty"`      // PA4
	SoldOut  *SoldOut      `json:"sold_out,omitempty"`  // PA5
	ByDevice []DeviceVends `json:"by_device,omitempty"` // PA7
	// Other keeps PA6, PA8 and other records of the product group raw.
	Other []Segment `json:"other,omitempty"`
	// Loop is the LS/LE loop identifier enclosing the PA1, "" if none.
	Loop string `json:"loop,omitempty"`
}

// TimedEvent is EA1.
type TimedEvent struct {
	Code string `json:"code"` // 01 event id, e.g. EGS door open
	Date string `json:"date"` // 02
	Time string `json:"time"` // 03
	// Duration is EA104 as a raw number: minutes in EVA-DTS 6.2 Appendix A,
	// though some parsers read seconds; the unit is the machine's.
	Duration int64    `json:"duration"`
	Extra    []string `json:"extra,omitempty"`
	Product  string   `json:"product,omitempty"` // set when it follows a PA1 group
	Loop     string   `json:"loop,omitempty"`
}

// EventCounter is EA2.
type EventCounter struct {
	Code       string   `json:"code"`        // 01 event id
	CountReset int64    `json:"count_reset"` // 02
	CountInit  int64    `json:"count_init"`  // 03
	Text       string   `json:"text"`        // 04 user-defined
	Active     string   `json:"active"`      // 05 "1" currently active, "0" not
	Duration   int64    `json:"duration"`    // 06
	Extra      []string `json:"extra,omitempty"`
	Product    string   `json:"product,omitempty"`
	Loop       string   `json:"loop,omitempty"`
}

// ReadInfo is EA3, the audit read counters.
type ReadInfo struct {
	ReadsWithReset int64    `json:"reads_with_reset"` // 01 since init
	Date           string   `json:"date"`             // 02 this read
	Time           string   `json:"time"`             // 03
	Terminal       string   `json:"terminal"`         // 04
	LastDate       string   `json:"last_date"`        // 05 previous read
	LastTime       string   `json:"last_time"`        // 06
	LastTerminal   string   `json:"last_terminal"`    // 07
	Field08        string   `json:"field_08"`         // 08
	ReadsTotal     int64    `json:"reads_total"`      // 09 reads with or without reset since init
	Resets         int64    `json:"resets"`           // 10 resets since init
	Extra          []string `json:"extra,omitempty"`
}

// DateTime is the layout of EA4 (last initialisation), EA5 (last price
// setting) and EA6 (last service): 01 date, 02 time.
type DateTime struct {
	Date  string   `json:"date"`
	Time  string   `json:"time"`
	Extra []string `json:"extra,omitempty"`
}

// Events are the EA records.
type Events struct {
	Timed        []TimedEvent   `json:"timed"`                   // EA1
	Counters     []EventCounter `json:"counters"`                // EA2
	Reads        *ReadInfo      `json:"reads,omitempty"`         // EA3
	Initialised  *DateTime      `json:"initialised,omitempty"`   // EA4
	PriceSet     *DateTime      `json:"price_set,omitempty"`     // EA5
	Serviced     *DateTime      `json:"serviced,omitempty"`      // EA6
	PowerOutages *ResetInit     `json:"power_outages,omitempty"` // EA7
	Other        []Segment      `json:"other"`                   // EA8+, vendor EA records
}

// MA5 is a manufacturer-specific record: 01 block id, then values.
type MA5 struct {
	Block  string   `json:"block"`
	Values []string `json:"values"`
	Loop   string   `json:"loop,omitempty"`
}

// Trailer is G85, SE and DXE as stated in the input. Validate compares
// them with what was received.
type Trailer struct {
	CheckValue   string   `json:"check_value"`   // G8501, "" when absent
	SegmentCount string   `json:"segment_count"` // SE01, "" when absent
	SetControl   string   `json:"set_control"`   // SE02
	DXE          []string `json:"dxe"`           // DXE elements, nil when absent
}
