package snapshot

import (
	"fmt"
	"strconv"
	"strings"
)

// Release is an Apache APISIX release line, such as 3.18. Patch releases of a line share
// its plugin list and schemas, so fleetgate validates against lines, not patch versions.
type Release struct {
	Major, Minor int
}

// String returns "3.18".
func (r Release) String() string { return strconv.Itoa(r.Major) + "." + strconv.Itoa(r.Minor) }

// IsZero reports whether r is the zero Release ("not set").
func (r Release) IsZero() bool { return r == Release{} }

// Before reports whether r is an earlier line than o.
func (r Release) Before(o Release) bool {
	return r.Major < o.Major || r.Major == o.Major && r.Minor < o.Minor
}

// AtLeast reports whether r is o or a later line.
func (r Release) AtLeast(o Release) bool { return !r.Before(o) }

// rel is Release{3, minor}, for tables.
func rel(minor int) Release { return Release{3, minor} }

// OldestRelease and LatestRelease bound the APISIX lines fleetgate validates against;
// LatestRelease is the default.
var (
	OldestRelease = rel(8)
	LatestRelease = rel(18)
)

// SupportedReleases lists the supported APISIX lines, oldest first.
func SupportedReleases() []Release {
	var out []Release
	for m := OldestRelease.Minor; m <= LatestRelease.Minor; m++ {
		out = append(out, rel(m))
	}
	return out
}

// ParseRelease reads "3.18", "3.18.0" or "v3.18.1" and checks that fleetgate supports that
// line. The empty string is LatestRelease.
func ParseRelease(s string) (Release, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if s == "" {
		return LatestRelease, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Release{}, fmt.Errorf("APISIX version %q: want MAJOR.MINOR such as %s", s, LatestRelease)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Release{}, fmt.Errorf("APISIX version %q: %q is not a number; want MAJOR.MINOR such as %s", s, p, LatestRelease)
		}
		n[i] = v
	}
	r := Release{n[0], n[1]}
	if r.Before(OldestRelease) || LatestRelease.Before(r) {
		return Release{}, fmt.Errorf("APISIX version %s is not supported: fleetgate validates against APISIX %s to %s", r, OldestRelease, LatestRelease)
	}
	return r, nil
}

// pluginSpan says which lines bundle a plugin: from since (zero: every supported line) to
// the line before until (zero: still bundled).
type pluginSpan struct {
	since, until Release
}

// pluginInRelease reports whether release r bundles the plugin. When it does not but
// another supported line does, why says which (it is empty for a name no line knows).
func pluginInRelease(name string, stream bool, r Release) (ok bool, why string) {
	names, key := bundled, name
	if stream {
		names, key = bundledStream, "stream/"+name
	}
	span, known := pluginHistory[key]
	if !known {
		return names[name], ""
	}
	kind := "plugin"
	if stream {
		kind = "stream plugin"
	}
	switch {
	case !span.since.IsZero() && r.Before(span.since):
		return false, fmt.Sprintf("%s %q is not in APISIX %s: it first shipped in APISIX %s (set apisix_version for the group, or --apisix-version)", kind, name, r, span.since)
	case !span.until.IsZero() && !r.Before(span.until):
		return false, fmt.Sprintf("%s %q is not in APISIX %s: it was removed in APISIX %s", kind, name, r, span.until)
	}
	return true, ""
}
