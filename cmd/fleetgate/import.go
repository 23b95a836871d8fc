package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/fleetgate/fleetgate/dataplane-agent/importer"
	"github.com/fleetgate/fleetgate/internal/tlsfiles"
	"github.com/fleetgate/fleetgate/snapshot"
)

func init() { register(newImportCmd) }

// adminKeyEnv is the environment variable that may hold APISIX's admin key.
const adminKeyEnv = "FLEETGATE_APISIX_ADMIN_KEY"

type importFlags struct {
	etcdEndpoints []string
	prefix        string
	etcd          etcdFlags
	adminURL      string
	adminKeyFile  string
	adminCA       string
	adminCert     string
	adminCertKey  string
	out           string
	replace       bool
	timeout       time.Duration
}

func newImportCmd() *cobra.Command {
	f := &importFlags{}
	var bf *buildFlags
	cmd := &cobra.Command{
		Use:   "import (--etcd-endpoints URL... | --admin-url URL) --out DIR",
		Short: "Write the config a running APISIX serves as a repository layout (to adopt a running fleet)",
		Long: `import reads what a running APISIX serves and writes it as a fleetgate repository layout:
from its etcd (--etcd-endpoints, under --prefix), or from the Admin API of an APISIX in
API-driven standalone mode (--admin-url: GET /apisix/admin/configs).

DIR gets one file per collection (routes.yaml, upstreams.yaml, ...), items sorted by id.
create_time, update_time, the standalone API's modifiedIndex and conf versions, and the
directory placeholders are dropped; everything else is written as the gateway holds it, so
secret references ($secret://, $env://) stay references. Consumers' credentials are
consumers items with id <username>/credentials/<id>; plugin metadata has id = the plugin
name. Keys that are not resources (the plugin list, data plane info) are listed, not written.

The layout is then built as the control plane would (--apisix-version, --custom-plugin,
--var): commit it, and an agent in manifest ownership adopts the gateway's keys without
writing them. See docs/import.md.

Exit status: 0 imported and valid; 1 written but it does not build as is (the problems are
listed); otherwise not imported, nothing written (1, or 6 when --timeout passed).`,
		Example: `  fleetgate import --etcd-endpoints http://127.0.0.1:2379 --prefix /apisix --out repo/production
  fleetgate import --etcd-endpoints https://etcd-1:2379 --etcd-ca-file ca.pem --etcd-user reader \
      --etcd-password-file /run/secrets/etcd --out repo/production
  fleetgate import --admin-url http://127.0.0.1:9180 --admin-key-file /run/secrets/admin-key --out repo/edge`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := bf.options()
			if err != nil {
				return err
			}
			return runImport(cmd.Context(), cmd.OutOrStdout(), f, opts)
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&f.etcdEndpoints, "etcd-endpoints", nil, "import from APISIX's etcd at these endpoints (http:// or https://)")
	fs.StringVar(&f.prefix, "prefix", "/apisix", "APISIX's etcd prefix (etcd.prefix in its config.yaml)")
	fs.StringVar(&f.etcd.user, "etcd-user", "", "etcd user to log in as (read on --prefix is enough); its password comes from --etcd-password-file or $"+etcdPasswordEnv)
	fs.StringVar(&f.etcd.passwordFile, "etcd-password-file", "", "file holding the etcd user's password; default $"+etcdPasswordEnv)
	fs.StringVar(&f.etcd.caFile, "etcd-ca-file", "", "CA bundle that verifies etcd's certificate (default: the system roots for https:// endpoints)")
	fs.StringVar(&f.etcd.certFile, "etcd-cert-file", "", "client certificate for etcd's client TLS")
	fs.StringVar(&f.etcd.keyFile, "etcd-key-file", "", "client key for etcd's client TLS")
	fs.StringVar(&f.etcd.sni, "etcd-sni", "", "TLS server name to verify etcd's certificate as (default: the endpoint's host)")
	fs.BoolVar(&f.etcd.verify, "etcd-tls-verify", true, "verify etcd's certificate; false is for labs only")
	fs.StringVar(&f.adminURL, "admin-url", "", "import from APISIX's standalone Admin API at this URL (e.g. http://127.0.0.1:9180)")
	fs.StringVar(&f.adminKeyFile, "admin-key-file", "", "file holding APISIX's admin key (deployment.admin.admin_key); default $"+adminKeyEnv)
	fs.StringVar(&f.adminCA, "admin-ca-file", "", "CA bundle that verifies the Admin API's certificate (https:// URLs; default: the system roots)")
	fs.StringVar(&f.adminCert, "admin-cert-file", "", "client certificate for the Admin API's mutual TLS")
	fs.StringVar(&f.adminCertKey, "admin-cert-key-file", "", "client key of --admin-cert-file")
	fs.StringVar(&f.out, "out", "", "directory to write the layout into (created if missing; must hold no config file)")
	fs.BoolVar(&f.replace, "replace", false, "overwrite the <collection>.yaml files of an earlier import in --out")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long the import may take")
	bf = addBuildFlags(cmd)
	return cmd
}

