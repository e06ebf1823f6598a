package app

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// A port in use names the flag and its environment variable.
func TestListenInUseNamesTheFlag(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	addr := taken.Addr().String()

	tests := []struct {
		flag string
		open func() error
		want string
	}{
		{"--http-addr", func() error { _, err := listen("--http-addr", addr); return err },
			"--http-addr " + addr + ": address already in use; another process listens there (a second herald?): stop it or choose another address with --http-addr (HERALD_HTTP_ADDR)"},
		{"--grpc-addr", func() error { _, err := listen("--grpc-addr", addr); return err },
			"--grpc-addr " + addr + ": address already in use; another process listens there (a second herald?): stop it or choose another address with --grpc-addr (HERALD_GRPC_ADDR)"},
		{"--pprof-addr", func() error { _, _, err := pprofServer(addr); return err },
			"--pprof-addr " + addr + ": address already in use; another process listens there (a second herald?): stop it or choose another address with --pprof-addr (HERALD_PPROF_ADDR)"},
		{"--kafka-embedded-addr", func() error {
			c, _, err := startEmbeddedKafka(addr, "t")
			if c != nil {
				c.Close()
			}
			return err
		}, "--kafka-embedded-addr " + addr + ": address already in use; another process listens there (a second herald?): stop it or choose another address with --kafka-embedded-addr (HERALD_KAFKA_EMBEDDED_ADDR)"},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			t.Parallel()
			err := tt.open()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v\nwant %s", err, tt.want)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("errors.Is(%v, EADDRINUSE) = false", err)
			}
		})
	}
}

func TestListenErrorOtherCauses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{syscall.EACCES, "--http-addr :80: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE: choose a port of 1024 or more with --http-addr (HERALD_HTTP_ADDR)"},
		{syscall.EADDRNOTAVAIL, "--http-addr :80: no network interface of this host has that address: choose another with --http-addr (HERALD_HTTP_ADDR)"},
		{errors.New("boom"), "--http-addr :80: listen tcp: boom; choose another address with --http-addr (HERALD_HTTP_ADDR)"},
	}
	for _, tt := range tests {
		err := listenError("--http-addr", ":80", &net.OpError{Op: "listen", Net: "tcp", Err: tt.err})
		if err.Error() != tt.want {
			t.Errorf("listenError(%v) = %q\nwant %q", tt.err, err, tt.want)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("listenError(%v) lost its cause", tt.err)
		}
	}
}
