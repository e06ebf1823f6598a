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

func TestHeraldNodesFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		errPart string // "" for none
	}{
		{[]string{"--herald-bin", "bin/herald"}, ""},
		{[]string{"--herald-bin", "bin/herald", "--herald-nodes", "3", "--herald-arg=--store=redis"}, ""},
		{[]string{"--herald-bin", "bin/herald", "--herald-nodes", "3"}, "--herald-arg=--store=redis"},
		{[]string{"--http-addr", "a:1", "--grpc-addr", "a:2", "--jwt-secret", "s", "--api-key", "k", "--herald-nodes", "2"}, "with --herald-bin"},
		{[]string{"--herald-bin", "bin/herald", "--herald-nodes", "0"}, "want 1"},
		{[]string{"--herald-bin", "bin/herald", "--compare-bin", "/tmp/herald-old"}, ""},
		{[]string{"--calibrate", "--compare-bin", "/tmp/herald-old"}, "--compare-bin needs --herald-bin"},
		{[]string{"--herald-bin", "bin/herald", "--calibrate", "--compare-bin", "/tmp/herald-old"}, "cannot go with --calibrate"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		switch {
		case tc.errPart == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)):
			t.Errorf("%q: error %v, want one saying %q", tc.args, err, tc.errPart)
		}
	}
}

func TestModeFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		errPart string // "" for none
	}{
		{[]string{"--calibrate", "--mode", "channel"}, ""},
		{[]string{"--herald-bin", "bin/herald", "--mode", "channel"}, ""},
		{[]string{"--calibrate", "--mode", "broadcast"}, "--mode must be"},
		{[]string{"--herald-bin", "bin/herald", "--mode", "channel", "--topic-offline", "10"}, "--topic-offline needs --mode topic"},
		{[]string{"--calibrate", "--mode", "storm"}, "does not support storm mode"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		switch {
		case tc.errPart == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)):
			t.Errorf("%q: error %v, want one saying %q", tc.args, err, tc.errPart)
		}
	}
}
