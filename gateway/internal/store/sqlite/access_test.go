package sqlite

import (
	"testing"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

func TestContractAccess(t *testing.T) {
	storetest.AccessTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}
