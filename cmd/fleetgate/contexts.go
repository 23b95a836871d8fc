package main

// fleetgate config …: named contexts (a control plane address, a token file and TLS settings)
// in a config file, like kubeconfig's contexts and argocd's login, and --context on every
// operator verb. The file format and the rules are in docs/cli-contexts.md.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

func init() { register(newConfigCmd) }

// contextFile is the CLI's config file: named contexts and the one in use.
type contextFile struct {
	// path is where the file was read from (or is to be written to).
	path string
	// exists says the file was there when it was read.
	exists bool
	// current is current_context: the context a verb uses without --context ("" for none).
	current     string
	currentLine int
	// contexts are the file's contexts in file order.
	contexts []*cliContext
}

// cliContext is one named context: how to reach and authenticate to one control plane.
type cliContext struct {
	Name      string `yaml:"name" json:"name"`
	Server    string `yaml:"server,omitempty" json:"server,omitempty"`
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	// Token is an inline bearer token; only read from a file no one else can read (0600).
	Token     string `yaml:"token,omitempty" json:"-"`
	CAFile    string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	CertFile  string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	KeyFile   string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	Plaintext bool   `yaml:"plaintext,omitempty" json:"plaintext,omitempty"`

	// line is where the context starts in the file; tokenLine and tokenFileLine are the
	// lines of its token and token_file (0 when absent).
	line, tokenLine, tokenFileLine int
}

