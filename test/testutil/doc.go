// Package testutil starts the real components fleetgate's tests talk to — embedded etcd
// servers, Git repositories and Git servers on loopback, and a stand-in for APISIX
// (GatewayStandIn) that answers from what a file sink wrote — so that every package's tests
// use the same helpers rather than re-writing them.
package testutil
