// Package examples embeds the example config repository, so `fleetgate demo` can seed a
// Git repository from it with nothing but the binary.
package examples

import "embed"

// GitOpsRepo holds examples/gitops-repo: base/, staging/ and production/ layers.
//
//go:embed gitops-repo
var GitOpsRepo embed.FS

// GitOpsRepoRoot is the directory inside GitOpsRepo that holds the layers.
const GitOpsRepoRoot = "gitops-repo"
