// Package config reads the control plane's YAML config file.
//
// Parsing is strict: an unknown key, a value of the wrong type, a bad duration or a group that
// names an unknown source is an error that names the file, line and key path, so a typo is
// found at start rather than at 3 a.m. Every problem of the file is reported at once.
// Durations are Go duration strings ("30s", "5m").
//
// A minimal file:
//
//	sources:
//	  - name: gitops
//	    url: https://git.example.com/platform/gateway-config.git
//	groups:
//	  - name: production
//	    source: gitops
//	    paths: [base, production]
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleetgate/fleetgate/snapshot"
)

// Defaults applied to fields left unset.
const (
	DefaultDataDir         = "./fleetgate-data"
	DefaultGRPCListen      = ":18000"
	DefaultHTTPListen      = ":18080"
	DefaultHistory         = 50
	DefaultMaxMessageBytes = 64 << 20
	DefaultInterval        = 30 * time.Second
	DefaultRef             = "main"
	// DefaultMaxDeletePercent is a group's deletion_guard.max_delete_percent.
	DefaultMaxDeletePercent = 50
	// DefaultNodeStatusInterval is how often a replica writes changed node statuses.
	DefaultNodeStatusInterval = 250 * time.Millisecond
	// DefaultNodeRetention is how long a disconnected node stays in lists and counts.
	DefaultNodeRetention = 24 * time.Hour
)

// Config is the whole control plane config file.
type Config struct {
	// DataDir holds the embedded etcd (<data_dir>/etcd) and the Git caches
	// (<data_dir>/git/<source>). Default ./fleetgate-data.
	DataDir string `yaml:"data_dir"`
	// Listen holds the listen addresses.
	Listen Listen `yaml:"listen"`
	// Store selects the etcd store. Default: an embedded etcd server in the data directory.
	Store Store `yaml:"store"`
	// History is the number of versions kept per group; pinned and applied versions are never
	// pruned. Default 50.
	History int `yaml:"history"`
	// MaxMessageBytes is the gRPC max message size, both ways. Default 64 MiB.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// NodeStatusInterval is how often a replica writes the node statuses that changed (ACKs,
	// NACKs, connects, drift) to the store, in one batch, so that other replicas and a
	// restarted control plane see them. Shorter shows changes sooner on other replicas;
	// longer writes less to etcd with thousands of nodes. Default 250ms.
	NodeStatusInterval Duration `yaml:"node_status_interval"`
	// NodeRetention is how long a node that is not connected stays in `nodes`, `status` and
	// the counts; after that it is forgotten (the audit trail keeps it). Default 24h.
	NodeRetention Duration `yaml:"node_retention"`
	// TLS enables TLS on the gRPC port. Default: absent, plaintext.
	TLS *TLS `yaml:"tls"`
	// Admin configures access to the admin API.
	Admin Admin `yaml:"admin"`
	// Sources are the Git repositories followed.
	Sources []Source `yaml:"sources"`
	// Groups are the gateway groups, each bound to a source and paths in it.
	Groups []Group `yaml:"groups"`

	// File is the path the config was read from ("" when parsed from bytes).
	File string `yaml:"-"`
}

// Listen holds the control plane's listen addresses.
type Listen struct {
	// GRPC serves agents (ConfigDiscovery) and the admin API (FleetAdmin). Default ":18000".
	GRPC string `yaml:"grpc"`
	// HTTP serves /healthz, /readyz, /metrics and /webhooks/<source>. Default ":18080".
	HTTP string `yaml:"http"`
}

// Store selects where fleetgate keeps its state.
type Store struct {
	// Endpoints of an external etcd cluster. Default empty: an embedded etcd server in
	// <data_dir>/etcd. The CLI flag --store-endpoints overrides it.
	Endpoints []string `yaml:"endpoints"`
	// TLS for the external etcd cluster. Default absent: plaintext.
	TLS *ClientTLS `yaml:"tls"`
	// Username for etcd authentication. Default "": no authentication.
	Username string `yaml:"username"`
	// PasswordFile holds the etcd password. Default "".
	PasswordFile string `yaml:"password_file"`
}