// contextNameRE is what a context name may be: what one types after --context.
var contextNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,127}$`)

// configPath returns the config file's path: $FLEETGATE_CONFIG, else
// $XDG_CONFIG_HOME/fleetgate/config.yaml, else ~/.config/fleetgate/config.yaml.
func configPath() (string, error) {
	if p := os.Getenv("FLEETGATE_CONFIG"); p != "" {
		return p, nil
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "fleetgate", "config.yaml"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the CLI config file: %w (set FLEETGATE_CONFIG to its path)", err)
	}
	return filepath.Join(home, ".config", "fleetgate", "config.yaml"), nil
}

// loadContexts reads the config file; a file that does not exist is an empty one.
func loadContexts() (*contextFile, error) {
	path, err := configPath()
	if err != nil {
		return nil, err
	}
	return readContextFile(path)
}

// lockWait is how long a writer waits for another `fleetgate config` command to finish.
const lockWait = 5 * time.Second

// loadContextsLocked reads the config file for a change: it holds the file's lock (FILE.lock,
// created exclusively) so that two commands writing at once do not lose one's change, and
// unlock releases it.
func loadContextsLocked() (*contextFile, func(), error) {
	path, err := configPath()
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		// no directory, no file: nothing to lock yet (save creates the directory)
		cf, err := readContextFile(path)
		return cf, func() {}, err
	}
	lock := path + ".lock"
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, nil, fmt.Errorf("lock the CLI config file: %w", err)
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("the CLI config file is still locked after %s: another `fleetgate config` command is writing it; "+
				"if none is running, remove %s", lockWait, lock)
		}
		time.Sleep(10 * time.Millisecond) // poll: a lock file has nothing to wait on
	}
	unlock := func() { _ = os.Remove(lock) }
	cf, err := readContextFile(path)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return cf, unlock, nil
}

func readContextFile(path string) (*contextFile, error) {
	cf := &contextFile{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the CLI config file: %w", err)
	}
	cf.exists = true
	if err := cf.parse(b); err != nil {
		return nil, err
	}
	for _, c := range cf.contexts {
		if c.Token == "" {
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("read the CLI config file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s:%d: context %q holds an inline token, but the file can be read by others (mode %04o): "+
				"run chmod 600 %s, or move the token into a file of its own and use token_file", path, c.tokenLine, c.Name, st.Mode().Perm(), path)
		}
	}
	return cf, nil
}

// yamlLineRE splits the YAML parser's "line N: what" message.
var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// parse reads the file's YAML, reporting every error as file:line.
func (cf *contextFile) parse(b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("%s:%s: %s (not valid YAML)", cf.path, m[1], m[2])
		}
		return fmt.Errorf("%s: %s (not valid YAML)", cf.path, msg)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.ShortTag() == "!!null" {
		return nil
	}
	at := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", cf.path, n.Line, fmt.Sprintf(format, args...))
	}
	if top.Kind != yaml.MappingNode {
		return at(top, "want a mapping with current_context and contexts")
	}
	seenTop := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if seenTop[k.Value] {
			return at(k, "%s appears twice", k.Value)
		}
		seenTop[k.Value] = true
		switch k.Value {
		case "current_context":
			if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!str" && v.ShortTag() != "!!null") {
				return at(v, "current_context: want a context name")
			}
			if v.ShortTag() == "!!str" {
				cf.current, cf.currentLine = v.Value, v.Line
			}
		case "contexts":
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
				continue
			}
			if v.Kind != yaml.SequenceNode {
				return at(v, "contexts: want a list of contexts (- name: …, server: …)")
			}
			byName := map[string]*cliContext{}
			for _, item := range v.Content {
				c, err := cf.parseContext(item, at)
				if err != nil {
					return err
				}
				if prev := byName[c.Name]; prev != nil {
					return at(item, "context %q is defined twice (also at line %d)", c.Name, prev.line)
				}
				byName[c.Name] = c
				cf.contexts = append(cf.contexts, c)
			}
		default:
			return at(k, "unknown key %q: want current_context or contexts", k.Value)
		}
	}
	return nil
}

func (cf *contextFile) parseContext(n *yaml.Node, at func(*yaml.Node, string, ...any) error) (*cliContext, error) {
	if n.Kind != yaml.MappingNode {
		return nil, at(n, "a context: want a mapping with name, server, token_file …")
	}
	c := &cliContext{line: n.Line}
	strs := map[string]*string{"name": &c.Name, "server": &c.Server, "token_file": &c.TokenFile, "token": &c.Token,
		"ca_file": &c.CAFile, "cert_file": &c.CertFile, "key_file": &c.KeyFile}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return nil, at(k, "%s appears twice in this context", k.Value)
		}
		seen[k.Value] = true
		if p, ok := strs[k.Value]; ok {
			if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!map" || v.ShortTag() == "!!seq" {
				return nil, at(v, "%s: want a string", k.Value)
			}
			if v.ShortTag() != "!!null" {
				*p = v.Value
			}
			switch k.Value {
			case "token":
				c.tokenLine = k.Line
			case "token_file":
				c.tokenFileLine = k.Line
			}
			continue
		}
		if k.Value == "plaintext" {
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
				return nil, at(v, "plaintext: want true or false")
			}
			c.Plaintext = v.Value == "true"
			continue
		}
		return nil, at(k, "unknown key %q in a context: want name, server, token_file, token, ca_file, cert_file, key_file or plaintext", k.Value)
	}
	if c.Name == "" {
		return nil, at(n, "a context without a name")
	}
	if !contextNameRE.MatchString(c.Name) {
		return nil, at(n, "context name %q: use letters, digits and . _ - @ : / (at most 128, starting with a letter or digit)", c.Name)
	}
	if c.Plaintext && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "") {
		return nil, at(n, "context %q: plaintext cannot be combined with ca_file, cert_file or key_file", c.Name)
	}
	if c.Token != "" && c.TokenFile != "" {
		return nil, at(n, "context %q: give token_file or token, not both", c.Name)
	}
	return c, nil
}

// get returns the named context, or nil.
func (cf *contextFile) get(name string) *cliContext {
	for _, c := range cf.contexts {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// names returns the context names, sorted.
func (cf *contextFile) names() []string {
	out := make([]string, 0, len(cf.contexts))
	for _, c := range cf.contexts {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}

// notFound is the error for a context the file does not define (exit code 4).
func (cf *contextFile) notFound(name string) error {
	var err error
	switch {
	case !cf.exists:
		err = fmt.Errorf("no context %q: the CLI config file %s does not exist (create the context with "+
			"`fleetgate config set-context %s --server HOST:PORT --token-file FILE`)", name, cf.path, name)
	case len(cf.contexts) == 0:
		err = fmt.Errorf("no context %q: %s defines no contexts (create one with `fleetgate config set-context`)", name, cf.path)
	default:
		err = fmt.Errorf("no context %q in %s (it has: %s)", name, cf.path, strings.Join(cf.names(), ", "))
	}
	return &exitError{code: codeNotFound, err: err}
}

// fileDoc is the file's layout when written.
type fileDoc struct {
	CurrentContext string        `yaml:"current_context,omitempty"`
	Contexts       []*cliContext `yaml:"contexts"`
}

// save writes the file atomically (a temporary file in the same directory, renamed over it),
// with mode 0600; the directory is created (0700) when missing.
func (cf *contextFile) save() error {
	var buf bytes.Buffer
	buf.WriteString("# fleetgate CLI contexts, written by `fleetgate config` (docs/cli-contexts.md).\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(fileDoc{CurrentContext: cf.current, Contexts: cf.contexts}); err != nil {
		return fmt.Errorf("encode %s: %w", cf.path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode %s: %w", cf.path, err)
	}
	body := buf.Bytes()
	// a symbolic link (a config file kept with one's dotfiles) stays one: write its target
	target := cf.path
	if resolved, err := filepath.EvalSymlinks(cf.path); err == nil {
		target = resolved
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the CLI config directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", cf.path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", cf.path, err)
	}
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", cf.path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", cf.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", cf.path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("write %s: %w", cf.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; not all file systems support it
		d.Close()
	}
	cf.exists = true
	return nil
}

// resolvePath makes a path from the file absolute: ~/ is the home directory, and a relative
// path is relative to the config file's directory (as kubeconfig does).
func (cf *contextFile) resolvePath(p string) string {
	if p == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(cf.path), p)
}

// contextState is what an operator verb knows of contexts: --context, which flags were given,
// and what the context filled in.
type contextState struct {
	// name is --context ("" for FLEETGATE_CONTEXT, else the file's current_context).
	name string
	// flags are the verb's flags, to tell a flag given from a default.
	flags *pflag.FlagSet
	// token is the context's inline token, used when no flag or environment variable names one.
	token string
	// tokenFileFrom says where the token file came from when the context gave it.
	tokenFileFrom string
	// done says applyContext ran; err is what it returned.
	done bool
	err  error
}

// tokenFileSource names where the token file came from, for an error reading it.
func (s *contextState) tokenFileSource() string {
	if s.tokenFileFrom != "" {
		return s.tokenFileFrom
	}
	return "--token-file"
}

// registerContextFlag adds --context to an operator verb, with completion of the names.
func (f *adminFlags) registerContextFlag(cmd *cobra.Command) {
	fs := cmd.Flags()
	f.ctxState.flags = fs
	fs.StringVar(&f.ctxState.name, "context", "", "the `NAME` of the context to use, from the CLI config file (env FLEETGATE_CONTEXT; default: the file's current_context; see fleetgate config --help)")
	_ = cmd.RegisterFlagCompletionFunc("context", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		cf, err := loadContexts()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return cf.names(), cobra.ShellCompDirectiveNoFileComp
	})
}

// applyContext fills the connection settings that no flag and no environment variable gave
// from the context (--context, else FLEETGATE_CONTEXT, else the file's current_context):
// flag > environment > context > default. It runs once, before the first dial or token.
//
// The TLS settings go together: when --plaintext or FLEETGATE_PLAINTEXT is given, the
// context's ca_file, cert_file and key_file are not used, and when any of --ca-file,
// --cert-file, --key-file (or their variables) is given, the context's plaintext is not. The
// same holds for the token: --token-file, FLEETGATE_TOKEN_FILE or FLEETGATE_TOKEN replace the
// context's token_file and token.
func (f *adminFlags) applyContext() error {
	s := &f.ctxState
	if s.done {
		return s.err
	}
	s.done = true
	s.err = f.fillFromContext()
	return s.err
}

func (f *adminFlags) fillFromContext() error {
	s := &f.ctxState
	name, why := s.name, "--context"
	if name == "" {
		name, why = os.Getenv("FLEETGATE_CONTEXT"), "FLEETGATE_CONTEXT"
	}
	cf, err := loadContexts()
	if err != nil {
		return err
	}
	if name == "" {
		if cf.current == "" {
			return nil // no context: flags, environment and defaults only
		}
		name, why = cf.current, "current_context"
	}
	c := cf.get(name)
	if c == nil {
		if why == "current_context" {
			return fmt.Errorf("%s:%d: current_context %q names no context of the file (switch with `fleetgate config use-context NAME`, "+
				"or pick one for this command with --context)", cf.path, cf.currentLine, name)
		}
		err := cf.notFound(name)
		if why == "FLEETGATE_CONTEXT" {
			var ee *exitError
			if errors.As(err, &ee) {
				ee.err = fmt.Errorf("FLEETGATE_CONTEXT: %w", ee.err)
			}
		}
		return err
	}
	given := func(flag string, env ...string) bool {
		if s.flags != nil && s.flags.Changed(flag) {
			return true
		}
		for _, e := range env {
			if os.Getenv(e) != "" {
				return true
			}
		}
		return false
	}
	if c.Server != "" && !given("server", "FLEETGATE_SERVER") {
		f.server = c.Server
	}
	if !given("token-file", "FLEETGATE_TOKEN_FILE", "FLEETGATE_TOKEN") {
		f.tokenFile = cf.resolvePath(c.TokenFile)
		s.token = c.Token
		if c.TokenFile != "" {
			s.tokenFileFrom = fmt.Sprintf("the token_file of context %q (%s:%d)", c.Name, cf.path, c.tokenFileLine)
		}
	}
	tlsGiven := given("ca-file", "FLEETGATE_CA_FILE") || given("cert-file", "FLEETGATE_CERT_FILE") || given("key-file", "FLEETGATE_KEY_FILE")
	if !given("plaintext", "FLEETGATE_PLAINTEXT") {
		if !tlsGiven {
			f.plaintext = c.Plaintext
		}
		if !given("ca-file", "FLEETGATE_CA_FILE") {
			f.caFile = cf.resolvePath(c.CAFile)
		}
		if !given("cert-file", "FLEETGATE_CERT_FILE") {
			f.certFile = cf.resolvePath(c.CertFile)
		}
		if !given("key-file", "FLEETGATE_KEY_FILE") {
			f.keyFile = cf.resolvePath(c.KeyFile)
		}
	}
	return nil
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Manage the CLI's contexts: named control planes with their token file and TLS settings",
		Long: `Manage the CLI's contexts, like kubeconfig's: each names a control plane (server), a
