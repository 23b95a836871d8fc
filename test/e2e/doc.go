// Package e2e is the end-to-end suite: it builds the fleetgate binary and runs the control
// plane, agents, etcd servers and Git servers as separate processes on loopback, then drives
// them with the CLI the way an operator would.
package e2e
