// Package version reports which advmatrix this is, for provenance in
// every results file.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release this tree builds.
const Version = "0.1.0-dev"

// String is the version plus the VCS revision the binary was built from,
// when the toolchain recorded one.
func String() string {
	s := Version
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, kv := range info.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			s += "+" + rev + dirty
		}
	}
	return s
}

// Go is the toolchain that built the binary.
func Go() string { return runtime.Version() }
