package main

import (
	"io"
	"strings"
	"testing"
)

func TestBareNotifyFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    string // bare-notify, or "" for an error
		errPart string
	}{
		{[]string{"--calibrate"}, bareNotifyHTTP, ""},
		{[]string{"--calibrate", "--bare-notify", "grpc"}, bareNotifyGRPC, ""},
		{[]string{"--calibrate", "--bare-notify", "kafka"}, "", "must be http or grpc"},
		{[]string{"--herald-bin", "bin/herald", "--bare-notify", "grpc"}, "", "needs --calibrate"},
	} {
		cfg, err := parseFlags(tc.args, io.Discard)
		switch {
		case tc.want == "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)):
			t.Errorf("%q: error %v, want one saying %q", tc.args, err, tc.errPart)
		case tc.want != "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && cfg.BareNotify != tc.want:
			t.Errorf("%q: bare-notify %q, want %q", tc.args, cfg.BareNotify, tc.want)
		}
	}
}
