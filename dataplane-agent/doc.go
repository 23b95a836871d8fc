// Package agent is fleetgate's data-plane agent: it opens one stream to a control plane,
// applies every ConfigUpdate to its Sink, verifies that the result has exactly the update's
// digest, and answers each update once with an Ack or a Nack — except while its sink is
// unavailable (ErrUnavailable): it then holds the update unanswered, reports the sink
// unavailable in Status, retries at most every second, and Acks when the sink answers. It
// never deletes gateway config because the control plane went away.
//
// Agents in one process share the results of the updates they verified: an agent whose
// update is identical to one another agent of the process already merged and checked (same
// base, same target digest, same meta, same resource hashes and removals) takes that
// snapshot instead of merging and hashing again. The memo holds its snapshots through weak
// pointers and at most 64 entries, so it keeps nothing alive that an agent does not hold; a
// production process runs one agent and gains nothing from it, while the push benchmark (a
// thousand agents in one process) merges a one-route change a few times (agents that miss
// the memo at the same moment each merge) instead of a thousand times.
// Each agent still checks the hash of every resource it receives.
package agent