// ClientTLS is the TLS config of a client connection.
type ClientTLS struct {
	// CAFile verifies the server certificate. Default "": the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS. Default "": none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// TLS is the server TLS config of the gRPC port.
type TLS struct {
	// CertFile and KeyFile are the server certificate and key (required).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requires client certificates signed by it (mutual TLS); an
	// agent's certificate CN or a DNS SAN must equal its node id. Default "": no client certs.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Admin configures the admin API.
type Admin struct {
	// Tokens are the accepted bearer tokens. Default empty: no authentication, every caller
	// is admin (logged loudly at start).
	Tokens []Token `yaml:"tokens"`
}

// Role is what an admin API caller may do.
type Role string

// The roles, each including the ones before it.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

// Token is one bearer token and its holder.
type Token struct {
	// Name is who holds the token; it is written to the audit log. Required.
	Name string `yaml:"name"`
	// Role is viewer, operator or admin. Required.
	Role Role `yaml:"role"`
	// TokenFile holds the token (surrounding whitespace trimmed). One of token_file and
	// token_env is required.
	TokenFile string `yaml:"token_file"`
	// TokenEnv names an environment variable holding the token.
	TokenEnv string `yaml:"token_env"`
}

// Secret reads the token from its file or environment variable.
func (t Token) Secret() (string, error) {
	if t.TokenFile != "" {
		b, err := os.ReadFile(t.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin token %q: %w", t.Name, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("admin token %q: file %s is empty", t.Name, t.TokenFile)
		}
		return s, nil
	}
	s := strings.TrimSpace(os.Getenv(t.TokenEnv))
	if s == "" {
		return "", fmt.Errorf("admin token %q: environment variable %s is empty or unset", t.Name, t.TokenEnv)
	}
	return s, nil
}

// Source is one followed Git repository.
type Source struct {
	// Name identifies the source in groups, status and /webhooks/<name>. Required.
	Name string `yaml:"name"`
	// URL is the repository (https://, ssh://, user@host:path, or a local path). Required.
	URL string `yaml:"url"`
	// Ref is the branch, tag or commit followed. Default "main".
	Ref string `yaml:"ref"`
	// Interval is the poll interval. Default 30s.
	Interval Duration `yaml:"interval"`
	// Depth limits the fetch depth. Default 0: full history.
	Depth int `yaml:"depth"`
	// Auth holds the credentials. Default: anonymous.
	Auth Auth `yaml:"auth"`
	// SigningKeysFile holds armored OpenPGP public keys; when set, the commit being built must
	// be signed by one of them. Default "": signatures not required.
	SigningKeysFile string `yaml:"signing_keys_file"`
	// Webhook enables POST /webhooks/<name> to trigger a fetch. Default absent: polling only.
	Webhook *Webhook `yaml:"webhook"`
	// AllowInsecureHTTP lets auth credentials be sent over a plain http:// url, in cleartext on
	// every poll; the control plane logs a warning at start. Default false: credentials with
	// an http:// url are a config error.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http"`
}

// IsPlainHTTP reports whether url is a plain (unencrypted) http:// url.
func IsPlainHTTP(url string) bool {
	return len(url) >= 7 && strings.EqualFold(url[:7], "http://")
}

// Auth are the credentials of a source.
type Auth struct {
	// Username for HTTPS basic auth. Default "".
	Username string `yaml:"username"`
	// PasswordFile or PasswordEnv hold the HTTPS password or token. Default "".
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// SSHKeyFile is the private key for ssh URLs. Default "".
	SSHKeyFile string `yaml:"ssh_key_file"`
	// SSHPassphraseFile holds the key's passphrase. Default "".
	SSHPassphraseFile string `yaml:"ssh_passphrase_file"`
	// KnownHostsFile verifies the SSH host key. Default "": ~/.ssh/known_hosts.
	KnownHostsFile string `yaml:"known_hosts_file"`
	// InsecureSkipHostKeyCheck disables host key checks. Default false; never in production.
	InsecureSkipHostKeyCheck bool `yaml:"insecure_skip_host_key_check"`
}

// secretKey is the yaml key of the password a's credentials send ("" when none).
func (a Auth) secretKey() string {
	switch {
	case a.PasswordFile != "":
		return "password_file"
	case a.PasswordEnv != "":
		return "password_env"
	}
	return ""
}

// Webhook configures a source's webhook receiver.
type Webhook struct {
	// Type is github (X-Hub-Signature-256), gitlab (X-Gitlab-Token) or hmac. Required.
	Type string `yaml:"type"`
	// SecretFile or SecretEnv hold the shared secret. One is required.
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
	// Header is the signature header of type hmac. Default "": gitsource's default.
	Header string `yaml:"header"`
}

// Secret reads the webhook secret from its file or environment variable.
func (w Webhook) Secret() ([]byte, error) {
	if w.SecretFile != "" {
		b, err := os.ReadFile(w.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: %w", err)
		}
		return bytes.TrimSpace(b), nil
	}
	s := strings.TrimSpace(os.Getenv(w.SecretEnv))
	if s == "" {
		return nil, fmt.Errorf("webhook secret: environment variable %s is empty or unset", w.SecretEnv)
	}
	return []byte(s), nil
}

// Group is a set of gateway nodes that run the same config.
type Group struct {
	// Name identifies the group; agents name it in their Hello. Required, [A-Za-z0-9._-]{1,64}.
	Name string `yaml:"name"`
	// Source names the source the group follows. Required.
	Source string `yaml:"source"`
	// Paths are directories of the source, layered in order. Required.
	Paths []string `yaml:"paths"`
	// Variables replace ${{VAR}} at build time. Default empty.
	Variables map[string]string `yaml:"variables"`
	// CustomPlugins are plugin names allowed besides APISIX's own. Default empty.
	CustomPlugins []string `yaml:"custom_plugins"`
	// APISIXVersion is the APISIX release line the group's gateways run ("3.18"): its
	// plugin names and schemas are what the config is validated against. Default: the
	// newest line fleetgate supports.
	APISIXVersion string `yaml:"apisix_version"`
	// Format is the input format of the group's paths: "apisix" (APISIX's native,
	// standalone-file format), "adc" (an ADC repository: services with nested routes,
	// SHA-1 ids from names; docs/adc.md), or "" (default) to read a document as ADC when
	// it has a feature only ADC's format has and as APISIX's otherwise.
	Format string `yaml:"format"`
	// DeletionGuard holds back versions that delete much of what the group runs. Default:
	// max_delete_percent 50, allow_empty false.
	DeletionGuard DeletionGuard `yaml:"deletion_guard"`
	// Rollout takes the group's new versions to its nodes wave by wave, with bake times and
	// gates (rollout.go). Default absent: a new version goes to every node at once.
	Rollout *Rollout `yaml:"rollout"`
	// Freeze are recurring windows during which nothing new rolls out (rollout.go). Default
	// empty.
	Freeze []FreezeWindow `yaml:"freeze"`
}

// DeletionGuard decides which new versions of a group are stored held: not rolled out until
// an operator approves them (`fleetgate approve`). A version is compared with the one the
// group runs (its newest version not held); "removed" counts the resources of that version
// absent from the new one. The first version of a group is never held.
type DeletionGuard struct {
	// MaxDeletePercent is the largest share of the running version's resources a new version
	// may remove and still roll out by itself; removing more holds it. 1-100; 100 holds only
	// an empty version. Default 50 (exactly half is allowed).
	MaxDeletePercent int `yaml:"max_delete_percent"`
	// AllowEmpty lets a version with no resources roll out by itself when the running one has
	// some (with max_delete_percent 100). Default false: an empty version is held.
	AllowEmpty bool `yaml:"allow_empty"`
}

// Duration is a time.Duration written as a Go duration string.
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &lineError{n.Line, fmt.Sprintf("want a duration (e.g. 250ms, 1m), got %s", describe(n))}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &lineError{n.Line, fmt.Sprintf("%q is not a duration (e.g. 250ms, 1m)", n.Value)}
	}
	if v < 0 {
		return &lineError{n.Line, fmt.Sprintf("%q is negative: want a duration like 250ms or 1m", n.Value)}
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// Error is a config file that cannot be used: every problem found, in file order, each as
// "file:line: key.path: what" (for example `cp.yaml:12: groups[0].source: unknown source
// "gitt" (known: git)`).
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0]
	}
	return fmt.Sprintf("config: %d problems:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// Load reads and checks the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	return c, nil
}

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	yamlLine  = regexp.MustCompile(`^\s*line (\d+): (.*)$`)
	webhookTy = map[string]bool{"github": true, "gitlab": true, "hmac": true}
)

