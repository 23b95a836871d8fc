package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/fleetgate/fleetgate/test/testutil"
)

// series is one sample of a scrape: its labels and value.
type series struct {
	labels map[string]string
	value  float64
}

// scrape is a /metrics page by series name: a histogram family x is there as x_bucket (with
// le), x_count and x_sum, as PromQL sees it.
type scrape map[string][]series

// scrapeMetrics GETs url (a /metrics page in Prometheus' text format) and parses it; nil if
// the server does not answer (yet).
func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "parse %s", url)
	s := scrape{}
	for name, fam := range fams {
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			with := func(k, v string) map[string]string {
				c := make(map[string]string, len(labels)+1)
				for a, b := range labels {
					c[a] = b
				}
				c[k] = v
				return c
			}
			switch {
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					s[name+"_bucket"] = append(s[name+"_bucket"], series{with("le", fmt.Sprint(b.GetUpperBound())), float64(b.GetCumulativeCount())})
				}
				s[name+"_bucket"] = append(s[name+"_bucket"], series{with("le", "+Inf"), float64(h.GetSampleCount())})
				s[name+"_count"] = append(s[name+"_count"], series{labels, float64(h.GetSampleCount())})
				s[name+"_sum"] = append(s[name+"_sum"], series{labels, h.GetSampleSum()})
			case m.GetCounter() != nil:
				s[name] = append(s[name], series{labels, m.GetCounter().GetValue()})
			case m.GetGauge() != nil:
				s[name] = append(s[name], series{labels, m.GetGauge().GetValue()})
			case m.GetUntyped() != nil:
				s[name] = append(s[name], series{labels, m.GetUntyped().GetValue()})
			}
		}
	}
	return s
}

// value sums the series of name whose labels include match; ok is false when none does.
func (s scrape) value(name string, match map[string]string) (v float64, ok bool) {
	for _, sr := range s[name] {
		all := true
		for k, want := range match {
			if sr.labels[k] != want {
				all = false
				break
			}
		}
		if all {
			v, ok = v+sr.value, true
		}
	}
	return v, ok
}

// labelNames returns every label name the series of name carry.
func (s scrape) labelNames(name string) map[string]bool {
	out := map[string]bool{}
	for _, sr := range s[name] {
		for k := range sr.labels {
			out[k] = true
		}
	}
	return out
}

// metricsFleet is a control plane following two sources (gitops, with a GitHub webhook; and
// signed, which only accepts signed commits), with two gateway nodes in production whose
// agents serve /metrics: gw-main writes into an etcd and reports drift without healing it,
// gw-small writes into an etcd that refuses requests over 32 KiB.
type metricsFleet struct {
	*fleet
	git         *testutil.GitDaemon
	secret      string
	main, small string // the agents' /metrics URLs
	mainNode    *node
}

