package api

import (
	"context"
	"sync"
)

// maxModemCompanies bounds modemCompanyCache: far more modems than one
// install has (an entry is a few dozen bytes); past it the cache starts over.
const maxModemCompanies = 1 << 20

// modemCompanyCache remembers the company of each modem the API has read, so
// that the visibility check of a command for an admin or senior operator (the
// modem's company is theirs) costs no store read: it was one read of the
// whole modem row per GET /v2/commands/{id}, the largest share of that
// request's CPU.
//
// It needs no invalidation because a modem's company never changes and a
// modem is never deleted: store.Modems has no method that does either, and
// the sqlite store writes modems.company_id only in CreateModem (so a cached
// id never comes to name another modem either). Whoever adds such a method
// must drop the modem here (forget) or remove this cache. Operators do not
// use it: what they see also depends on the modem's machine and their
// groups, which do change, and is read every time as before.
type modemCompanyCache struct {
	max int // entries before starting over; 0: maxModemCompanies

	mu sync.RWMutex
	m  map[int64]int64 // modem id → company id
}

// get returns the company of the modem when it is known.
func (c *modemCompanyCache) get(modemID int64) (int64, bool) {
	c.mu.RLock()
	company, ok := c.m[modemID]
	c.mu.RUnlock()
	return company, ok
}

// put remembers the company of a modem just read from the store.
func (c *modemCompanyCache) put(modemID, companyID int64) {
	c.mu.RLock()
	had, ok := c.m[modemID]
	c.mu.RUnlock()
	if ok && had == companyID {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.max
	if limit <= 0 {
		limit = maxModemCompanies
	}
	if c.m == nil || len(c.m) >= limit {
		c.m = make(map[int64]int64)
	}
	c.m[modemID] = companyID
}

// modemCompanyLister is a store that lists every modem's company at once
// (the sqlite store's ModemCompanies).
type modemCompanyLister interface {
	ModemCompanies(ctx context.Context, fn func(modemID, companyID int64)) error
}

// fill remembers every modem's company from one read, so that the first
// command to each modem after a start needs no read either. Past the bound
// the cache keeps the first ones listed.
func (c *modemCompanyCache) fill(ctx context.Context, l modemCompanyLister) error {
	m := make(map[int64]int64)
	limit := c.max
	if limit <= 0 {
		limit = maxModemCompanies
	}
	err := l.ModemCompanies(ctx, func(modemID, companyID int64) {
		if len(m) < limit {
			m[modemID] = companyID
		}
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, company := range c.m {
		if len(m) < limit {
			m[id] = company
		}
	}
	c.m = m
	return nil
}
