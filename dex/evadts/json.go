package evadts

import "encoding/json"

// jsonReport adds the validation outcome to the report's own fields.
type jsonReport struct {
	*Report
	Validation Validation `json:"validation"`
}

// JSON renders r for the REST API: indented, snake_case field names that
// are part of the API (changing one is a breaking change), money as integers
// in minor units (see Machine.Currency.Decimals), empty lists as [] rather
// than null, and a "validation" object with the G85/SE outcome.
//
// Strings are the bytes from the audit; bytes that are not valid UTF-8
// (e.g. Windows-1251 product names) are replaced by U+FFFD by encoding/json,
// so convert such audits first (internal/cp1251).
func JSON(r *Report) ([]byte, error) {
	c := *r
	if c.Cashless == nil {
		c.Cashless = []Cashless{}
	}
	if c.Products == nil {
		c.Products = []Product{}
	}
	if c.Config == nil {
		c.Config = []MA5{}
	}
	if c.Unknown == nil {
		c.Unknown = []Segment{}
	}
	if c.Issues == nil {
		c.Issues = []*ParseError{}
	}
	if c.Machine.Other == nil {
		c.Machine.Other = []Segment{}
	}
	if c.Cash.Tubes == nil {
		c.Cash.Tubes = []CoinTube{}
	}
	if c.Cash.Other == nil {
		c.Cash.Other = []Segment{}
	}
	if c.Events.Timed == nil {
		c.Events.Timed = []TimedEvent{}
	}
	if c.Events.Counters == nil {
		c.Events.Counters = []EventCounter{}
	}
	if c.Events.Other == nil {
		c.Events.Other = []Segment{}
	}
	for i := range c.Cashless {
		if c.Cashless[i].Other == nil {
			c.Cashless = append([]Cashless(nil), c.Cashless...)
			c.Cashless[i].Other = []Segment{}
		}
	}
	v := r.Validate()
	if v.Deviations == nil {
		v.Deviations = []Deviation{}
	}
	return json.MarshalIndent(jsonReport{Report: &c, Validation: v}, "", "  ")
}