// startMetricsFleet starts the Git server, the control plane and the two nodes of a
// metricsFleet.
func startMetricsFleet(t *testing.T) *metricsFleet {
	t.Helper()
	testutil.RequireGit(t)
	f := &metricsFleet{fleet: &fleet{t: t}, secret: "metrics-webhook-secret"}
	served := t.TempDir()
	f.repo = testutil.NewRepoAt(t, filepath.Join(served, "gateway-config"))
	seedRepo(t, f.repo)
	// The signed source's head is unsigned: refused at the first fetch.
	seedRepo(t, testutil.NewRepoAt(t, filepath.Join(served, "signed-config")))
	_, pub := testutil.NewSigningKey(t, "Release Manager")
	f.git = testutil.StartGitDaemonServer(t, served)

	dir := t.TempDir()
	secretFile, keysFile := filepath.Join(dir, "webhook-secret"), filepath.Join(dir, "keys.asc")
	require.NoError(t, os.WriteFile(secretFile, []byte(f.secret+"\n"), 0o600))
	require.NoError(t, os.WriteFile(keysFile, []byte(pub), 0o644))
	f.grpcAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	f.httpAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg := fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
sources:
  - name: gitops
    url: %sgateway-config
    ref: main
    interval: 1h
    webhook: {type: github, secret_file: %s}
  - name: signed
    url: %ssigned-config
    ref: main
    interval: 1h
    signing_keys_file: %s
groups:
  - name: production
    source: gitops
    paths: [base, production]
  - name: signed
    source: signed
    paths: [base, production]
`, filepath.Join(dir, "cp"), f.grpcAddr, f.httpAddr, f.git.URL, secretFile, f.git.URL, keysFile)
	cfgPath := filepath.Join(dir, "controlplane.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	f.cp = startProc(t, "controlplane", "controlplane", "--config", cfgPath)
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")

	agent := func(id, endpoint string, extra ...string) string {
		addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
		startProc(t, id, append([]string{"agent", "--controlplane", f.grpcAddr, "--group", "production", "--node-id", id,
			"--sink", "etcd", "--etcd-endpoints", endpoint, "--etcd-prefix", prefix,
			"--state-dir", filepath.Join(t.TempDir(), "state"), "--http-addr", addr,
			"--status-interval", "500ms", "--backoff-max", "1s"}, extra...)...)
		return "http://" + addr + "/metrics"
	}
	f.mainNode = &node{id: "gw-main", group: "production", etcd: testutil.StartEtcd(t)}
	f.mainNode.cli = f.mainNode.etcd.Client(t)
	f.main = agent("gw-main", f.mainNode.etcd.Endpoint, "--drift", "report")
	small := newEtcdProc(t)
	small.args = append(small.args, "--max-request-bytes", "32768")
	small.start()
	f.small = agent("gw-small", small.endpoint)
	return f
}

// commit writes files in the work tree, commits, and asks the control plane to fetch the
// gitops source now (a sync of every source fails: the signed one refuses its head).
func (f *metricsFleet) commit(msg string, files map[string]string) {
	f.t.Helper()
	for path, content := range files {
		f.repo.Write(path, content)
	}
	f.repo.Commit(msg)
	out, code := f.admin("sync", "gitops")
	require.Equal(f.t, 0, code, "fleetgate sync gitops: %s", out)
}

// cpScrape scrapes the control plane.
func (f *metricsFleet) cpScrape() scrape { return scrapeMetrics(f.t, "http://"+f.httpAddr+"/metrics") }

// eventually waits until cond holds of a scrape of url, and returns that scrape.
func (f *metricsFleet) eventually(url, what string, cond func(s scrape) bool) scrape {
	f.t.Helper()
	var last scrape
	require.Eventually(f.t, func() bool {
		last = scrapeMetrics(f.t, url)
		return last != nil && cond(last)
	}, 30*time.Second, 100*time.Millisecond, "%s never showed %s", url, what)
	return last
}

// webhook POSTs a GitHub push delivery to the gitops source, signed with secret, and returns
// the status code.
func (f *metricsFleet) webhook(secret string) int {
	f.t.Helper()
	body := []byte(`{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}`)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+f.httpAddr+"/webhooks/gitops", bytes.NewReader(body))
	require.NoError(f.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("e2e-%d", time.Now().UnixNano()))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(f.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// bigRoute is a route of 2000 URIs: its snapshot is over 32 KiB, which gw-small's etcd
// refuses ("etcdserver: request is too large").
func bigRoute() string {
	var b strings.Builder
	b.WriteString("routes:\n  - id: catalog-items\n    uris:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "      - /catalog/item-%05d\n", i)
	}
	b.WriteString("    upstream: {type: roundrobin, nodes: {\"catalog.internal:8080\": 1}}\n")
	return b.String()
}

// TestMetricsOfARunningFleet (issue 16) scrapes /metrics of a running control plane and of
// two agents (fleetgate agent --http-addr) while a commit converges, a commit fails to build,
// a node NACKs a version, a node drifts, webhooks arrive and the Git server goes away, and
// asserts that each metric moves as docs/monitoring.md says. It then checks the shipped
// alert rules and Grafana dashboard (deploy/monitoring) against those scrapes: every metric
// they name is served (histograms by their _bucket/_count series) and carries the labels the
// expressions aggregate and match on. `fleetgate wait` on the NACKed version exits 1 naming
// the node.
func TestMetricsOfARunningFleet(t *testing.T) {
	f := startMetricsFleet(t)
	prod := map[string]string{"group": "production"}

	// v1: the seed. Both agents apply it and say so.
	v1 := f.build("production")
	out, code := f.admin("wait", "production", "--timeout", "30s")
	require.Equal(t, 0, code, "fleetgate wait for v1: %s", out)
	for _, url := range []string{f.main, f.small} {
		f.eventually(url, "v1 applied over a connected stream", func(s scrape) bool {
			ok, _ := s.value("fleetgate_agent_writes_total", map[string]string{"result": "ok"})
			seq, _ := s.value("fleetgate_agent_applied_sequence", nil)
			conn, _ := s.value("fleetgate_agent_connected", nil)
			return ok >= 1 && seq == 1 && conn == 1
		})
	}
	f.eventually("http://"+f.httpAddr+"/metrics", "v1 converged", func(s scrape) bool {
		n, _ := s.value("fleetgate_group_nodes_converged", prod)
		c, _ := s.value("fleetgate_commit_to_converged_seconds_count", prod)
		return n == 2 && c == 1
	})

	t.Run("a commit converges", func(t *testing.T) {
		f.t = t
		f.commit("add the catalog route", catalogWeight(1))
		v2 := f.build("production")
		require.NotEqual(t, v1.Digest, v2.Digest)
		s := f.eventually("http://"+f.httpAddr+"/metrics", "v2 converged", func(s scrape) bool {
			added, _ := s.value("fleetgate_builds_total", map[string]string{"group": "production", "result": "added"})
			conv, _ := s.value("fleetgate_commit_to_converged_seconds_count", prod)
			info, _ := s.value("fleetgate_group_info", map[string]string{"group": "production", "desired_digest": v2.Digest,
				"desired_sequence": "2", "running_digest": v2.Digest, "running_sequence": "2", "pinned": "false", "frozen": "false"})
			return added == 2 && conv == 2 && info == 1
		})
		for name, want := range map[string]float64{"fleetgate_group_nodes": 2, "fleetgate_group_nodes_connected": 2,
			"fleetgate_group_nodes_converged": 2, "fleetgate_group_nodes_nacking": 0, "fleetgate_group_nodes_drifting": 0,
			"fleetgate_group_desired_sequence": 2, "fleetgate_group_head_sequence": 2, "fleetgate_group_pinned": 0} {
			v, ok := s.value(name, prod)
			require.True(t, ok, "%s{group=production} is served", name)
			require.Equal(t, want, v, name)
		}
		sum, _ := s.value("fleetgate_commit_to_converged_seconds_sum", prod)
		require.Greater(t, sum, 0.0, "commit-to-converged took some time")
		require.Less(t, sum, 60.0, "commit-to-converged of two versions in this test")
		buildCount, _ := s.value("fleetgate_build_duration_seconds_count", prod)
		require.GreaterOrEqual(t, buildCount, 2.0, "build duration observed per build")
		fetched, _ := s.value("fleetgate_git_fetches_total", map[string]string{"source": "gitops", "result": "ok"})
		require.GreaterOrEqual(t, fetched, 2.0, "the start and the sync fetched")
		_, ok := s.value("fleetgate_git_last_fetch_success_timestamp_seconds", map[string]string{"source": "gitops"})
		require.True(t, ok)
		leader, _ := s.value("fleetgate_leader", nil)
		require.Equal(t, 1.0, leader)
		for _, url := range []string{f.main, f.small} {
			f.eventually(url, "v2 applied", func(s scrape) bool {
				seq, _ := s.value("fleetgate_agent_applied_sequence", nil)
				return seq == 2
			})
		}
	})

	t.Run("a commit that does not build", func(t *testing.T) {
		f.t = t
		f.commit("typo in a plugin name", map[string]string{"base/bad.yaml": `routes:
  - id: bad
    uri: /bad
    plugins:
      rate-limit: {rate: 100}
    upstream: {type: roundrobin, nodes: {"a:80": 1}}
`})
		s := f.eventually("http://"+f.httpAddr+"/metrics", "a failed build", func(s scrape) bool {
			failed, _ := s.value("fleetgate_builds_total", map[string]string{"group": "production", "result": "failed"})
			return failed == 1
		})
		seq, _ := s.value("fleetgate_group_desired_sequence", prod)
		require.Equal(t, 2.0, seq, "a failed build changes nothing")
		f.repo.Remove("base/bad.yaml")
	})

	var convergedBefore float64
	t.Run("a NACK", func(t *testing.T) {
		f.t = t
		f.commit("add 2000 catalog item routes", map[string]string{"production/items.yaml": bigRoute()})
		v3 := f.build("production")
		s := f.eventually("http://"+f.httpAddr+"/metrics", "gw-small nacking v3", func(s scrape) bool {
			nacking, _ := s.value("fleetgate_group_nodes_nacking", prod)
			desired, _ := s.value("fleetgate_group_desired_sequence", prod)
			info, _ := s.value("fleetgate_group_info", map[string]string{"group": "production", "desired_digest": v3.Digest})
			return nacking == 1 && desired == 3 && info == 1
		})
		nacks, _ := s.value("fleetgate_discovery_answers_total", map[string]string{"answer": "nack"})
		require.GreaterOrEqual(t, nacks, 1.0)
		convergedBefore, _ = s.value("fleetgate_commit_to_converged_seconds_count", prod)
		small := f.eventually(f.small, "a rejected write", func(s scrape) bool {
			rejected, _ := s.value("fleetgate_agent_writes_total", map[string]string{"result": "rejected", "node": "gw-small", "group": "production"})
			took, _ := s.value("fleetgate_agent_write_duration_seconds_count", map[string]string{"result": "rejected"})
			seq, _ := s.value("fleetgate_agent_applied_sequence", nil)
			return rejected >= 1 && took == rejected && seq == 2
		})
		avail, ok := small.value("fleetgate_agent_sink_available", nil)
		require.True(t, ok)
		require.Equal(t, 1.0, avail, "a refused version is a NACK, not an unusable sink")
		f.eventually(f.main, "v3 applied", func(s scrape) bool {
			seq, _ := s.value("fleetgate_agent_applied_sequence", nil)
			return seq == 3
		})

		// CI blocking on this rollout is told at once which node refused it and why.
		out, code := f.admin("wait", "production", "--timeout", "30s")
		require.Equal(t, 1, code, "fleetgate wait on a NACKed version: %s", out)
		require.Contains(t, out, "node gw-small refused #3")
		require.Contains(t, out, "too large", "the NACK carries etcd's refusal")
		out, code = f.admin("wait", "production", "--timeout", "30s", "-o", "json")
		require.Equal(t, 1, code, out)
		var res struct {
			Result string `json:"result"`
			Nacked string `json:"nacked_by"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		require.Equal(t, "nack", res.Result)
		require.Equal(t, "gw-small", res.Nacked)
	})

	t.Run("a drift", func(t *testing.T) {
		f.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		key := prefix + "/routes/catalog"
		_, err := f.mainNode.cli.Put(ctx, key, `{"id":"catalog","uri":"/hacked","upstream":{"type":"roundrobin","nodes":{"evil:80":1}}}`)
		require.NoError(t, err)
		f.eventually(f.main, "a drift event", func(s scrape) bool {
			d, _ := s.value("fleetgate_agent_drift_events_total", map[string]string{"node": "gw-main"})
			return d >= 1
		})
		f.eventually("http://"+f.httpAddr+"/metrics", "a drifting node", func(s scrape) bool {
			d, _ := s.value("fleetgate_group_nodes_drifting", prod)
			return d == 1
		})
	})

	t.Run("webhook deliveries", func(t *testing.T) {
		f.t = t
		gitopsOK := map[string]string{"source": "gitops", "result": "ok"}
		fetched, _ := f.cpScrape().value("fleetgate_git_fetches_total", gitopsOK)
		require.Equal(t, http.StatusAccepted, f.webhook(f.secret))
		require.Equal(t, http.StatusUnauthorized, f.webhook("not-the-secret"))
		f.eventually("http://"+f.httpAddr+"/metrics", "the deliveries counted and the accepted one's fetch done", func(s scrape) bool {
			ok, _ := s.value("fleetgate_git_webhook_deliveries_total", map[string]string{"source": "gitops", "result": "accepted"})
			bad, _ := s.value("fleetgate_git_webhook_deliveries_total", map[string]string{"source": "gitops", "result": "bad_signature"})
			now, _ := s.value("fleetgate_git_fetches_total", gitopsOK)
			return ok == 1 && bad == 1 && now == fetched+1
		})
	})

	t.Run("a failed fetch", func(t *testing.T) {
		f.t = t
		before, _ := f.cpScrape().value("fleetgate_git_last_fetch_success_timestamp_seconds", map[string]string{"source": "gitops"})
		f.git.Stop()
		out, code := f.admin("sync", "gitops")
		require.NotEqual(t, 0, code, "sync with the Git server down: %s", out)
		t.Logf("fleetgate sync with the Git server down: exit %d", code)
		s := f.eventually("http://"+f.httpAddr+"/metrics", "a failed fetch", func(s scrape) bool {
			failed, _ := s.value("fleetgate_git_fetches_total", map[string]string{"source": "gitops", "result": "failed"})
			dur, _ := s.value("fleetgate_git_fetch_duration_seconds_count", map[string]string{"source": "gitops", "result": "failed"})
			return failed >= 1 && dur >= 1
		})
		after, _ := s.value("fleetgate_git_last_fetch_success_timestamp_seconds", map[string]string{"source": "gitops"})
		require.Equal(t, before, after, "a failed fetch is not a successful one")
	})

	f.t = t
	// The signed source's unsigned head was refused at the first fetch.
	cp := f.cpScrape()
	rejected, _ := cp.value("fleetgate_git_commits_rejected_total", map[string]string{"source": "signed", "reason": "unsigned"})
	require.Equal(t, 1.0, rejected, "the unsigned head is counted once")
	refused, _ := cp.value("fleetgate_git_fetches_total", map[string]string{"source": "signed", "result": "rejected"})
	require.GreaterOrEqual(t, refused, 1.0, "the fetches of the signed source end rejected")
	conv, _ := cp.value("fleetgate_commit_to_converged_seconds_count", prod)
	require.Equal(t, convergedBefore, conv, "a version a node refused never converged")

	// Each agent series names its node and group (docs/monitoring.md, "Agent metrics").
	agents := []scrape{scrapeMetrics(t, f.main), scrapeMetrics(t, f.small)}
	for _, a := range agents {
		require.NotNil(t, a)
		for name, ss := range a {
			if !strings.HasPrefix(name, "fleetgate_agent_") {
				continue
			}
			for _, sr := range ss {
				require.Equal(t, "production", sr.labels["group"], "%s %v", name, sr.labels)
				require.Contains(t, []string{"gw-main", "gw-small"}, sr.labels["node"], "%s %v", name, sr.labels)
			}
		}
	}
	for _, url := range []string{f.main, f.small, "http://" + f.httpAddr + "/metrics"} {
		resp, err := http.Get(strings.TrimSuffix(url, "/metrics") + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s/healthz", url)
	}

	// The shipped monitoring files, and the metrics docs/monitoring.md lists, against what
	// was served.
	checkMonitoringFiles(t, append(agents, cp))
	checkMonitoringDoc(t, append(agents, cp))
}