// Parse checks data as a config file named file (used in messages) and applies defaults.
// Every problem of the file is reported at once, each as "file:line: key.path: what": unknown
// and repeated keys, values of the wrong type, bad durations and values the checks refuse.
// Only a YAML syntax error stops reading before the rest is checked.
func Parse(file string, data []byte) (*Config, error) {
	if file == "" {
		file = "config"
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Problems: yamlProblems(file, err)}
	}
	if len(root.Content) == 0 {
		return nil, &Error{Problems: []string{file + ": empty config file: at least one source and one group are needed"}}
	}
	doc := root.Content[0]
	p := newProblems(file)
	c := &Config{}
	if doc.Kind != yaml.MappingNode {
		p.add(doc, "", "the file must be a mapping of keys (data_dir, sources, groups, ...), got %s", describe(doc))
		return nil, &Error{Problems: p.strings()}
	}
	p.decode(doc, reflect.ValueOf(c).Elem(), "")
	c.File = file
	c.applyDefaults()
	c.check(p, doc)
	if len(p.list) > 0 {
		return nil, &Error{Problems: p.strings()}
	}
	return c, nil
}

// yamlProblems turns a YAML syntax error into problems with the file name and line.
func yamlProblems(file string, err error) []string {
	var te *yaml.TypeError
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			out = append(out, fmt.Sprintf("%s:%s: %s", file, g[1], g[2]))
		} else {
			out = append(out, file+": "+m)
		}
	}
	return out
}

