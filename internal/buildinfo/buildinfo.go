// Package buildinfo tells which build of fleetgate is running: the module version when built
// with `go install …@vX`, else the VCS revision Go stamps into binaries built in a checkout.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is a build's identity.
type Info struct {
	// Version is the release ("v1.4.0"), the version set at link time, or "devel" for a
	// build from a checkout.
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from ("" when unknown).
	Revision string `json:"revision,omitempty"`
	// Time is the commit time of Revision (RFC 3339, "" when unknown).
	Time string `json:"time,omitempty"`
	// Modified is true when the checkout had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the Go toolchain that built it.
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Linked is the version set at link time (-ldflags "-X main.version=…"); the fleetgate
// command copies it here at start. "" or "dev": not set.
var Linked string

// Get returns the running binary's build info.
func Get() Info { return get(Linked) }

func get(linked string) Info {
	i := Info{Version: "devel", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			i.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.time":
				i.Time = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	if linked != "" && linked != "dev" {
		i.Version = linked
	}
	return i
}

// String is one line: "v1.4.0 (a1b2c3d4e5f6, 2026-12-04T21:00:00Z, modified) go1.26 linux/amd64".
func (i Info) String() string {
	var detail []string
	if i.Revision != "" {
		detail = append(detail, short(i.Revision))
	}
	if i.Time != "" {
		detail = append(detail, i.Time)
	}
	if i.Modified {
		detail = append(detail, "modified")
	}
	s := i.Version
	if len(detail) > 0 {
		s += " (" + strings.Join(detail, ", ") + ")"
	}
	return fmt.Sprintf("%s %s %s", s, i.GoVersion, i.Platform)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
