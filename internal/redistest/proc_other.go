//go:build !linux

package redistest

import "syscall"

// sysProcAttr: outside Linux a server outlives a test binary that dies
// before its Cleanup runs.
func sysProcAttr() *syscall.SysProcAttr { return nil }