// docRow is a row of a metrics table of docs/monitoring.md: its backticked names (first
// cell) and labels (third cell).
var (
	docRow  = regexp.MustCompile("(?m)^\\| *(`fleetgate_[^|]*)\\|[^|]*\\|([^|]*)\\|")
	docName = regexp.MustCompile("`([a-z_]+)`")
)

// checkMonitoringDoc checks the metric tables of docs/monitoring.md against scrapes of
// running processes: every metric listed is served (a histogram as its _bucket series) with
// the labels listed.
func checkMonitoringDoc(t *testing.T, scrapes []scrape) {
	t.Helper()
	raw, err := os.ReadFile("../../docs/monitoring.md")
	require.NoError(t, err)
	rows := docRow.FindAllStringSubmatch(string(raw), -1)
	require.Greater(t, len(rows), 20, "metric rows in docs/monitoring.md")
	for _, row := range rows {
		var labels []string
		for _, l := range docName.FindAllStringSubmatch(row[2], -1) {
			labels = append(labels, l[1])
		}
		for _, n := range docName.FindAllStringSubmatch(row[1], -1) {
			name, found := n[1], false
			for _, s := range scrapes {
				for _, series := range []string{name, name + "_bucket"} {
					if len(s[series]) == 0 {
						continue
					}
					found = true
					has := s.labelNames(series)
					for _, l := range labels {
						require.True(t, has[l], "docs/monitoring.md: %s has label %s, but the served %s has %v", name, l, series, has)
					}
				}
			}
			require.True(t, found, "docs/monitoring.md lists %s, which no running fleetgate served", name)
		}
	}
}

