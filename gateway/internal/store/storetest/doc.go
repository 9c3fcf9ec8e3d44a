// Package storetest is the contract test suite of gateway/internal/store: every
// storage engine (sqlite now, PostgreSQL later) runs Run against a fresh database
// and must pass all of it. It sits beside the store contracts in the gateway's
// persistence layer and encodes the semantics of the doc comments in store.go
// (deduplication, presence epochs, the command state machine, request merging,
// machine binding, inclusive time ranges, error sentinels) as executable checks.
package storetest
