package evadts

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// CheckOutcome is the result of comparing the G85 check value.
type CheckOutcome string

// G85 outcomes.
const (
	// CheckOK: G85 equals the CRC-16/ARC over the span as the spec defines it
	// (line ends counted as CRLF; see Deviations for LF storage or case).
	CheckOK CheckOutcome = "ok"
	// CheckDeviation: G85 matches only a known non-standard computation,
	// named in Deviations (without the last CRLF, byte-swapped). Valid.
	CheckDeviation CheckOutcome = "deviation"
	// CheckMismatch: G85 is present and wrong (or not 4 hex digits).
	CheckMismatch CheckOutcome = "mismatch"
	// CheckMissing: the audit has no G85. Valid unless also truncated.
	CheckMissing CheckOutcome = "missing"
)

// CountOutcome is the result of comparing SE01 with the segments received.
type CountOutcome string

// SE outcomes.
const (
	CountOK       CountOutcome = "ok"       // SE01 = segments from ST to SE inclusive
	CountMismatch CountOutcome = "mismatch" // SE01 differs (see Deviations for LS/LE)
	CountMissing  CountOutcome = "missing"  // no SE, or SE01 not a number
)

// Deviation names a real-world departure from the spec that is reported
// rather than treated as a failure (research/dex.md §3.9).
type Deviation string

// Known deviations.
const (
	// DevLFLineEnds: the text was stored with LF line ends; the check was
	// computed with CRLF as on the wire.
	DevLFLineEnds Deviation = "lf_line_ends"
	// DevLowercaseHex: G85 written in lowercase hex digits.
	DevLowercaseHex Deviation = "lowercase_hex"
	// DevWithoutLastCRLF: G85 computed without the CRLF that ends the
	// record before G85 (seen on N&W Kikko IFE firmware 6.00).
	DevWithoutLastCRLF Deviation = "without_last_crlf"
	// DevByteSwapped: G85 sent least significant byte first, which
	// EVA-DTS 6.2 §2.4.3 says early (pre-6.0) implementations do.
	DevByteSwapped Deviation = "byte_swapped"
	// DevMissingCheck: no G85 at all.
	DevMissingCheck Deviation = "missing_check"
	// DevMissingDXE: the audit has its SE but the DXE envelope is missing.
	DevMissingDXE Deviation = "missing_dxe"
	// DevSECountExcludesLoops: SE01 matches the count without LS/LE records.
	DevSECountExcludesLoops Deviation = "se_count_excludes_loops"
)

// Validation is the outcome of Report.Validate.
type Validation struct {
	Check    CheckOutcome `json:"check"`
	Stated   string       `json:"stated"`   // G8501 as received
	Computed string       `json:"computed"` // CRC-16/ARC of the span, 4 uppercase hex digits

	Count         CountOutcome `json:"count"`
	StatedCount   int          `json:"stated_count"`
	ReceivedCount int          `json:"received_count"` // segments from ST to SE inclusive

	Deviations []Deviation `json:"deviations"`
	Truncated  bool        `json:"truncated"`
}

// Valid reports whether the audit can be trusted: it is not cut short and no
// check value is present and wrong. Missing G85 and named deviations are
// valid; an SE count mismatch alone does not make an audit invalid (it is
// wrong in many real files).
func (v Validation) Valid() bool {
	return !v.Truncated && v.Check != CheckMismatch
}

// String gives a one-line summary, e.g. "G85 E8BC ok; SE 54/58 mismatch".
func (v Validation) String() string {
	var b strings.Builder
	switch v.Check {
	case CheckMissing:
		b.WriteString("G85 missing")
	default:
		fmt.Fprintf(&b, "G85 %s %s (computed %s)", v.Stated, v.Check, v.Computed)
	}
	switch v.Count {
	case CountMissing:
		b.WriteString("; SE missing")
	default:
		fmt.Fprintf(&b, "; SE %d/%d %s", v.StatedCount, v.ReceivedCount, v.Count)
	}
	if len(v.Deviations) > 0 {
		b.WriteString("; deviations:")
		for _, d := range v.Deviations {
			b.WriteString(" " + string(d))
		}
	}
	if v.Truncated {
		b.WriteString("; TRUNCATED")
	}
	return b.String()
}

// Validate checks G85 and SE. A report built in code (not parsed) is
// validated as Encode would write it.
func (r *Report) Validate() Validation {
	st := r.st
	if !st.parsed {
		var buf bytes.Buffer
		if err := Encode(&buf, r); err == nil {
			if rs, err := ParseBytes(buf.Bytes()); err == nil && len(rs) == 1 && rs[0].st.parsed {
				return rs[0].Validate()
			}
		}
	}
	return st.validate(r.Truncated, r.Trailer.CheckValue, r.Trailer.SegmentCount)
}

// validate compares the state gathered while reading an audit with its
// stated G85 (checkValue) and SE01 (segCount). Report.Validate and
// Audit.Validate (view.go) share it.
func (st *parseState) validate(truncated bool, checkValue, segCount string) Validation {
	v := Validation{Truncated: truncated, Computed: hex4(st.crc), Stated: checkValue}
	if !st.g85Seen {
		v.Check = CheckMissing
		v.Computed = ""
		v.Deviations = append(v.Deviations, DevMissingCheck)
	} else {
		v.Check = CheckMismatch
		stated, err := strconv.ParseUint(v.Stated, 16, 16)
		if err == nil && len(v.Stated) == 4 {
			s := uint16(stated)
			switch s {
			case st.crc:
				v.Check = CheckOK
			case st.crc>>8 | st.crc<<8:
				v.Check = CheckDeviation
				v.Deviations = append(v.Deviations, DevByteSwapped)
			case st.crcNoLast:
				v.Check = CheckDeviation
				v.Deviations = append(v.Deviations, DevWithoutLastCRLF)
			}
			if v.Check != CheckMismatch {
				if st.lfSeen {
					v.Deviations = append(v.Deviations, DevLFLineEnds)
				}
				if strings.ToUpper(v.Stated) != v.Stated {
					v.Deviations = append(v.Deviations, DevLowercaseHex)
				}
			}
		}
	}
	v.ReceivedCount = st.counted
	n, err := strconv.Atoi(strings.TrimSpace(segCount))
	switch {
	case !st.seSeen || err != nil:
		v.Count = CountMissing
	case n == st.counted:
		v.Count, v.StatedCount = CountOK, n
	default:
		v.Count, v.StatedCount = CountMismatch, n
		if n == st.counted-st.loopCounted {
			v.Deviations = append(v.Deviations, DevSECountExcludesLoops)
		}
	}
	if st.missingDXE {
		v.Deviations = append(v.Deviations, DevMissingDXE)
	}
	return v
}

// hex4 formats a check value as four uppercase hex digits (as
// fmt.Sprintf("%04X"), which costs more than a View's whole validation).
func hex4(x uint16) string {
	const digits = "0123456789ABCDEF"
	b := [4]byte{digits[x>>12], digits[x>>8&15], digits[x>>4&15], digits[x&15]}
	return string(b[:])
}