// promMetric finds the fleetgate metric names in a PromQL expression.
var promMetric = regexp.MustCompile(`\bfleetgate_[a-zA-Z0-9_]+`)

// promBy finds the label lists of by (...) clauses.
var promBy = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)

// promMatchers finds a selector's {...} matchers; promMatcher one label of them.
var (
	promMatchers = regexp.MustCompile(`\{([^{}]*)\}`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	promTemplate = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// exprLabels returns the label names expr aggregates by and matches on.
func exprLabels(expr string) (by, matched []string) {
	for _, m := range promBy.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				by = append(by, l)
			}
		}
	}
	for _, m := range promMatchers.FindAllStringSubmatch(expr, -1) {
		for _, l := range promMatcher.FindAllStringSubmatch(m[1], -1) {
			matched = append(matched, l[1])
		}
	}
	return by, matched
}

// monitoringExpr is one PromQL expression of deploy/monitoring.
type monitoringExpr struct {
	where, expr string
	templates   []string // an alert's annotation and label texts
}

// checkMonitoringFiles loads deploy/monitoring's alert rules and Grafana dashboard and
// checks them against scrapes of running processes (monitoringProblems).
func checkMonitoringFiles(t *testing.T, scrapes []scrape) {
	t.Helper()
	served := scrape{}
	for _, s := range scrapes {
		for name, ss := range s {
			served[name] = append(served[name], ss...)
		}
	}
	exprs, alerts := loadMonitoringExprs(t)
	require.GreaterOrEqual(t, alerts, 5, "alert rules")
	require.Greater(t, len(exprs)-alerts, 10, "dashboard queries")
	problems, named := monitoringProblems(exprs, served)
	require.Empty(t, problems, "deploy/monitoring does not match what fleetgate serves")
	require.Greater(t, named, 20, "metric references checked")
}

