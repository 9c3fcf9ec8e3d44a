//go:build !race

package e2e

// loadModems is TestLoadFleet's fleet size without the race detector.
const loadModems = 2000
