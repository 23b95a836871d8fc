// Package agent is fleetgate's data-plane agent: it opens one stream to a control plane,
// applies every ConfigUpdate to its Sink, verifies that the result has exactly the update's
// digest, and answers each update once with an Ack or a Nack. It never deletes gateway config
// because the control plane went away.
package agent
