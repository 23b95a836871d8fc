// Package testutil starts the real components fleetgate's tests talk to — embedded etcd
// servers, Git repositories and Git servers on loopback — so that every package's tests use
// the same helpers rather than re-writing them.
package testutil
