package fiscal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Payment types of a receipt (spec "input.payments.*.type").
const (
	PayCash       = 1 // сумма по чеку наличными
	PayElectronic = 2 // сумма по чеку электронными
)

// VAT rates of a position (spec "input.positions.*.vat").
const (
	VAT20    = 1 // ставка НДС 20%
	VAT10    = 2 // ставка НДС 10%
	VAT0     = 3 // ставка НДС 0%
	VATNone  = 4 // НДС не облагается
	VAT20120 = 5 // расчётная ставка 20/120
	VAT10110 = 6 // расчётная ставка 10/110
)

// Document types of the fiscal output (spec "output.document_type").
const (
	DocSale       = 1 // приход
	DocSaleReturn = 2 // возврат прихода
)

// Money is an amount in minor units (kopecks). In JSON it is a number of
// roubles, exact: 4550 is 45.5, 4500 is 45, as the spec's receipts show.
type Money int64

// MarshalJSON writes m in roubles without rounding.
func (m Money) MarshalJSON() ([]byte, error) {
	return []byte(m.decimal(false)), nil
}

// UnmarshalJSON reads a number of roubles with at most two decimals.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) > 0 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := parseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// String is the amount with two decimals, the form of total_payment_amount.
func (m Money) String() string { return m.decimal(true) }

func (m Money) decimal(fixed bool) string {
	neg := m < 0
	v := int64(m)
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v/100, 10)
	c := v % 100
	switch {
	case fixed || c%10 != 0:
		s += fmt.Sprintf(".%02d", c)
	case c != 0:
		s += fmt.Sprintf(".%d", c/10)
	}
	if neg {
		s = "-" + s
	}
	return s
}

var errMoney = errors.New("fiscal: bad money amount")

func parseMoney(s string) (Money, error) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	whole, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			whole, frac = s[:i], s[i+1:]
			break
		}
	}
	if whole == "" || len(frac) > 2 || len(whole) > 15 {
		return 0, errMoney
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, errMoney
	}
	var f uint64
	if frac != "" {
		if f, err = strconv.ParseUint(frac, 10, 64); err != nil {
			return 0, errMoney
		}
		if len(frac) == 1 {
			f *= 10
		}
	}
	v := Money(w*100 + f)
	if neg {
		v = -v
	}
	return v, nil
}

// PaymentLine is one payment of a receipt.
type PaymentLine struct {
	Type   int   `json:"type"` // PayCash | PayElectronic
	Amount Money `json:"amount"`
}

// Position is one line of a receipt. VAT and name come from the planogram.
type Position struct {
	Qty   int    `json:"qty"`
	VAT   int    `json:"vat"`
	Name  string `json:"name"`
	Price Money  `json:"price"`
}

// Receipt is what is sent to the cloud register, the spec's "input".
type Receipt struct {
	Place     string        `json:"place"`    // place of settlement (machine location)
	Digest    string        `json:"digest"`   // unique id of the receipt at the register
	Address   string        `json:"address"`  // address of settlement
	Payments  []PaymentLine `json:"payments"` //
	Terminal  string        `json:"terminal"` // machine serial number
	Positions []Position    `json:"positions"`
}

// Total is the sum of the payments.
func (r Receipt) Total() Money {
	var t Money
	for _, p := range r.Payments {
		t += p.Amount
	}
	return t
}

// Fiscal is what the register returns, the spec's "output".
type Fiscal struct {
	FP                 string `json:"fp"`        // fiscal sign of the document
	Date               string `json:"date"`      // YYYYMMDDTHHMMSS
	DeviceRN           string `json:"device_rn"` // register's registration number
	FSNumber           string `json:"fs_number"` // fiscal storage number
	DocumentType       int    `json:"document_type"`
	DocumentNumber     int64  `json:"document_number"`
	TotalPaymentAmount string `json:"total_payment_amount"` // "45.00"
}

// Provider submits receipts to a cloud register.
type Provider interface {
	// Submit registers r and returns its fiscal data. An error wrapping
	// ErrRejected is final (the register refused the receipt); any other error
	// is retried.
	Submit(ctx context.Context, r Receipt) (Fiscal, error)
}

// ErrRejected marks a Submit error that retrying cannot fix.
var ErrRejected = errors.New("fiscal: receipt rejected")

// Emulated is a Provider that fiscalises locally, for tests and demos: every
// receipt gets the next document number, a fiscal sign derived from the
// receipt, and fixed register identifiers. Fail, when set, is asked before
// each submission and its error returned instead.
type Emulated struct {
	DeviceRN string           // default "0000000000028583"
	FSNumber string           // default "9999078900006831"
	Now      func() time.Time // default time.Now
	Fail     func(r Receipt) error

	mu  sync.Mutex
	doc int64
}

// Submit fiscalises r.
func (e *Emulated) Submit(ctx context.Context, r Receipt) (Fiscal, error) {
	if err := ctx.Err(); err != nil {
		return Fiscal{}, err
	}
	if e.Fail != nil {
		if err := e.Fail(r); err != nil {
			return Fiscal{}, err
		}
	}
	if len(r.Positions) == 0 || len(r.Payments) == 0 {
		return Fiscal{}, fmt.Errorf("%w: no positions or payments", ErrRejected)
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	e.mu.Lock()
	e.doc++
	doc := e.doc
	e.mu.Unlock()
	rn, fs := e.DeviceRN, e.FSNumber
	if rn == "" {
		rn = "0000000000028583"
	}
	if fs == "" {
		fs = "9999078900006831"
	}
	// The fiscal sign is a 32-bit value printed in decimal (10 digits at most);
	// here a hash of the document so it is stable for a given receipt.
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d|%s", rn, fs, doc, r.Digest)))
	fp := uint32(h[0])<<24 | uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3])
	return Fiscal{
		FP: strconv.FormatUint(uint64(fp), 10), Date: now().Format("20060102T150405"),
		DeviceRN: rn, FSNumber: fs, DocumentType: DocSale, DocumentNumber: doc,
		TotalPaymentAmount: r.Total().String(),
	}, nil
}

// digest is the receipt's id at the register: 32 hex digits derived from the
// idempotency key, so a retried submission carries the same digest and the
// register can deduplicate it.
func digest(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:16])
}
