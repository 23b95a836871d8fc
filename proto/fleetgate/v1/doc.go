// Package fleetgatev1 is fleetgate's wire contract, generated from the .proto files beside
// it (run `make proto`; the generated code is committed): ConfigDiscovery, the stream between
// the control plane and each agent (discovery.proto), FleetAdmin, the operator API
// (admin.proto), and the snapshot, resource and status messages they share (snapshot.proto).
// The same messages are the values of the control plane's etcd store.
package fleetgatev1
