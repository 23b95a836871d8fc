// Package deploy checks the deployment artifacts (systemd units, Kubernetes manifests,
// Dockerfile, example config) against the real binary, since neither Docker nor Kubernetes
// runs on the build machine: every manifest parses, every fleetgate flag they use exists,
// and every embedded control plane config is accepted by the control plane's own parser.
package deploy
