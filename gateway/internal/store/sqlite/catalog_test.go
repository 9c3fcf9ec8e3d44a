package sqlite

import (
	"testing"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

func TestCatalogContract(t *testing.T) {
	storetest.CatalogTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}
