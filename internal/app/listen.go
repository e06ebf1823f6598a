package app

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/internal/config"
)

// listen opens a TCP listener on addr, which the flag (such as
// "--http-addr") configured, so that a failure can name the flag to change.
func listen(flag, addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, listenError(flag, addr, err)
	}
	return lis, nil
}

// listenError explains why addr could not be listened on and which flag or
// environment variable chooses another: "address already in use" alone
// leaves a newcomer to find out which of four ports is taken.
func listenError(flag, addr string, err error) error {
	where := fmt.Sprintf("%s (%s)", flag, config.EnvName(strings.TrimPrefix(flag, "--")))
	var msg string
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		msg = fmt.Sprintf("%s %s: address already in use; another process listens there (a second herald?): stop it or choose another address with %s", flag, addr, where)
	case errors.Is(err, syscall.EACCES):
		msg = fmt.Sprintf("%s %s: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE: choose a port of 1024 or more with %s", flag, addr, where)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		msg = fmt.Sprintf("%s %s: no network interface of this host has that address: choose another with %s", flag, addr, where)
	default:
		msg = fmt.Sprintf("%s %s: %v; choose another address with %s", flag, addr, err, where)
	}
	return &wrapped{msg: msg, err: err}
}

// wrapped is an error whose message replaces its cause's, which stays
// reachable with errors.Is and errors.As.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