// loadMonitoringExprs returns the expressions of the alert rules (the first alerts of
// exprs) and of the dashboard's panels and template queries.
func loadMonitoringExprs(t *testing.T) (exprs []monitoringExpr, alerts int) {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/monitoring/alerts.yaml")
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			e := monitoringExpr{where: "alert " + r.Alert, expr: r.Expr}
			for _, m := range []map[string]string{r.Annotations, r.Labels} {
				for _, v := range m {
					e.templates = append(e.templates, v)
				}
			}
			exprs = append(exprs, e)
		}
	}
	alerts = len(exprs)

	raw, err = os.ReadFile("../../deploy/monitoring/grafana-dashboard.json")
	require.NoError(t, err)
	var dash any
	require.NoError(t, json.Unmarshal(raw, &dash))
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if s, ok := v[k].(string); ok && (k == "expr" || k == "query") && strings.Contains(s, "fleetgate_") {
					title, _ := v["title"].(string)
					exprs = append(exprs, monitoringExpr{where: "dashboard " + path + "." + k + " " + title, expr: s})
					continue
				}
				walk(path+"."+k, v[k])
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", dash)
	return exprs, alerts
}

// monitoringProblems checks exprs against served: each metric named is a served series (a
// histogram is queried as _bucket, _count or _sum), and carries every label its expression
// aggregates by or matches on; an alert's texts use only labels its expression keeps. It
// returns what is wrong and how many metric references it checked.
func monitoringProblems(exprs []monitoringExpr, served scrape) (problems []string, named int) {
	for _, e := range exprs {
		metrics := promMetric.FindAllString(e.expr, -1)
		if len(metrics) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %q names no fleetgate metric", e.where, e.expr))
		}
		by, matched := exprLabels(e.expr)
		for _, m := range metrics {
			named++
			if len(served[m]) == 0 {
				problems = append(problems, fmt.Sprintf("%s: %q names %s, which no running fleetgate serves (a histogram is queried as _bucket, _count or _sum)", e.where, e.expr, m))
				continue
			}
			has := served.labelNames(m)
			for _, l := range append(append([]string(nil), by...), matched...) {
				if !has[l] {
					problems = append(problems, fmt.Sprintf("%s: %q uses label %s, which %s does not carry", e.where, e.expr, l, m))
				}
			}
		}
		keeps := map[string]bool{}
		for _, l := range by {
			keeps[l] = true
		}
		if len(by) == 0 {
			for _, m := range metrics {
				for l := range served.labelNames(m) {
					keeps[l] = true
				}
			}
		}
		for _, text := range e.templates {
			for _, m := range promTemplate.FindAllStringSubmatch(text, -1) {
				if !keeps[m[1]] {
					problems = append(problems, fmt.Sprintf("%s: its text uses $labels.%s, which %q does not keep", e.where, m[1], e.expr))
				}
			}
		}
	}
	return problems, named
}

