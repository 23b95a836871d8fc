package testutil

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Etcd is a real etcd server running inside the test process.
type Etcd struct {
	Server   *embed.Etcd
	Endpoint string
	Dir      string

	stopOnce sync.Once
}

// Stop stops the server (to test an outage); the data directory stays. It is safe to call
// more than once, and the test's cleanup calls it too.
func (e *Etcd) Stop() { e.stopOnce.Do(e.Server.Close) }

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartEtcd starts an embedded single-node etcd on loopback ports with its data in a
// temporary directory, and stops it when the test ends.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	return StartEtcdDir(t, t.TempDir())
}

// StartEtcdDir is StartEtcd with a given data directory (to test restarts).
func StartEtcdDir(t testing.TB, dir string) *Etcd {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		e, err := startEtcd(dir, FreePort(t), FreePort(t))
		if err == nil {
			t.Cleanup(e.Stop)
			return e
		}
		lastErr = err
	}
	t.Fatalf("start embedded etcd: %v", lastErr)
	return nil
}

func startEtcd(dir string, clientPort, peerPort int) (*Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready after 30s")
	}
	return &Etcd{Server: e, Endpoint: cu.String(), Dir: dir}, nil
}

// Client returns a client of e, closed when the test ends.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