func (c *Config) applyDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Listen.GRPC == "" {
		c.Listen.GRPC = DefaultGRPCListen
	}
	if c.Listen.HTTP == "" {
		c.Listen.HTTP = DefaultHTTPListen
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.NodeStatusInterval.Duration == 0 {
		c.NodeStatusInterval.Duration = DefaultNodeStatusInterval
	}
	if c.NodeRetention.Duration == 0 {
		c.NodeRetention.Duration = DefaultNodeRetention
	}
	for i := range c.Groups {
		if c.Groups[i].DeletionGuard.MaxDeletePercent == 0 {
			c.Groups[i].DeletionGuard.MaxDeletePercent = DefaultMaxDeletePercent
		}
		c.Groups[i].applyRolloutDefaults()
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Ref == "" {
			s.Ref = DefaultRef
		}
		if s.Interval.Duration == 0 {
			s.Interval.Duration = DefaultInterval
		}
	}
}

// GitCacheDir is where the Git cache of source lives.
func (c *Config) GitCacheDir(source string) string {
	return filepath.Join(c.DataDir, "git", source)
}

// EtcdDir is where the embedded etcd keeps its data.
func (c *Config) EtcdDir() string { return filepath.Join(c.DataDir, "etcd") }

// Source returns the source named name.
func (c *Config) Source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// check validates values, adding what is wrong to p; root is the document's top mapping,
// used to find lines.
func (c *Config) check(p *problems, root *yaml.Node) {
	at := func(path ...any) *yaml.Node { return lookup(root, path...) }
	if c.History < 0 {
		p.add(at("history"), "history", "must be at least 1, got %d", c.History)
	}
	if d := c.NodeStatusInterval.Duration; d < 10*time.Millisecond || d > time.Minute {
		p.add(at("node_status_interval"), "node_status_interval", "must be between 10ms and 1m, got %s", d)
	}
	if d := c.NodeRetention.Duration; d < time.Second {
		p.add(at("node_retention"), "node_retention", "must be at least 1s, got %s", d)
	}
	if c.MaxMessageBytes < 1<<20 {
		p.add(at("max_message_bytes"), "max_message_bytes", "must be at least 1048576 (1 MiB), got %d", c.MaxMessageBytes)
	}
	if c.TLS != nil && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		p.add(at("tls"), "tls", "needs both cert_file and key_file")
	}
	if st := c.Store.TLS; st != nil && (st.CertFile == "") != (st.KeyFile == "") {
		p.add(at("store", "tls"), "store.tls", "needs both cert_file and key_file, or neither")
	}
	c.checkTokens(p, root)
	sources := c.checkSources(p, root)
	c.checkGroups(p, root, sources)
}

