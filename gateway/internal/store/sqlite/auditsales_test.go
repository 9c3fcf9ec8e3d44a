package sqlite

import (
	"testing"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

func TestContractAuditSales(t *testing.T) {
	storetest.AuditSalesTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}
