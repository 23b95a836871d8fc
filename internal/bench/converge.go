package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fleetgate/fleetgate/controlplane/config"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// ConvergeConfig configures RunConverge.
type ConvergeConfig struct {
	// Agents is the number of agents, each on its own connection. Default 1000.
	Agents int
	// Routes is the number of routes in the Git repository (plus routes/10 upstreams).
	// Default 10000.
	Routes int
	// Files is the number of files the routes are spread over. Default 500.
	Files int
	// Changes is the number of one-route commits measured. Default 20.
	Changes int
	// Child returns the command that runs the agents (RunAgents) against addr. Required.
	Child func(addr string, agents int) *exec.Cmd
	// Timeout bounds the first convergence and each change. Default 2 min.
	Timeout time.Duration
	// Poll is how often the control plane's /metrics are read while a change propagates:
	// the resolution of every stage time. Default 5 ms.
	Poll time.Duration
	// Dir is where the repositories and the control plane's data live. Default: a new
	// temporary directory, removed at the end.
	Dir string
	// Logger receives the control plane's logs and progress. Default: discard.
	Logger *slog.Logger
}

func (c *ConvergeConfig) defaults() error {
	if c.Agents <= 0 {
		c.Agents = 1000
	}
	if c.Routes <= 0 {
		c.Routes = 10000
	}
	if c.Files <= 0 {
		c.Files = 500
	}
	if c.Files > c.Routes {
		c.Files = c.Routes
	}
	if c.Changes <= 0 {
		c.Changes = 20
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = 5 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Child == nil {
		return errors.New("bench: ConvergeConfig.Child is required")
	}
	return nil
}

// Stages are the points a change passes, in order, each timed from the push's return.
var Stages = []string{"webhook", "fetch", "build", "store", "fleet", "first update", "last update", "last ack"}

// ConvergeChange is one measured commit.
type ConvergeChange struct {
	// Commit is the time to write and commit the file (not part of the path measured).
	Commit time.Duration
	// Push is the time `git push` took (not part of the path measured: the clock starts when
	// it returns, as a Git host's webhook is sent after the push is accepted).
	Push time.Duration
	// At holds, per entry of Stages, when the stage was seen done, from the push's return:
	// webhook answered (202), fetches counter up, builds counter up, head sequence up,
	// desired sequence up, first update sent, cfg.Agents updates sent, cfg.Agents ACKs.
	At []time.Duration
	// Curve is the number of agents that ACKed the change over time since the push (one
	// point per poll where the count changed).
	Curve []CurvePoint
	// Bytes is the update bytes sent for this change.
	Bytes int64
}

// CurvePoint is one point of a convergence curve.
type CurvePoint struct {
	At     time.Duration `json:"at"`
	Agents int           `json:"agents"`
}

// Total is from the push's return to the last ACK.
func (c ConvergeChange) Total() time.Duration { return c.At[len(c.At)-1] }

// ConvergeReport is what RunConverge measured.
type ConvergeReport struct {
	Agents, Routes, Files int
	// Initial is from the agents' start to all converged on the first version.
	Initial time.Duration
	// Poll is the resolution of the stage times.
	Poll    time.Duration
	Changes []ConvergeChange
	// P50 and Max are of the changes' totals (push returned -> last ACK).
	P50, Max time.Duration
	// Share is, per entry of Stages, the stage's mean share of the total: the time from
	// the previous stage (the push for the first) to it, summed over the changes, divided
	// by the sum of the totals.
	Share []float64
}

// RunConverge runs the whole-path benchmark: a bare Git repository served by `git daemon`
// over loopback, a real control plane (controlplane.Run: embedded etcd, sources with a GitHub
// webhook, pipeline, fleet, discovery server) following it, and cfg.Agents real agents in a
// child process. Each change commits one file changing one route, pushes it, posts a signed
// push webhook as GitHub would, and times each stage from the push's return to the last ACK,
// as seen on the control plane's /metrics read every cfg.Poll.
func RunConverge(ctx context.Context, cfg ConvergeConfig) (*ConvergeReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fleetgate-bench-converge-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	work := filepath.Join(dir, "work")
	served := filepath.Join(dir, "served")
	if err := writeSplitRepo(ctx, work, cfg.Routes, cfg.Files); err != nil {
		return nil, fmt.Errorf("git repository: %w", err)
	}
	if err := os.MkdirAll(served, 0o755); err != nil {
		return nil, err
	}
	if err := git(ctx, dir, "clone", "-q", "--bare", work, filepath.Join(served, "bench.git")); err != nil {
		return nil, err
	}
	if err := git(ctx, work, "remote", "add", "origin", filepath.Join(served, "bench.git")); err != nil {
		return nil, err
	}
	gitURL, stopDaemon, err := startGitDaemon(ctx, served)
	if err != nil {
		return nil, err
	}
	defer stopDaemon()

	secret := "bench-webhook-secret"
	secretFile := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		return nil, err
	}
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cpCfg, err := config.Parse("bench", []byte(fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
sources:
  - name: bench
    url: %sbench.git
    ref: main
    interval: 1h
    webhook: {type: github, secret_file: %s}
groups:
  - name: %s
    source: bench
    paths: [config]
`, filepath.Join(dir, "controlplane"), grpcAddr, httpAddr, gitURL, secretFile, Group)))
	if err != nil {
		return nil, fmt.Errorf("control plane config: %w", err)
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	admin := fleetgatev1.NewFleetAdminClient(conn)
	rep := &ConvergeReport{Agents: cfg.Agents, Routes: cfg.Routes, Files: cfg.Files, Poll: cfg.Poll}

	cp, err := startCP(ctx, cpCfg, log)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cp.stop() }()
	child := cfg.Child(grpcAddr, cfg.Agents)
	child.Stderr, child.Stdout = os.Stderr, io.Discard
	t0 := time.Now()
	if err := child.Start(); err != nil {
		return nil, fmt.Errorf("start agents process: %w", err)
	}
	defer stopChild(child)
	if err := waitConverged(ctx, admin, cfg.Agents, cfg.Timeout); err != nil {
		return rep, fmt.Errorf("initial convergence: %w", err)
	}
	rep.Initial = time.Since(t0)
	log.Info("agents converged", "agents", cfg.Agents, "took", rep.Initial)

	hook := "http://" + httpAddr + "/webhooks/bench"
	client := &http.Client{Timeout: 30 * time.Second}
	for i := 0; i < cfg.Changes; i++ {
		c, err := oneChange(ctx, cfg, i, work, hook, secret, httpAddr, client)
		if err != nil {
			return rep, fmt.Errorf("change %d: %w", i+1, err)
		}
		rep.Changes = append(rep.Changes, c)
		log.Info("change measured", "change", i+1, "total", c.Total(), "bytes", c.Bytes)
		// Let the fleet's status writes of this change settle before the next one.
		if err := waitConverged(ctx, admin, cfg.Agents, cfg.Timeout); err != nil {
			return rep, fmt.Errorf("change %d: %w", i+1, err)
		}
	}
	rep.summarize()
	return rep, nil
}

// oneChange commits change i, pushes it, posts the webhook and times the stages.
func oneChange(ctx context.Context, cfg ConvergeConfig, i int, work, hook, secret, httpAddr string, client *http.Client) (ConvergeChange, error) {
	var c ConvergeChange
	base, err := scrape(ctx, client, httpAddr)
	if err != nil {
		return c, err
	}
	start := time.Now()
	file, route := changeTarget(i, cfg.Files)
	if err := rewriteRoute(work, file, route, i+1, cfg.Routes, cfg.Files); err != nil {
		return c, err
	}
	if err := git(ctx, work, "commit", "-q", "-a", "-m", fmt.Sprintf("bench change %d: route r-%06d", i+1, route)); err != nil {
		return c, err
	}
	c.Commit = time.Since(start)
	pushStart := time.Now()
	if err := git(ctx, work, "push", "-q", "origin", "main"); err != nil {
		return c, err
	}
	pushed := time.Now()
	c.Push = pushed.Sub(pushStart)
	sha, err := gitOut(ctx, work, "rev-parse", "HEAD")
	if err != nil {
		return c, err
	}

	// The watcher reads /metrics every Poll from before the webhook is sent.
	type result struct {
		at    []time.Duration
		curve []CurvePoint
		bytes int64
		err   error
	}
	done := make(chan result, 1)
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	go func() {
		at, curve, bytes, err := watchStages(wctx, client, httpAddr, base, pushed, cfg.Agents, cfg.Poll)
		done <- result{at, curve, bytes, err}
	}()
	body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"repository":{"full_name":"bench/bench"}}`, sha)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, strings.NewReader(body))
	if err != nil {
		return c, err
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		return c, fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	answered := time.Since(pushed)
	if resp.StatusCode != http.StatusAccepted {
		return c, fmt.Errorf("webhook answered %s, want 202 Accepted", resp.Status)
	}
	r := <-done
	if r.err != nil {
		return c, r.err
	}
	r.at[0] = answered
	c.At, c.Curve, c.Bytes = r.at, r.curve, r.bytes
	return c, nil
}

// watchStages reads /metrics every poll until agents ACKs past base, and returns when each
// stage after the webhook was first seen (At[0], the webhook, is filled by the caller).
func watchStages(ctx context.Context, client *http.Client, httpAddr string, base map[string]float64, pushed time.Time, agents int, poll time.Duration) ([]time.Duration, []CurvePoint, int64, error) {
	at := make([]time.Duration, len(Stages))
	seen := make([]bool, len(Stages))
	seen[0] = true
	var curve []CurvePoint
	last := -1
	n := float64(agents)
	for {
		m, err := scrape(ctx, client, httpAddr)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("waiting for the change to converge (seen: %s): %w", seenStages(seen), err)
		}
		now := time.Since(pushed)
		d := func(name string) float64 { return sum(m, name) - sum(base, name) }
		updates := d(`fleetgate_discovery_updates_total`)
		acks := d(`fleetgate_discovery_answers_total{answer="ack"}`)
		conds := []bool{true,
			d("fleetgate_git_fetches_total") > 0,
			d("fleetgate_builds_total") > 0,
			d("fleetgate_group_head_sequence") > 0,
			d("fleetgate_group_desired_sequence") > 0,
			updates > 0,
			updates >= n,
			acks >= n,
		}
		// A later stage seen implies the earlier ones are done: they share the time.
		for k := len(conds) - 1; k >= 1; k-- {
			if conds[k] {
				for j := 1; j <= k; j++ {
					if !seen[j] {
						seen[j], at[j] = true, now
					}
				}
				break
			}
		}
		if a := int(min(acks, n)); a != last {
			curve = append(curve, CurvePoint{At: now, Agents: a})
			last = a
		}
		if seen[len(seen)-1] {
			return at, curve, int64(d("fleetgate_discovery_update_bytes_total")), nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, 0, fmt.Errorf("waiting for the change to converge (seen: %s, %d/%d ACKs): %w", seenStages(seen), int(acks), agents, ctx.Err())
		case <-time.After(poll):
		}
	}
}

