package sqlite

import (
	"testing"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

func TestContractReports(t *testing.T) {
	storetest.ReportsTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}
