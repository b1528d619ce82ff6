//go:build race

package rt_test

// raceEnabled scales the load tests down under the race detector, which
// makes each call several times slower.
const raceEnabled = true
