package sqlite

import (
	"testing"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/storetest"
)

func TestContractMachineList(t *testing.T) {
	storetest.MachineListTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}
