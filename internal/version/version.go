// Package version describes the running binary from the build information
// the Go toolchain embeds (module version, VCS revision, time and state), so
// that `herald --version` and `heraldctl --version` need no -ldflags.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// shortRevision is as many hex digits of a commit as Go's pseudo-versions
// carry: enough to be unique in any real repository.
const shortRevision = 12

// String is one line naming program, its version and how it was built, e.g.
// "herald v1.4.0 (commit 0123456789ab, 2026-12-03T10:15:00Z, modified) go1.26.8 linux/amd64".
func String(program string) string {
	info, _ := debug.ReadBuildInfo() // nil without build information
	return format(program, info, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
}

// format builds String's line from info, which may be nil when the binary
// carries no build information.
func format(program string, info *debug.BuildInfo, goVersion, platform string) string {
	version := "(devel)"
	var vcs []string
	if info != nil {
		if v := info.Main.Version; v != "" {
			version = v
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		settings := make(map[string]string, len(info.Settings))
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			vcs = append(vcs, "commit "+rev[:min(len(rev), shortRevision)])
		}
		if t := settings["vcs.time"]; t != "" {
			vcs = append(vcs, t)
		}
		if settings["vcs.modified"] == "true" {
			vcs = append(vcs, "modified")
		}
	}
	var b strings.Builder
	b.WriteString(program + " " + version)
	if len(vcs) > 0 {
		b.WriteString(" (" + strings.Join(vcs, ", ") + ")")
	}
	b.WriteString(" " + goVersion + " " + platform)
	return b.String()
}
