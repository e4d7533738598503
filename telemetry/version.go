package telemetry

import (
	"runtime"
	"runtime/debug"
)

// Build says which build of the program runs: service.version, the
// smsbulk_shim_build_info gauge, -version and the start-up line all take it
// from here.
type Build struct {
	// Version is the release version (v1.2.3), the module version of a
	// `go install`ed binary, "devel+<revision>[-dirty]" for a development
	// build with VCS information, or "(devel)".
	Version string
	// Revision is the VCS commit the binary was built from, or "unknown".
	Revision string
	// GoVersion is the Go release that built it.
	GoVersion string
}

// ReadBuild describes this binary. version and revision are what the
// release build linked in with -ldflags -X (empty when it did not); they win
// over what debug.ReadBuildInfo says, because -trimpath builds from a
// source archive carry no VCS information.
func ReadBuild(version, revision string) Build {
	b := Build{Version: version, Revision: revision, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	var modified bool
	if ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Revision == "" {
					b.Revision = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	if b.Version != "" {
		return b
	}
	switch {
	case ok && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		b.Version = bi.Main.Version
	case b.Revision != "unknown":
		b.Version = "devel+" + b.Revision[:min(12, len(b.Revision))]
		if modified {
			b.Version += "-dirty"
		}
	default:
		b.Version = "(devel)"
	}
	return b
}