func runImport(ctx context.Context, w io.Writer, f *importFlags, opts snapshot.Options) error {
	if f.out == "" {
		return errors.New("--out DIR is required: the directory to write the layout into")
	}
	if (len(f.etcdEndpoints) > 0) == (f.adminURL != "") {
		return errors.New("give exactly one source: --etcd-endpoints (an etcd-backed APISIX) or --admin-url (APISIX in API-driven standalone mode)")
	}
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout %s: want a positive duration such as 30s", f.timeout)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var cfg *importer.Config
	var err error
	if f.adminURL != "" {
		cfg, err = importAdminAPI(ctx, f)
	} else {
		cfg, err = importEtcd(ctx, f)
	}
	if err != nil {
		return err
	}
	files, err := cfg.WriteDir(f.out, f.replace)
	if err != nil {
		return err
	}
	counts := cfg.Counts()
	var parts []string
	for _, file := range files {
		col := strings.TrimSuffix(file.Name, ".yaml")
		parts = append(parts, fmt.Sprintf("%s (%d)", file.Name, counts[col]))
	}
	fmt.Fprintf(w, "imported %d resources from %s\n", cfg.Len(), cfg.Source)
	fmt.Fprintf(w, "wrote %s: %s\n", f.out, strings.Join(parts, ", "))
	for _, n := range cfg.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	layer, err := cfg.Layer(f.out)
	if err != nil {
		return err
	}
	s, err := snapshot.Build([]snapshot.Layer{layer}, opts, snapshot.Meta{})
	var be *snapshot.BuildError
	if errors.As(err, &be) {
		for _, p := range be.Problems {
			fmt.Fprintln(w, p.String())
		}
		return &exitError{code: 1, err: fmt.Errorf("the import was written to %s but does not build as is (checked as APISIX %s): %d problems above; fix them (a gateway's own plugins need --custom-plugin) and run fleetgate validate %s",
			f.out, opts.APISIXVersion, len(be.Problems), f.out)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "builds:   %s, %d resources (%s), checked as APISIX %s\n", s.Digest, s.Len(), strings.Join(sortedCounts(s), ", "), opts.APISIXVersion)
	for _, warn := range s.Meta.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintf(w, "next:     commit %s, then start the agent with --ownership manifest: keys that already hold these values are adopted without being written\n", f.out)
	return nil
}

func importEtcd(ctx context.Context, f *importFlags) (*importer.Config, error) {
	sc, err := f.etcd.config(f.etcdEndpoints, os.Getenv)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: f.etcdEndpoints, TLS: sc.TLS, Username: sc.Username, Password: sc.Password,
		DialTimeout: 5 * time.Second, Context: ctx, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(f.etcdEndpoints, ","), err)
	}
	defer cli.Close()
	cfg, err := importer.FromEtcd(ctx, cli, f.prefix)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w (etcd at %s gave no answer within --timeout %s: is it reachable, and are the TLS flags right?)",
			err, strings.Join(f.etcdEndpoints, ","), f.timeout)
	}
	if err != nil {
		return nil, err
	}
	cfg.Source = "etcd " + strings.Join(f.etcdEndpoints, ",") + " " + strings.TrimPrefix(cfg.Source, "etcd ")
	return cfg, nil
}

func importAdminAPI(ctx context.Context, f *importFlags) (*importer.Config, error) {
	key := os.Getenv(adminKeyEnv)
	if f.adminKeyFile != "" {
		b, err := os.ReadFile(f.adminKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-key-file: %w", err)
		}
		key = strings.TrimRight(string(b), "\r\n")
		if key == "" {
			return nil, fmt.Errorf("--admin-key-file %s is empty", f.adminKeyFile)
		}
	}
	if key == "" {
		return nil, fmt.Errorf("--admin-url needs APISIX's admin key: --admin-key-file FILE or $%s", adminKeyEnv)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if f.adminCA != "" || f.adminCert != "" || f.adminCertKey != "" {
		if !strings.HasPrefix(f.adminURL, "https://") {
			return nil, fmt.Errorf("--admin-url %s is not https:// but TLS flags are given (--admin-ca-file, --admin-cert-file, --admin-cert-key-file)", f.adminURL)
		}
		t, err := tlsfiles.Client(tlsfiles.Files{CAFile: f.adminCA, CertFile: f.adminCert, KeyFile: f.adminCertKey}, "")
		if err != nil {
			return nil, fmt.Errorf("--admin-ca-file/--admin-cert-file/--admin-cert-key-file: %w", err)
		}
		tr.TLSClientConfig = t
	}
	return importer.FromAdminAPI(ctx, &http.Client{Transport: tr}, f.adminURL, key)
}
