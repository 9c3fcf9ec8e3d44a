package sqlite

import (
	"testing"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

func TestContractPresence(t *testing.T) {
	storetest.RunPresence(t, func(t *testing.T) store.Store { return openTemp(t) })
}
