package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// ha is a highly available control plane: two replicas sharing a 3-member etcd cluster,
// following a config repository served by a git daemon that the test can stop.
type ha struct {
	t        *testing.T
	etcd     *testutil.EtcdCluster
	store    *clientv3.Client
	repo     *testutil.Repo
	git      *testutil.GitDaemon
	replicas map[string]*haReplica
	history  *historyWatch
}

// haReplica is one control plane process and its admin address.
type haReplica struct {
	name, grpc string
	proc       *proc
}

// startHA starts the etcd cluster (with extra etcd flags), the git daemon with the example
// repository committed once, and the named replicas, in order.
func startHA(t *testing.T, etcdFlags []string, names ...string) *ha {
	testutil.RequireGit(t)
	h := &ha{t: t, replicas: map[string]*haReplica{}}
	h.etcd = testutil.StartEtcdCluster(t, 3, etcdFlags...)
	h.store = h.etcd.Client(t)
	served := t.TempDir()
	h.repo = testutil.NewRepoAt(t, filepath.Join(served, "gateway-config"))
	seedRepo(t, h.repo)
	h.git = testutil.StartGitDaemonServer(t, served)
	h.history = watchHistory(t, h.store, "production", h.repo.Head())
	for _, n := range names {
		h.start(n)
	}
	return h
}

