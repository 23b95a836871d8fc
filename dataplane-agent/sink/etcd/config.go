package etcdsink

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Ownership says which keys under the prefix the sink may update and delete.
type Ownership int

const (
	// Manifest, the default, lets the sink update and delete only keys it wrote (those in its
	// manifest); keys written by someone else are left alone and counted as unmanaged.
	Manifest Ownership = iota
	// Exclusive makes Git the owner of every resource directory under the prefix: keys that
	// the snapshot does not name are deleted.
	Exclusive
)

// String returns "manifest" or "exclusive".
func (o Ownership) String() string {
	switch o {
	case Manifest:
		return "manifest"
	case Exclusive:
		return "exclusive"
	}
	return fmt.Sprintf("Ownership(%d)", int(o))
}

// ParseOwnership parses "manifest" (or "") and "exclusive", for flags.
func ParseOwnership(s string) (Ownership, error) {
	switch s {
	case "", "manifest":
		return Manifest, nil
	case "exclusive":
		return Exclusive, nil
	}
	return 0, fmt.Errorf("unknown ownership %q: want manifest or exclusive", s)
}

// DefaultAgentPrefix is where the sink keeps its bookkeeping unless Config.AgentPrefix says
// otherwise.
const DefaultAgentPrefix = "/fleetgate-agent"

// Config configures an etcd sink.
type Config struct {
	// Endpoints are the etcd client URLs ("http://127.0.0.1:2379"). Required.
	Endpoints []string
	// Prefix is APISIX's etcd prefix (etcd.prefix in APISIX's config.yaml). Default "/apisix".
	Prefix string
	// AgentPrefix is where the sink keeps its bookkeeping, outside Prefix: the claim
	// "<agent-prefix>/.claims<prefix>" and "<agent-prefix>/<node-id>/" (applied digest and
	// manifest). It must not overlap Prefix. Default "/fleetgate-agent".
	AgentPrefix string
	// NodeID names this agent's bookkeeping under <agent-prefix>/<node-id>/ and its claim on
	// the prefix. Required.
	NodeID string
	// Ownership says which keys the sink may update and delete. Default Manifest.
	Ownership Ownership
	// DialTimeout bounds one attempt to connect (and, with Username, to log in) to etcd;
	// attempts are repeated in the background until one succeeds. Default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds each etcd request (a read, one transaction), so that a hung etcd
	// (a stopped process, a lost network) makes calls fail instead of hang. Default 10s.
	RequestTimeout time.Duration
	// TLS, when set, is used to connect to etcd (client TLS, with a client certificate for
	// mutual TLS). Default: plain text for http:// endpoints, the system roots for https://.
	TLS *tls.Config
	// Username and Password authenticate to etcd (APISIX's deployment.etcd.user and
	// .password) when Username is set. Default none: etcd with authentication enabled then
	// refuses every request ("user name is empty"), unless a client certificate names a user.
	Username, Password string
	// Logger receives the sink's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if len(c.Endpoints) == 0 {
		return fmt.Errorf("etcd sink: no endpoints configured (want e.g. http://127.0.0.1:2379)")
	}
	if c.NodeID == "" {
		return fmt.Errorf("etcd sink: empty node id")
	}
	if strings.Contains(c.NodeID, "/") || strings.HasPrefix(c.NodeID, ".") {
		return fmt.Errorf("etcd sink: node id %q must not contain '/' nor start with '.'", c.NodeID)
	}
	if c.Prefix == "" {
		c.Prefix = "/apisix"
	}
	c.Prefix = "/" + strings.Trim(c.Prefix, "/")
	if c.Prefix == "/" {
		return fmt.Errorf("etcd sink: prefix must not be the root")
	}
	if c.AgentPrefix == "" {
		c.AgentPrefix = DefaultAgentPrefix
	}
	c.AgentPrefix = "/" + strings.Trim(c.AgentPrefix, "/")
	if c.AgentPrefix == "/" {
		return fmt.Errorf("etcd sink: agent prefix must not be the root")
	}
	if strings.HasPrefix(c.AgentPrefix+"/", c.Prefix+"/") || strings.HasPrefix(c.Prefix+"/", c.AgentPrefix+"/") {
		return fmt.Errorf("etcd sink: agent prefix %s and APISIX prefix %s overlap: APISIX reads every key under its prefix as a resource, so the bookkeeping must live elsewhere",
			c.AgentPrefix, c.Prefix)
	}
	if c.Password != "" && c.Username == "" {
		return fmt.Errorf("etcd sink: a password is set but no user name")
	}
	if c.Ownership != Manifest && c.Ownership != Exclusive {
		return fmt.Errorf("etcd sink: unknown ownership %d", c.Ownership)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
