//go:build linux

package azurelog

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used (user + system), a
// steadier measure than wall time on a shared machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
