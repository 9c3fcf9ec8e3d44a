//go:build race

package e2e

// loadModems is TestLoadFleet's fleet size. Under the race detector the SQLite
// driver (transpiled C) runs several times slower and 2,000 connects (each
// committing state and hello) took 25–60 s on the shared 2-core machine, so
// `make test` (which uses -race) runs a quarter of the fleet.
const loadModems = 500
