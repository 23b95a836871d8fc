// Package deptest holds the dependency test: it fails when a package of fleetgate gains an
// import that DESIGN.md's "Layout and dependency rules" forbid (in the spirit of
// Tailscale's tstest/deptest), so the layering is enforced by a test, not by hope.
//
// Only non-test imports count (a package's tests may use test/testutil and anything else),
// and only the files of the current GOOS/GOARCH are seen.
//
// Run it with the other tests (make test) or alone: go test ./test/deptest. A failure reads
// "package X imports Y: forbidden because <rule>"; the rules table in deptest_test.go is
// DESIGN.md's layout table, so a change of the rules changes both.
package deptest
