//go:build !unix

package detecttest

import "time"

// ProcessCPU returns 0: CPU time is only read on Unix systems.
func ProcessCPU() time.Duration { return 0 }
