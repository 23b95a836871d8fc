package store

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// StartEmbedded starts a single-node etcd server with its data in dir, listening on loopback
// only, and returns its client endpoints and a function that stops it. The ports are chosen
// once and remembered in dir/ports, so a restart on the same directory comes back on the same
// address. It is the default store: nothing to install.
func StartEmbedded(ctx context.Context, dir string) ([]string, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("embedded etcd: create data dir: %w", err)
	}
	clientPort, peerPort, err := ports(dir)
	if err != nil {
		return nil, nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "fleetgate"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.LogLevel = "warn"
	// etcd's own log goes to a file beside its data: its shutdown chatter would otherwise
	// bury the control plane's (and the demo's) output.
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded etcd in %s (ports %d, %d; remove %s to pick new ones): %w",
			dir, clientPort, peerPort, filepath.Join(dir, "ports"), err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-ctx.Done():
		e.Close()
		return nil, nil, ctx.Err()
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, nil, fmt.Errorf("embedded etcd in %s not ready after 60s", dir)
	}
	return []string{cu.String()}, func() {
		e.Close()
		<-e.Err()
	}, nil
}

func ports(dir string) (int, int, error) {
	p := filepath.Join(dir, "ports")
	if b, err := os.ReadFile(p); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			c, err1 := strconv.Atoi(f[0])
			q, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				return c, q, nil
			}
		}
	}
	c, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	q, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(p, []byte(fmt.Sprintf("%d %d\n", c, q)), 0o600); err != nil {
		return 0, 0, fmt.Errorf("embedded etcd: %w", err)
	}
	return c, q, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("embedded etcd: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
