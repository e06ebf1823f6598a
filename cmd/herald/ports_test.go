package main_test

import (
	"net"
	"strconv"
	"testing"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago, for a
// child process that cannot be given a listener or report its own port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeAddr is freePort's port as host:port on 127.0.0.1.
func freeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}
