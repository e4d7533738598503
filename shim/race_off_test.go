//go:build !race

package shim_test

// raceEnabled is true under the race detector, which makes the largest
// tests too slow to run in full.
const raceEnabled = false