// The check of deploy/monitoring finds the mistakes it is there for: a metric not served, a
// histogram queried by its family name, a label the metric lacks, an alert text using a label
// the aggregation dropped. (No processes: a hand-made scrape.)
func TestMonitoringCheckFindsMistakes(t *testing.T) {
	served := scrape{
		"fleetgate_group_nodes_nacking":                {{labels: map[string]string{"group": "production"}, value: 1}},
		"fleetgate_commit_to_converged_seconds_bucket": {{labels: map[string]string{"group": "production", "le": "+Inf"}, value: 1}},
	}
	good := []monitoringExpr{
		{where: "ok", expr: `max by (group) (fleetgate_group_nodes_nacking{group=~"$group"}) > 0`, templates: []string{"{{ $labels.group }} nacks"}},
		{where: "ok hist", expr: `histogram_quantile(0.95, sum by (group, le) (rate(fleetgate_commit_to_converged_seconds_bucket[5m])))`},
	}
	problems, named := monitoringProblems(good, served)
	require.Empty(t, problems)
	require.Equal(t, 2, named)

	for _, bad := range []monitoringExpr{
		{where: "unknown", expr: `fleetgate_group_nodes_nacked > 0`},
		{where: "family", expr: `rate(fleetgate_commit_to_converged_seconds[5m])`},
		{where: "label by", expr: `max by (node) (fleetgate_group_nodes_nacking)`},
		{where: "label matcher", expr: `fleetgate_group_nodes_nacking{source="gitops"}`},
		{where: "text", expr: `max by (group) (fleetgate_group_nodes_nacking) > 0`, templates: []string{"{{ $labels.node }} nacks"}},
		{where: "no metric", expr: `up == 0`},
	} {
		problems, _ := monitoringProblems([]monitoringExpr{bad}, served)
		require.Len(t, problems, 1, "%s: %q", bad.where, bad.expr)
		t.Logf("%s", problems[0])
	}
}
