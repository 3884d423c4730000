// Package fuzzlimit bounds the time Go's fuzzing engine spends minimizing,
// for fuzz targets whose executions cost a tenth of a millisecond or more.
//
// Every input that widens coverage is minimized before fuzzing goes on: one
// execution per byte the engine tries to remove, up to quadratic in the
// input's length, with a default budget of a minute per input; the
// executions are not reported until it ends (golang/go#48820). With both
// workers minimizing, `go test -fuzz` shows 0 execs/s for the whole of a
// short run. Capping the input a target reads keeps inputs short; this
// bounds what is left.
package fuzzlimit

import (
	"flag"
	"testing"
)

// MinimizeTime is the minimization budget per input Minimize sets.
const MinimizeTime = "1s"

// flagName is the testing package's flag behind go test -fuzzminimizetime.
const flagName = "test.fuzzminimizetime"

// Minimize sets the minimization budget to MinimizeTime unless the command
// line set one (go test -fuzzminimizetime). Call it in a fuzz target, with
// its *testing.F, before f.Fuzz; it has no effect when the target runs its
// seeds as a test.
func Minimize(tb testing.TB) {
	tb.Helper()
	if flag.Lookup(flagName) == nil {
		return
	}
	set := false
	flag.Visit(func(fl *flag.Flag) { set = set || fl.Name == flagName })
	if set {
		return
	}
	if err := flag.Set(flagName, MinimizeTime); err != nil {
		tb.Fatalf("fuzzlimit: %v", err)
	}
}
