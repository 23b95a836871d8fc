package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/internal/tlsfiles"
)

// storeProbeTimeout bounds the first read that proves the store answers.
const storeProbeTimeout = 15 * time.Second

// openStore starts the embedded etcd server when no endpoints are configured, connects to
// the store and checks that it answers. close stops what it started, in reverse order.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (st *store.Store, embedded bool, close func(), err error) {
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			close()
		}
	}()
	embedded = len(cfg.Store.Endpoints) == 0
	endpoints := cfg.Store.Endpoints
	if embedded {
		eps, stop, err := store.StartEmbedded(ctx, cfg.EtcdDir())
		if err != nil {
			return nil, true, close, fmt.Errorf("start the embedded store (data_dir %s): %w", cfg.DataDir, err)
		}
		closers = append(closers, stop)
		endpoints = eps
		log.Info("embedded etcd store started", "dir", cfg.EtcdDir(), "endpoint", eps[0])
	}
	cli, err := etcdClient(cfg.Store, endpoints)
	if err != nil {
		return nil, embedded, close, err
	}
	closers = append(closers, func() { _ = cli.Close() })
	st = store.New(cli)
	pctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
	defer cancel()
	if err := st.Ping(pctx); err != nil {
		return nil, embedded, close, fmt.Errorf("store %s unreachable: %w", strings.Join(endpoints, ","), err)
	}
	return st, embedded, close, nil
}

// etcdClient connects to the store's etcd with the configured TLS and credentials.
func etcdClient(c config.Store, endpoints []string) (*clientv3.Client, error) {
	cc := clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, DialKeepAliveTime: 30 * time.Second}
	if t := c.TLS; t != nil {
		tc, err := tlsfiles.Client(tlsfiles.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}, "")
		if err != nil {
			return nil, fmt.Errorf("store.tls: %w", err)
		}
		cc.TLS = tc
	}
	if c.Username != "" {
		cc.Username = c.Username
		if c.PasswordFile != "" {
			b, err := os.ReadFile(c.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("store.password_file: %w", err)
			}
			cc.Password = strings.TrimSpace(string(b))
		}
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("connect to store %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}
