package redistest

import "syscall"

// sysProcAttr has the kernel kill a server when the test binary dies, as
// it does when `go test -timeout` fires, before any Cleanup runs. The
// kernel sends the signal when the thread that started the server ends;
// Go ends a thread only when a goroutine exits while locked to it
// (runtime.LockOSThread), which nothing in these tests does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