func (c *Config) checkTokens(p *problems, root *yaml.Node) {
	names := map[string]bool{}
	for i, t := range c.Admin.Tokens {
		n := lookup(root, "admin", "tokens", i)
		path := fmt.Sprintf("admin.tokens[%d]", i)
		switch {
		case t.Name == "":
			p.add(orNode(lookup(n, "name"), n), path+".name", "required (it is written to the audit log)")
		case names[t.Name]:
			p.add(lookup(n, "name"), path+".name", "%q used twice", t.Name)
		}
		names[t.Name] = true
		switch t.Role {
		case RoleViewer, RoleOperator, RoleAdmin:
		default:
			p.add(orNode(lookup(n, "role"), n), path+".role", "%q: want viewer, operator or admin", t.Role)
		}
		if (t.TokenFile == "") == (t.TokenEnv == "") {
			p.add(n, path, "set exactly one of token_file and token_env")
		}
	}
}

// checkSources checks the sources and returns the names seen.
func (c *Config) checkSources(p *problems, root *yaml.Node) map[string]bool {
	if len(c.Sources) == 0 {
		p.add(orNode(lookup(root, "sources"), root), "sources", "at least one source is needed")
	}
	names := map[string]bool{}
	for i, s := range c.Sources {
		n := lookup(root, "sources", i)
		path := fmt.Sprintf("sources[%d]", i)
		switch {
		case !nameRe.MatchString(s.Name):
			p.add(orNode(lookup(n, "name"), n), path+".name", "%q must be 1-64 characters of [A-Za-z0-9._-]", s.Name)
		case names[s.Name]:
			p.add(lookup(n, "name"), path+".name", "%q used twice", s.Name)
		}
		names[s.Name] = true
		if s.URL == "" {
			p.add(orNode(lookup(n, "url"), n), path+".url", "required (source %q)", s.Name)
		}
		if s.Depth < 0 {
			p.add(lookup(n, "depth"), path+".depth", "must be 0 (full history) or positive, got %d", s.Depth)
		}
		if w := s.Webhook; w != nil {
			wn := lookup(n, "webhook")
			if !webhookTy[w.Type] {
				p.add(orNode(lookup(wn, "type"), wn), path+".webhook.type", "%q: want github, gitlab or hmac", w.Type)
			}
			if (w.SecretFile == "") == (w.SecretEnv == "") {
				p.add(wn, path+".webhook", "set exactly one of secret_file and secret_env")
			}
		}
		if s.Auth.PasswordFile != "" && s.Auth.PasswordEnv != "" {
			p.add(lookup(n, "auth"), path+".auth", "set at most one of password_file and password_env")
		}
		if key := s.Auth.secretKey(); key != "" && IsPlainHTTP(s.URL) && !s.AllowInsecureHTTP {
			p.add(orNode(lookup(n, "auth", key), n), path+".auth."+key,
				"the password of source %q would be sent in cleartext over plain http:// on every poll: use an https:// url, or set allow_insecure_http: true on the source", s.Name)
		}
	}
	return names
}