// start starts replica name (its data directory, so its Git cache, kept across restarts).
func (h *ha) start(name string) *haReplica {
	t := h.t
	r := &haReplica{name: name, grpc: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg := fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
sources:
  - name: gitops
    url: %s
    ref: main
    interval: 1s
groups:
  - name: production
    source: gitops
    paths: [base, production]
`, filepath.Join(t.TempDir(), "cp-"+name), r.grpc, httpAddr, h.git.URL+"gateway-config")
	path := filepath.Join(t.TempDir(), name+".yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	r.proc = startProc(t, "controlplane-"+name, "controlplane", "--config", path,
		"--store-endpoints", strings.Join(h.etcd.Endpoints(), ","), "--replica-name", name)
	waitHTTP(t, "http://"+httpAddr+"/readyz")
	h.replicas[name] = r
	return r
}

// status asks replica r for the status; nil when it does not answer.
func (h *ha) status(r *haReplica) *fleetgatev1.GetStatusResponse {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := execCLI(ctx, "status", "-o", "json", "--server", r.grpc)
	if err != nil {
		return nil
	}
	st := &fleetgatev1.GetStatusResponse{}
	if testutil.UnmarshalCLI([]byte(out), st) != nil {
		return nil
	}
	return st
}

// waitLeader waits until replica r says it leads.
func (h *ha) waitLeader(r *haReplica) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { st := h.status(r); return st != nil && st.GetLeader() }, 45*time.Second, 200*time.Millisecond,
		"replica %s never became leader", r.name)
}

// leader returns the replica that leads now (waiting for one).
func (h *ha) leader() *haReplica {
	h.t.Helper()
	var l *haReplica
	require.Eventually(h.t, func() bool {
		for _, r := range h.replicas {
			if st := h.status(r); st != nil && st.GetLeader() {
				l = r
				return true
			}
		}
		return false
	}, 45*time.Second, 200*time.Millisecond, "no replica leads")
	return l
}

// headCommit returns the commit of the stored head of production ("" if none).
func (h *ha) headCommit() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := h.store.Get(ctx, "/fleetgate/groups/production/head")
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	m := &fleetgatev1.SnapshotMeta{}
	if proto.Unmarshal(resp.Kvs[0].Value, m) != nil {
		return ""
	}
	return m.GetCommit()
}

// waitHead waits until the stored head of production is commit.
func (h *ha) waitHead(commit string, within time.Duration) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.headCommit() == commit }, within, 100*time.Millisecond,
		"head of production never reached %s (is %s)", commit, h.headCommit())
}

// commit changes the production config (a new route each time), commits and returns the sha.
func (h *ha) commit(n int) string {
	h.repo.Write(fmt.Sprintf("production/drill-%d.yaml", n), fmt.Sprintf(`routes:
  - id: drill-%d
    uri: /drill/%d
    upstream: {type: roundrobin, nodes: {"drill.internal:80": 1}}
`, n, n))
	sha := h.repo.Commit(fmt.Sprintf("drill commit %d", n))
	h.history.commitMade(sha)
	return sha
}

// historyWatch follows the versions stored for a group and counts those built from a commit
// older than (or equal to) one already stored: each would be a rollback of the fleet (the
// group is not pinned, so every new version becomes desired).
type historyWatch struct {
	mu       sync.Mutex
	order    map[string]int // commit -> position in the linear history
	versions []string       // commits of the versions, in storage order
	newest   int
	stale    []string
}

func watchHistory(t *testing.T, cli *clientv3.Client, group, seed string) *historyWatch {
	w := &historyWatch{order: map[string]int{seed: 0}, newest: -1}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := cli.Watch(ctx, "/fleetgate/groups/"+group+"/history/", clientv3.WithPrefix(), clientv3.WithRev(1))
	go func() {
		for resp := range ch {
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut || ev.Kv.CreateRevision != ev.Kv.ModRevision {
					continue // a deletion (prune) or an update of a kept version (approve)
				}
				m := &fleetgatev1.SnapshotMeta{}
				if proto.Unmarshal(ev.Kv.Value, m) != nil {
					continue
				}
				w.add(m)
			}
		}
	}()
	return w
}

func (w *historyWatch) commitMade(sha string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.order[sha] = len(w.order)
}

func (w *historyWatch) add(m *fleetgatev1.SnapshotMeta) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pos, ok := w.order[m.GetCommit()]
	if !ok {
		pos = -1
	}
	w.versions = append(w.versions, fmt.Sprintf("%d:%s", m.GetSequence(), shortSHA(m.GetCommit())))
	if pos <= w.newest {
		w.stale = append(w.stale, fmt.Sprintf("version %d from commit %s (position %d) after position %d", m.GetSequence(), shortSHA(m.GetCommit()), pos, w.newest))
		return
	}
	w.newest = pos
}

// report returns the stale versions seen and every version stored, in order.
func (w *historyWatch) report() (stale, versions []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.stale...), append([]string(nil), w.versions...)
}

func shortSHA(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

// TestFailoverNeverBuildsStaleCache is issue 11 §2: a replica that led before takes over with
// its Git cache behind the stored head, once with Git unreachable. It must not build its
// cached revision: no version older than the head is stored (and so none becomes desired),
// and no commit is stored twice.
func TestFailoverNeverBuildsStaleCache(t *testing.T) {
	h := startHA(t, nil, "b")
	b := h.replicas["b"]
	h.waitLeader(b)
	c1 := h.repo.Head()
	h.waitHead(c1, 30*time.Second)

	a := h.start("a")
	b.proc.kill() // b's cache stays at c1
	h.waitLeader(a)
	c2 := h.commit(2)
	h.waitHead(c2, 30*time.Second)

	b.proc.restart() // a follower: it does not fetch, its cache is still at c1
	h.git.Stop()     // Git unreachable at the takeover
	a.proc.kill()
	h.waitLeader(b)
	require.Eventually(t, func() bool {
		st := h.status(b)
		return st != nil && len(st.GetSources()) == 1 && st.GetSources()[0].GetLastError() != ""
	}, 30*time.Second, 200*time.Millisecond, "the new leader never tried to fetch")
	require.Equal(t, c2, h.headCommit(), "with Git unreachable the new leader stored its cached revision")

	h.git.Restart()
	a.proc.restart()
	c3 := h.commit(3)
	h.waitHead(c3, 30*time.Second)
	stale, versions := h.history.report()
	require.Empty(t, stale, "versions older than the head were stored (history: %v)", versions)
	seen := map[string]bool{}
	for _, v := range versions {
		_, commit, _ := strings.Cut(v, ":")
		require.False(t, seen[commit], "commit %s stored twice (history: %v)", commit, versions)
		seen[commit] = true
	}
}

// TestFailoverDrill kills the leading replica (kill -9) at random moments after commits,
// with Git reachable and not (every other run), and counts the versions older than the stored
// head that were stored (each would become desired). FLEETGATE_DRILL_RUNS sets the runs
// (default 2; issue 11 asks for 10).
func TestFailoverDrill(t *testing.T) {
	runs := 2
	if v := os.Getenv("FLEETGATE_DRILL_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "FLEETGATE_DRILL_RUNS")
		runs = n
	}
	h := startHA(t, nil, "a", "b")
	h.waitHead(h.repo.Head(), 30*time.Second)
	kills, unreachable := 0, 0
	next := 1
	for run := range runs {
		l := h.leader()
		var f *haReplica
		for _, r := range h.replicas {
			if r != l {
				f = r
			}
		}
		// One commit built by the leader first, so that the follower's cache is behind the
		// stored head, then one the leader may or may not have fetched or built at the kill.
		h.waitHead(h.commit(next), 30*time.Second)
		last := h.commit(next + 1)
		next += 2
		gitDown := run%2 == 1
		delay := time.Duration(rand.IntN(1500)) * time.Millisecond
		time.Sleep(delay) // the random moment of the kill, not a synchronization
		if gitDown {
			h.git.Stop()
			unreachable++
		}
		l.proc.kill()
		kills++
		l.proc.restart()
		h.waitLeader(f)
		if gitDown {
			require.Eventually(t, func() bool {
				st := h.status(f)
				return st != nil && len(st.GetSources()) == 1 && st.GetSources()[0].GetLastError() != ""
			}, 30*time.Second, 200*time.Millisecond, "the new leader never tried to fetch")
			h.git.Restart()
		}
		h.waitHead(last, 45*time.Second)
		t.Logf("run %d: killed leader %s %v after the commit, git reachable=%v, new leader %s", run+1, l.name, delay, !gitDown, f.name)
	}
	stale, versions := h.history.report()
	refused := 0
	for _, r := range h.replicas {
		b, err := os.ReadFile(r.proc.log)
		require.NoError(t, err)
		refused += strings.Count(string(b), "revision not built: older than the one built")
	}
	t.Logf("drill: %d runs, %d leader kills (%d with Git unreachable), %d versions stored, %d stale revisions refused by a new leader, %d versions older than the stored head became desired",
		runs, kills, unreachable, len(versions), refused, len(stale))
	require.Empty(t, stale, "versions older than the head were stored (history: %v)", versions)
}

// TestStoreErrorDuringBuildIsRetried is issue 11 §3: the store refuses writes while a commit
// is built (the 3-member cluster is out of space), and its leader is killed meanwhile. The
// build is not dropped: status shows the pending commit and the error, and once the store
// takes writes again the commit is stored without a new push.
func TestStoreErrorDuringBuildIsRetried(t *testing.T) {
	h := startHA(t, []string{"--quota-backend-bytes", strconv.Itoa(8 << 20)}, "a", "b")
	h.waitHead(h.repo.Head(), 30*time.Second)
	l := h.leader()

	// Fill the store until etcd raises its NOSPACE alarm: every write fails from now on.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	filler := strings.Repeat("x", 512<<10)
	for i := 0; ; i++ {
		_, err := h.store.Put(ctx, fmt.Sprintf("/filler/%d", i), filler)
		if err != nil {
			require.Contains(t, err.Error(), "database space exceeded")
			break
		}
		require.Less(t, i, 200, "the store never ran out of space")
	}

	c2 := h.commit(2)
	var src *fleetgatev1.SourceStatus
	require.Eventually(t, func() bool {
		st := h.status(l)
		if st == nil || len(st.GetSources()) != 1 {
			return false
		}
		src = st.GetSources()[0]
		return src.GetPendingCommit() == c2 && src.GetPendingError() != ""
	}, 30*time.Second, 200*time.Millisecond, "status never showed %s pending", c2)
	t.Logf("pending: %s after %d attempts: %s", shortSHA(src.GetPendingCommit()), src.GetPendingAttempts(), src.GetPendingError())
	require.Contains(t, src.GetPendingError(), "space")
	out, code := cli(t, "status", "--server", l.grpc)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "not stored yet")

	// The store's leader dies; then space is freed and the alarm cleared.
	dead := h.etcd.Leader(t)
	h.etcd.Kill(dead)
	// Each call is retried until the cluster answers again (the one in flight when its leader
	// died times out).
	retry := func(what string, op func() error) {
		var err error
		require.Eventually(t, func() bool { err = op(); return err == nil }, 30*time.Second, 100*time.Millisecond, "%s: %v", what, err)
	}
	retry("delete filler", func() error { _, err := h.store.Delete(ctx, "/filler/", clientv3.WithPrefix()); return err })
	retry("compact", func() error {
		resp, err := h.store.Get(ctx, "/", clientv3.WithCountOnly())
		if err == nil {
			_, err = h.store.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical())
		}
		if err != nil && strings.Contains(err.Error(), "has been compacted") {
			return nil // an earlier attempt did it
		}
		return err
	})
	for i, m := range h.etcd.Members {
		if i != dead {
			retry("defragment "+m.Name, func() error { _, err := h.store.Defragment(ctx, m.Endpoint); return err })
		}
	}
	retry("disarm", func() error { _, err := h.store.AlarmDisarm(ctx, &clientv3.AlarmMember{}); return err })

	h.waitHead(c2, 45*time.Second)
	require.Eventually(t, func() bool {
		st := h.status(l)
		return st != nil && len(st.GetSources()) == 1 && st.GetSources()[0].GetPendingCommit() == ""
	}, 30*time.Second, 200*time.Millisecond, "status still shows a pending commit")
	stale, versions := h.history.report()
	require.Empty(t, stale, "history: %v", versions)
}

// execCLI runs a fleetgate verb quietly and returns its standard output; an exit code other
// than 0 is an error.
func execCLI(ctx context.Context, args ...string) (string, error) {
	var out strings.Builder
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Stdout = &out
	err := cmd.Run()
	return out.String(), err
}