func seenStages(seen []bool) string {
	var s []string
	for i, ok := range seen {
		if ok {
			s = append(s, Stages[i])
		}
	}
	return strings.Join(s, ", ")
}

// scrape reads the control plane's /metrics into series (name with labels) -> value.
func scrape(ctx context.Context, client *http.Client, httpAddr string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read control plane metrics: %w", err)
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

// parseMetrics parses Prometheus' text format: series (name with labels) -> value, the
// fleetgate_ series only (the Go runtime's and gRPC's are not needed and cost the watcher).
func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "fleetgate_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds the series of m named name: every label set when name has none, else the one
// series.
func sum(m map[string]float64, name string) float64 {
	if strings.ContainsRune(name, '{') {
		return m[name]
	}
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// summarize computes P50, Max and Share.
func (r *ConvergeReport) summarize() {
	if len(r.Changes) == 0 {
		return
	}
	totals := make([]time.Duration, len(r.Changes))
	for i, c := range r.Changes {
		totals[i] = c.Total()
	}
	r.P50, r.Max = Percentile(totals, 50), Percentile(totals, 100)
	r.Share = StageShares(r.Changes)
}

// StageShares returns each stage's share of the summed totals: the time from the previous
// stage (the push for the first) to it.
func StageShares(changes []ConvergeChange) []float64 {
	shares := make([]float64, len(Stages))
	var total time.Duration
	for _, c := range changes {
		prev := time.Duration(0)
		for k, t := range c.At {
			if t > prev {
				shares[k] += float64(t - prev)
				prev = t
			}
		}
		total += prev
	}
	if total > 0 {
		for k := range shares {
			shares[k] /= float64(total)
		}
	}
	return shares
}

// Percentile returns the p-th percentile (nearest rank) of ds; 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	k := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// Print writes r for humans.
func (r *ConvergeReport) Print(w io.Writer) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
	fmt.Fprintf(w, "agents %d, routes %d in %d files: initial convergence %s; stage times in ms after the push returned (poll %s)\n",
		r.Agents, r.Routes, r.Files, r.Initial.Round(time.Millisecond), r.Poll)
	fmt.Fprintf(w, "%6s  %6s", "change", "push")
	for _, s := range Stages {
		fmt.Fprintf(w, "  %12s", s)
	}
	fmt.Fprintf(w, "  %10s\n", "bytes")
	for i, c := range r.Changes {
		fmt.Fprintf(w, "%6d  %6s", i+1, ms(c.Push))
		for _, t := range c.At {
			fmt.Fprintf(w, "  %12s", ms(t))
		}
		fmt.Fprintf(w, "  %10d\n", c.Bytes)
	}
	fmt.Fprintf(w, "push returned -> last ACK: p50 %s ms, max %s ms (targets: p50 <= 250 ms, max <= 500 ms)\n", ms(r.P50), ms(r.Max))
	if len(r.Share) > 0 {
		fmt.Fprint(w, "stage shares:")
		for k, s := range Stages {
			fmt.Fprintf(w, " %s %.0f%%", s, 100*r.Share[k])
		}
		fmt.Fprintln(w)
	}
}

// writeSplitRepo creates a Git repository at dir on branch main with routes routes spread
// over files files config/routes-NNNN.yaml and routes/10 upstreams in config/upstreams.yaml.
func writeSplitRepo(ctx context.Context, dir string, routes, files int) error {
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		return err
	}
	ups := max(routes/10, 1)
	var b strings.Builder
	b.WriteString("upstreams:\n")
	for i := 0; i < ups; i++ {
		fmt.Fprintf(&b, "  - id: u-%04d\n    type: roundrobin\n    nodes:\n      \"10.1.%d.%d:8080\": 1\n", i, i/250, i%250)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "upstreams.yaml"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	for f := 0; f < files; f++ {
		if err := writeRouteFile(dir, f, routes, files, -1, 0); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "bench routes"}} {
		if err := git(ctx, dir, args...); err != nil {
			return err
		}
	}
	return nil
}

