package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	t.Parallel()
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "herald (devel) go1.0 os/arch"},
		{
			"release",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
				Settings: vcs("vcs", "git", "vcs.revision", "0123456789abcdef0123456789abcdef01234567", "vcs.time", "2026-12-03T10:15:00Z", "vcs.modified", "false")},
			"herald v1.4.0 (commit 0123456789ab, 2026-12-03T10:15:00Z) go1.26.8 os/arch",
		},
		{
			"modified checkout",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261203101500-0123456789ab+dirty"},
				Settings: vcs("vcs.revision", "0123456789abcdef", "vcs.time", "2026-12-03T10:15:00Z", "vcs.modified", "true")},
			"herald v0.0.0-20261203101500-0123456789ab+dirty (commit 0123456789ab, 2026-12-03T10:15:00Z, modified) go1.26.8 os/arch",
		},
		{
			"built outside a checkout",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"herald (devel) go1.26.8 os/arch",
		},
		{"short revision kept whole", &debug.BuildInfo{Settings: vcs("vcs.revision", "abc")}, "herald (devel) (commit abc) go1.0 os/arch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := format("herald", tt.info, "go1.0", "os/arch"); got != tt.want {
				t.Errorf("format() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestStringNamesProgramAndGo(t *testing.T) {
	t.Parallel()
	got := String("heraldctl")
	if !strings.HasPrefix(got, "heraldctl ") || !strings.Contains(got, " go1.") {
		t.Errorf("String() = %q, want the program name and the Go version", got)
	}
}