token file and TLS settings, and every operator verb takes --context NAME (default: the
current context). Flags and FLEETGATE_* environment variables override the context's values.

The file is $FLEETGATE_CONFIG, else $XDG_CONFIG_HOME/fleetgate/config.yaml, else
~/.config/fleetgate/config.yaml. It is written atomically with mode 0600.`,
		Example: `  fleetgate config set-context prod --server cp.example.com:18000 --token-file ~/.config/fleetgate/prod.token --ca-file ca.pem
  fleetgate config set-context local --server localhost:18000
  fleetgate config use-context prod
  fleetgate config get-contexts
  fleetgate status --context local`,
	}
	cmd.AddCommand(newGetContextsCmd(), newUseContextCmd(), newSetContextCmd(), newDeleteContextCmd(), newCurrentContextCmd())
	return cmd
}

// completeContexts completes a context name argument.
func completeContexts(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cf, err := loadContexts()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return cf.names(), cobra.ShellCompDirectiveNoFileComp
}

// contextRow is one context as get-contexts -o json/yaml shows it: the token itself never.
type contextRow struct {
	Name        string `json:"name" yaml:"name"`
	Current     bool   `json:"current" yaml:"current"`
	Server      string `json:"server,omitempty" yaml:"server,omitempty"`
	TokenFile   string `json:"token_file,omitempty" yaml:"token_file,omitempty"`
	InlineToken bool   `json:"inline_token,omitempty" yaml:"inline_token,omitempty"`
	CAFile      string `json:"ca_file,omitempty" yaml:"ca_file,omitempty"`
	CertFile    string `json:"cert_file,omitempty" yaml:"cert_file,omitempty"`
	KeyFile     string `json:"key_file,omitempty" yaml:"key_file,omitempty"`
	Plaintext   bool   `json:"plaintext,omitempty" yaml:"plaintext,omitempty"`
}

func newGetContextsCmd() *cobra.Command {
	var output string
	var noHeaders bool
	cmd := &cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts; the current one is marked *",
		Args:  posArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cf, err := loadContexts()
			if err != nil {
				return err
			}
			rows := make([]contextRow, 0, len(cf.contexts))
			for _, c := range cf.contexts {
				rows = append(rows, contextRow{Name: c.Name, Current: c.Name == cf.current, Server: c.Server, TokenFile: c.TokenFile,
					InlineToken: c.Token != "", CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, Plaintext: c.Plaintext})
			}
			w := cmd.OutOrStdout()
			switch output {
			case "json":
				b, err := json.MarshalIndent(rows, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(w, string(b))
				return err
			case "yaml":
				b, err := yaml.Marshal(rows)
				if err != nil {
					return err
				}
				_, err = w.Write(b)
				return err
			}
			if len(rows) == 0 && !noHeaders {
				fmt.Fprintf(cmd.ErrOrStderr(), "no contexts in %s (create one with `fleetgate config set-context NAME --server HOST:PORT`)\n", cf.path)
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			if !noHeaders {
				if output == "wide" {
					fmt.Fprintln(tw, "CURRENT\tNAME\tSERVER\tTOKEN\tTLS\tCA FILE\tCERT FILE")
				} else {
					fmt.Fprintln(tw, "CURRENT\tNAME\tSERVER\tTOKEN\tTLS")
				}
			}
			for _, r := range rows {
				cur := ""
				if r.Current {
					cur = "*"
				}
				tok := "-"
				switch {
				case r.TokenFile != "":
					tok = r.TokenFile
				case r.InlineToken:
					tok = "(inline)"
				}
				line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", cur, r.Name, dash(r.Server), tok, tlsWord(r))
				if output == "wide" {
					line += fmt.Sprintf("\t%s\t%s", dash(r.CAFile), dash(r.CertFile))
				}
				fmt.Fprintln(tw, line)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide, json or yaml")
	cmd.Flags().BoolVar(&noHeaders, "no-headers", false, "leave out the header line of the table")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tlsWord says how a context secures its connection, in the words of connSecurity.tlsConfig.
func tlsWord(r contextRow) string {
	switch {
	case r.Plaintext:
		return "plaintext"
	case r.CertFile != "":
		return "mtls"
	case r.CAFile != "":
		return "tls"
	default:
		return "auto" // plaintext to a loopback address, TLS with the system roots otherwise
	}
}

func newUseContextCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "use-context NAME",
		Short:             "Make NAME the current context, used by every verb without --context",
		Args:              posArgs("NAME"),
		ValidArgsFunction: completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, unlock, err := loadContextsLocked()
			if err != nil {
				return err
			}
			defer unlock()
			if cf.get(args[0]) == nil {
				return cf.notFound(args[0])
			}
			cf.current = args[0]
			if err := cf.save(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "switched to context %q\n", args[0])
			return nil
		},
	}
}

func newCurrentContextCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "current-context",
		Short: "Print the current context's name",
		Args:  posArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cf, err := loadContexts()
			if err != nil {
				return err
			}
			if cf.current == "" {
				return &exitError{code: codeNotFound, err: fmt.Errorf("no current context in %s (set one with `fleetgate config use-context NAME`)", cf.path)}
			}
			fmt.Fprintln(cmd.OutOrStdout(), cf.current)
			return nil
		},
	}
}

func newDeleteContextCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "delete-context NAME",
		Short:             "Delete a context (its token file stays where it is)",
		Args:              posArgs("NAME"),
		ValidArgsFunction: completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, unlock, err := loadContextsLocked()
			if err != nil {
				return err
			}
			defer unlock()
			name := args[0]
			if cf.get(name) == nil {
				return cf.notFound(name)
			}
			kept := cf.contexts[:0]
			for _, c := range cf.contexts {
				if c.Name != name {
					kept = append(kept, c)
				}
			}
			cf.contexts = kept
			wasCurrent := cf.current == name
			if wasCurrent {
				cf.current = ""
			}
			if err := cf.save(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted context %q\n", name)
			if wasCurrent {
				fmt.Fprintf(cmd.OutOrStdout(), "it was the current context: there is none now (pick one with `fleetgate config use-context NAME`)\n")
			}
			return nil
		},
	}
}

func newSetContextCmd() *cobra.Command {
	var c cliContext
	cmd := &cobra.Command{
		Use:   "set-context NAME [--server HOST:PORT] [--token-file FILE] [--ca-file FILE] [--cert-file FILE --key-file FILE] [--plaintext]",
		Short: "Create a context, or change the settings of one: only the flags given change",
		Long: `Create the context NAME, or change the settings given as flags of an existing one (the
others stay). A new context needs --server. The first context of the file becomes the
current one. Relative paths are made absolute; --token-file must name a file that exists.
The token itself is never written to the config file by this command: keep it in a file of
its own (mode 0600) and give --token-file. Pass an empty value (--ca-file "") to clear a
setting.`,
		Example: `  fleetgate config set-context prod --server cp.example.com:18000 --token-file ~/.config/fleetgate/prod.token --ca-file /etc/fleetgate/ca.pem
  fleetgate config set-context prod --token-file ~/.config/fleetgate/prod-ops.token
  fleetgate config set-context local --server localhost:18000`,
		Args:              posArgs("NAME"),
		ValidArgsFunction: completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !contextNameRE.MatchString(name) {
				return fmt.Errorf("context name %q: use letters, digits and . _ - @ : / (at most 128, starting with a letter or digit)", name)
			}
			fs := cmd.Flags()
			for _, p := range []*string{&c.TokenFile, &c.CAFile, &c.CertFile, &c.KeyFile} {
				if *p == "" || strings.HasPrefix(*p, "~/") {
					continue
				}
				abs, err := filepath.Abs(*p)
				if err != nil {
					return err
				}
				*p = abs
			}
			if fs.Changed("token-file") && c.TokenFile != "" {
				tf := c.TokenFile
				if rest, ok := strings.CutPrefix(tf, "~/"); ok {
					if home, err := os.UserHomeDir(); err == nil {
						tf = filepath.Join(home, rest)
					}
				}
				if _, err := os.Stat(tf); err != nil {
					return fmt.Errorf("--token-file: %w (write the token into the file first, with mode 0600)", err)
				}
			}
			cf, unlock, err := loadContextsLocked()
			if err != nil {
				return err
			}
			defer unlock()
			cur := cf.get(name)
			created := cur == nil
			if created {
				if !fs.Changed("server") || c.Server == "" {
					return fmt.Errorf("a new context needs --server HOST:PORT (the control plane's gRPC address, port 18000 by default)")
				}
				cur = &cliContext{Name: name}
			}
			next := *cur
			if fs.Changed("server") {
				next.Server = c.Server
			}
			if fs.Changed("token-file") {
				next.TokenFile = c.TokenFile
				next.Token = "" // a token file replaces an inline token
			}
			if fs.Changed("ca-file") {
				next.CAFile = c.CAFile
			}
			if fs.Changed("cert-file") {
				next.CertFile = c.CertFile
			}
			if fs.Changed("key-file") {
				next.KeyFile = c.KeyFile
			}
			if fs.Changed("plaintext") {
				next.Plaintext = c.Plaintext
			}
			if next.Plaintext && (next.CAFile != "" || next.CertFile != "" || next.KeyFile != "") {
				return fmt.Errorf("context %q: plaintext cannot be combined with ca_file, cert_file or key_file: "+
					"drop --plaintext, or clear them (--ca-file \"\" --cert-file \"\" --key-file \"\")", name)
			}
			if (next.CertFile == "") != (next.KeyFile == "") {
				return fmt.Errorf("context %q: give --cert-file and --key-file together (mutual TLS needs both)", name)
			}
			if created {
				cf.contexts = append(cf.contexts, &next)
			} else {
				*cur = next
			}
			becameCurrent := false
			if cf.current == "" && len(cf.contexts) == 1 {
				cf.current, becameCurrent = name, true
			}
			if err := cf.save(); err != nil {
				return err
			}
			verb := "changed"
			if created {
				verb = "created"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s context %q in %s\n", verb, name, cf.path)
			if becameCurrent {
				fmt.Fprintf(cmd.OutOrStdout(), "it is the current context\n")
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&c.Server, "server", "", "the control plane's gRPC address (HOST:PORT, port 18000 by default)")
	fs.StringVar(&c.TokenFile, "token-file", "", "file holding the admin bearer token (keep it mode 0600)")
	fs.StringVar(&c.CAFile, "ca-file", "", "CA bundle to verify the control plane's TLS certificate (default: the system roots)")
	fs.StringVar(&c.CertFile, "cert-file", "", "client certificate for mutual TLS")
	fs.StringVar(&c.KeyFile, "key-file", "", "client key for mutual TLS")
	fs.BoolVar(&c.Plaintext, "plaintext", false, "connect without TLS (a token is still never sent in plaintext to a non-loopback address)")
	return cmd
}
