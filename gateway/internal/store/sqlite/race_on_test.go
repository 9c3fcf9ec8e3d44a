//go:build race

package sqlite

// raceEnabled tells tests the race detector slows the transpiled SQLite ~5x.
const raceEnabled = true
