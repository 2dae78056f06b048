package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionString describes the binary from the build information the Go
// toolchain embeds: module version, VCS revision and time, and whether the
// working tree had uncommitted changes. No ldflags are needed.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dmzbridge (no build information)"
	}
	return formatVersion(bi)
}

func formatVersion(bi *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dmzbridge %s", version)
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "\n  revision  %s", rev)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, "\n  time      %s", t)
		}
		switch settings["vcs.modified"] {
		case "true":
			b.WriteString("\n  modified  yes (built from a tree with uncommitted changes)")
		case "false":
			b.WriteString("\n  modified  no")
		}
	} else {
		b.WriteString("\n  revision  unknown (built without VCS information, e.g. go run or -buildvcs=false)")
	}
	fmt.Fprintf(&b, "\n  go        %s", bi.GoVersion)
	return b.String()
}
