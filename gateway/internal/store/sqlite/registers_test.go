package sqlite

import (
	"testing"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

func TestRegistersContract(t *testing.T) {
	storetest.RegistersTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}