func (c *Config) checkGroups(p *problems, root *yaml.Node, sources map[string]bool) {
	if len(c.Groups) == 0 {
		p.add(orNode(lookup(root, "groups"), root), "groups", "at least one group is needed")
	}
	names := map[string]bool{}
	for i, g := range c.Groups {
		n := lookup(root, "groups", i)
		path := fmt.Sprintf("groups[%d]", i)
		switch {
		case !nameRe.MatchString(g.Name):
			p.add(orNode(lookup(n, "name"), n), path+".name", "%q must be 1-64 characters of [A-Za-z0-9._-]", g.Name)
		case names[g.Name]:
			p.add(lookup(n, "name"), path+".name", "%q used twice", g.Name)
		}
		names[g.Name] = true
		if !sources[g.Source] {
			known := make([]string, 0, len(c.Sources))
			for _, s := range c.Sources {
				known = append(known, s.Name)
			}
			if g.Source == "" {
				p.add(orNode(lookup(n, "source"), n), path+".source", "required (known sources: %s)", strings.Join(known, ", "))
			} else {
				p.add(orNode(lookup(n, "source"), n), path+".source", "unknown source %q (known: %s)", g.Source, strings.Join(known, ", "))
			}
		}
		if len(g.Paths) == 0 {
			p.add(orNode(lookup(n, "paths"), n), path+".paths", "required (use [.] for the repository root)")
		}
		if pc := g.DeletionGuard.MaxDeletePercent; pc < 1 || pc > 100 {
			p.add(orNode(lookup(n, "deletion_guard", "max_delete_percent"), n), path+".deletion_guard.max_delete_percent",
				"must be between 1 and 100, got %d (100 holds only empty versions)", pc)
		}
		for j, gp := range g.Paths {
			if gp == "" || filepath.IsAbs(gp) || strings.HasPrefix(filepath.Clean(gp), "..") {
				p.add(orNode(lookup(n, "paths", j), n), fmt.Sprintf("%s.paths[%d]", path, j), "%q must be relative to the repository root and inside it", gp)
			}
		}
		if _, err := snapshot.ParseRelease(g.APISIXVersion); err != nil {
			p.add(orNode(lookup(n, "apisix_version"), n), path+".apisix_version", "%v", err)
		}
		if _, err := snapshot.ParseFormat(g.Format); err != nil {
			p.add(orNode(lookup(n, "format"), n), path+".format", "%v", err)
		}
		g.checkRollout(p, n, path)
	}
}

// InputFormat is the group's input format (detection when unset). Load has checked it.
func (g Group) InputFormat() snapshot.Format {
	f, _ := snapshot.ParseFormat(g.Format)
	return f
}

// Release is the group's APISIX release line (the newest supported when unset). Load has
// checked it.
func (g Group) Release() snapshot.Release {
	r, err := snapshot.ParseRelease(g.APISIXVersion)
	if err != nil {
		return snapshot.LatestRelease
	}
	return r
}

func orNode(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

// lookup follows keys (string for mapping keys, int for sequence indexes) from n and returns
// the node found, or nil.
func lookup(n *yaml.Node, path ...any) *yaml.Node {
	for _, p := range path {
		if n == nil {
			return nil
		}
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return nil
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
					break
				}
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return nil
			}
			n = n.Content[k]
		}
	}
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