// writeRouteFile writes file f: the routes r with r % files == f; route changed gets
// version v in its URI.
func writeRouteFile(dir string, f, routes, files, changed, v int) error {
	ups := max(routes/10, 1)
	var b strings.Builder
	b.WriteString("routes:\n")
	for r := f; r < routes; r += files {
		if r == changed {
			fmt.Fprintf(&b, "  - id: r-%06d\n    uri: /svc/%06d/v%d/*\n    upstream_id: u-%04d\n", r, r, v, r%ups)
			continue
		}
		fmt.Fprintf(&b, "  - id: r-%06d\n    uri: /svc/%06d/*\n    upstream_id: u-%04d\n", r, r, r%ups)
	}
	return os.WriteFile(filepath.Join(dir, "config", fmt.Sprintf("routes-%04d.yaml", f)), []byte(b.String()), 0o644)
}

// changeTarget picks change i's file and route: a different file each time (7 is
// coprime with the default 500 files), its first route.
func changeTarget(i, files int) (file, route int) {
	file = (i * 7) % files
	return file, file
}

// rewriteRoute rewrites file with route's URI at version v.
func rewriteRoute(dir string, file, route, v, routes, files int) error {
	return writeRouteFile(dir, file, routes, files, route, v)
}

// git runs git in dir with a fixed identity and no signing.
func git(ctx context.Context, dir string, args ...string) error {
	_, err := gitOut(ctx, dir, args...)
	return err
}

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	full := append([]string{"-c", "user.name=fleetgate bench", "-c", "user.email=bench@fleetgate.invalid", "-c", "commit.gpgsign=false"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(out.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// startGitDaemon serves the repositories below dir over git:// on a loopback port and
// returns the base URL and a stop function.
func startGitDaemon(ctx context.Context, dir string) (string, func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
		"--listen=127.0.0.1", "--port="+port, "--base-path="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Its own process group, so that stop ends the per-connection children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start git daemon (Debian package git-daemon-run or git): %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "git://" + addr + "/", stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("git daemon exited before listening on %s: %s", addr, strings.TrimSpace(stderr.String()))
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("git daemon not listening on %s after 10s: %s", addr, strings.TrimSpace(stderr.String()))
		}
	}
}
