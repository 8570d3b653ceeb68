package sqlite

import (
	"syscall"
	"unsafe"
)

// In tests the writer's busy time is the CPU time of its thread (pinned to
// it), so that benchmarks measure the writer's work rather than the
// machine's load.
func init() {
	lockWriterThread = true
	writerClock = func() int64 {
		var ts syscall.Timespec
		const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
		syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
		return ts.Nano()
	}
}
