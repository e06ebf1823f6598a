package main

import "testing"

func TestVersionRequested(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"--version=true"}, true},
		{[]string{"--version=false"}, false},
		{[]string{"--dev", "--heartbeat", "soon", "--version"}, true},
		{[]string{"--data-dir", "./data"}, false},
		{[]string{"--", "--version"}, false},
		{[]string{"--versions"}, false},
		{[]string{"--help"}, false},
	}
	for _, tt := range tests {
		if got := versionRequested(tt.args); got != tt.want {
			t.Errorf("versionRequested(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
