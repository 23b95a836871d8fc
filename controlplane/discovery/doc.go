// Package discovery is the control plane's side of the discovery protocol
// (fleetgate.v1.ConfigDiscovery.StreamConfig, see DESIGN.md "The discovery protocol"): one
// bidirectional gRPC stream per agent that carries the config each node should run as
// ConfigUpdates (a delta when the control plane still holds the node's base snapshot, else the
// whole snapshot) and brings back the agent's Ack, Nack and Status messages.
//
// The package decides how a stream carries config, not what config a node gets: that comes
// from a Provider (the read half: desired snapshot per group and node, a change channel, delta
// bases), and what nodes say goes to a Reporter (the report half: connects, ACKs, NACKs,
// status, disconnects). controlplane/fleet implements both; the tests and the push benchmark
// use small in-memory ones. The package imports neither the store nor the fleet.
//
// Use:
//
//	o := discovery.Options{Logger: logger, NodeIdentity: fromClientCert}
//	gs := grpc.NewServer(append(discovery.ServerOptions(o), creds)...)
//	discovery.NewServer(provider, reporter, o).Register(gs)
//	err := gs.Serve(lis)
//
// The grpc.Server must be created with ServerOptions: its Codec sends each update's bytes,
// encoded once for all the streams that need it, without copying them per stream. A large full
// update goes to agents whose Hello accepts zstd with its upserts compressed, once per version
// for all of them (compress.go, docs/protocol.md "Compressed full updates"); deltas and old
// agents get plain upserts.
//
// Guarantees per stream: at most one update in flight; if the desired version moves
// meanwhile, only the newest is sent after the answer (coalescing, never a backlog); a NACKed
// digest is not sent again until the desired digest or the operator's retry count changes,
// and each refusal is logged once, at Warn, with the agent's error under "err"; a Nack that
// asks for a full update gets the whole snapshot. Large updates (full snapshots, deltas over
// 32 KiB) are bounded by Options.MaxConcurrentFull across all streams; each holds its slot
// until answered or for Options.SlotTimeout at most, is followed by an empty
// StreamConfigResponse (a delivery marker, ignored by agents), and ends the stream when the
// agent has not read it within Options.SendTimeout: clients that never read cannot keep real
// agents from their full updates.
package discovery
