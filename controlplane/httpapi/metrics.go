package httpapi

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/pipeline"
	"github.com/fleetgate/fleetgate/gitsource"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Metrics holds the control plane's Prometheus metrics. It is the gitsource.Observer of the
// control plane's sources.
type Metrics struct {
	Registry *prometheus.Registry
	src      Sources
	builds   *prometheus.CounterVec
	buildDur *prometheus.HistogramVec

	fetches    *prometheus.CounterVec
	fetchDur   *prometheus.HistogramVec
	lastFetch  *prometheus.GaugeVec
	rejected   *prometheus.CounterVec
	webhooks   *prometheus.CounterVec
	converge   *prometheus.HistogramVec
	own        []prometheus.Collector // the fleetgate_* collectors (Names)
	mu         sync.Mutex
	observedAt map[string]string // group → digest whose convergence was observed
}

var _ gitsource.Observer = (*Metrics)(nil)

// Fleet is what the group gauges read of the fleet state at scrape time; *fleet.Fleet
// implements it.
type Fleet interface {
	// Groups returns the configured group names.
	Groups() []string
	// Group returns the state of a group; false when it is not configured.
	Group(name string) (fleet.GroupState, bool)
	// Counts counts the nodes of a group (fleet.Fleet.Counts: without listing them).
	Counts(group string) fleet.NodeCounts
	// Running counts the nodes of a group by the digest they applied.
	Running(group string) map[string]uint32
	// Converged tells when the group's desired version reached its last connected node.
	Converged(group string) (fleet.Convergence, bool)
	// Changes returns a channel closed at the next change of any group or node.
	Changes() <-chan struct{}
}

var _ Fleet = (*fleet.Fleet)(nil)

// Sources of the gauges read at scrape time; any may be nil, and its gauges are then left out.
type Sources struct {
	// Fleet gives the fleetgate_group_* gauges.
	Fleet Fleet
	// Discovery gives the fleetgate_discovery_* metrics.
	Discovery func() discovery.Stats
	// IsLeader gives fleetgate_leader.
	IsLeader func() bool
}

// NewMetrics registers the metrics (and Go/process collectors) on a new registry.
func NewMetrics(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetgate_builds_total", Help: "Builds of a group by result: added, unchanged, failed, error.",
		}, []string{"group", "result"}),
		buildDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fleetgate_build_duration_seconds", Help: "Time to read, build and store a group's snapshot.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"group"}),
	}
	m.src = src
	m.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetgate_git_fetches_total", Help: "Fetches of a Git source by result: ok, rejected (signature), failed.",
	}, []string{"source", "result"})
	m.fetchDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fleetgate_git_fetch_duration_seconds", Help: "Time of a Git source's fetches, by result.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	}, []string{"source", "result"})
	m.lastFetch = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetgate_git_last_fetch_success_timestamp_seconds", Help: "Unix time of a Git source's last successful fetch (by the replica that fetches).",
	}, []string{"source"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetgate_git_commits_rejected_total", Help: "Remote head commits refused by the signature check, by reason: unsigned, not_openpgp, unverified.",
	}, []string{"source", "reason"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetgate_git_webhook_deliveries_total", Help: "Webhook deliveries by result: accepted, duplicate, ping, bad_signature, too_large, bad_request.",
	}, []string{"source", "result"})
	m.converge = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fleetgate_commit_to_converged_seconds",
		Help:    "Time from a version's build (its commit seen) to the last connected node's ACK of it, per group (observed by the leader).",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
	}, []string{"group"})
	m.observedAt = map[string]string{}
	m.own = []prometheus.Collector{m.builds, m.buildDur, m.fetches, m.fetchDur, m.lastFetch, m.rejected, m.webhooks, m.converge,
		&gauges{src: src}}
	reg.MustRegister(m.own...)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// descName finds the fully-qualified name in a Desc's String form (client_golang gives Desc
// no getter).
var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names returns the names of the fleetgate_* metric families the control plane serves,
// whether or not they have samples yet: what dashboards and alert rules may use.
func (m *Metrics) Names() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range m.own {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		if n := descName.FindStringSubmatch(d.String()); n != nil {
			names = append(names, n[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Fetched implements gitsource.Observer.
func (m *Metrics) Fetched(source string, took time.Duration, result string) {
	m.fetches.WithLabelValues(source, result).Inc()
	m.fetchDur.WithLabelValues(source, result).Observe(took.Seconds())
	if result != "failed" {
		m.lastFetch.WithLabelValues(source).SetToCurrentTime()
	}
}

// Rejected implements gitsource.Observer.
func (m *Metrics) Rejected(source, reason string) { m.rejected.WithLabelValues(source, reason).Inc() }

// Webhook implements gitsource.Observer.
func (m *Metrics) Webhook(source, result string) { m.webhooks.WithLabelValues(source, result).Inc() }

// ConvergeInterval is how often Run looks for groups that converged when nothing changes
// (leadership moves without a fleet change); convergeSpacing is the least time between two
// looks, so that a burst of ACKs costs one scan of the nodes, not one per ACK.
const (
	ConvergeInterval = 2 * time.Second
	convergeSpacing  = 20 * time.Millisecond
)

// Run observes fleetgate_commit_to_converged_seconds until ctx ends: on the leading replica,
// each time a group's newest version (neither pinned nor an older version) has reached
// every connected node, the time from its build to the last ACK, once per version. It looks
// at every fleet change (an ACK), at most every convergeSpacing.
func (m *Metrics) Run(ctx context.Context) {
	f := m.src.Fleet
	if f == nil {
		return
	}
	t := time.NewTicker(ConvergeInterval)
	defer t.Stop()
	for {
		changed := f.Changes()
		m.observeConvergence()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(convergeSpacing):
		}
	}
}

func (m *Metrics) observeConvergence() {
	f := m.src.Fleet
	if f == nil || (m.src.IsLeader != nil && !m.src.IsLeader()) {
		return
	}
	for _, name := range f.Groups() {
		gs, ok := f.Group(name)
		if !ok || gs.Pin != nil || gs.Desired == nil || gs.Head == nil || gs.Desired.GetSequence() != gs.Head.GetSequence() {
			continue
		}
		m.mu.Lock()
		done := m.observedAt[name] == gs.Desired.GetDigest()
		m.mu.Unlock()
		if done {
			continue
		}
		c, ok := f.Converged(name)
		if !ok || c.Desired.GetDigest() != gs.Desired.GetDigest() || gs.Desired.GetBuiltAt() == nil {
			continue
		}
		m.mu.Lock()
		m.observedAt[name] = c.Desired.GetDigest()
		m.mu.Unlock()
		took := c.At.Sub(gs.Desired.GetBuiltAt().AsTime())
		m.converge.WithLabelValues(name).Observe(max(took, 0).Seconds())
	}
}

// ObserveBuild counts one build attempt; pass it as pipeline.Options.Observe.
func (m *Metrics) ObserveBuild(r pipeline.Result, took time.Duration) {
	result := "added"
	switch {
	case r.Err != nil:
		result = "error"
	case r.Failure != nil:
		result = "failed"
	case !r.Added:
		result = "unchanged"
	}
	m.builds.WithLabelValues(r.Group, result).Inc()
	if r.Err == nil && r.Failure == nil {
		m.buildDur.WithLabelValues(r.Group).Observe(took.Seconds())
	}
}

var (
	descNodes      = prometheus.NewDesc("fleetgate_group_nodes", "Known nodes of the group.", []string{"group"}, nil)
	descConnected  = prometheus.NewDesc("fleetgate_group_nodes_connected", "Nodes of the group with an open stream.", []string{"group"}, nil)
	descConverged  = prometheus.NewDesc("fleetgate_group_nodes_converged", "Nodes running the group's desired version.", []string{"group"}, nil)
	descNacking    = prometheus.NewDesc("fleetgate_group_nodes_nacking", "Nodes that refused the desired version.", []string{"group"}, nil)
	descDrifting   = prometheus.NewDesc("fleetgate_group_nodes_drifting", "Nodes reporting drift they did not heal.", []string{"group"}, nil)
	descDesired    = prometheus.NewDesc("fleetgate_group_desired_sequence", "Sequence of the group's desired version (0: none).", []string{"group"}, nil)
	descHead       = prometheus.NewDesc("fleetgate_group_head_sequence", "Sequence of the group's newest version (0: none).", []string{"group"}, nil)
	descPinned     = prometheus.NewDesc("fleetgate_group_pinned", "1 while the group is pinned.", []string{"group"}, nil)
	descStreams    = prometheus.NewDesc("fleetgate_discovery_streams", "Agent streams open on this replica.", nil, nil)
	descUpdates    = prometheus.NewDesc("fleetgate_discovery_updates_total", "Config updates sent, by type.", []string{"type"}, nil)
	descUpdateByte = prometheus.NewDesc("fleetgate_discovery_update_bytes_total", "Protobuf bytes of the config updates sent.", nil, nil)
	descAnswers    = prometheus.NewDesc("fleetgate_discovery_answers_total", "Agent answers, by kind: ack, nack, ignored.", []string{"answer"}, nil)
	descLeader     = prometheus.NewDesc("fleetgate_leader", "1 while this replica fetches and builds.", nil, nil)
	descInfo       = prometheus.NewDesc("fleetgate_group_info",
		"1 per group, its state as labels: desired and running digest and sequence (running: the version most of its known nodes applied), pinned, frozen, rollout phase.",
		[]string{"group", "desired_digest", "desired_sequence", "running_digest", "running_sequence", "pinned", "frozen", "rollout"}, nil)
)

type gauges struct{ src Sources }

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodes, descConnected, descConverged, descNacking, descDrifting, descDesired, descHead,
		descPinned, descStreams, descUpdates, descUpdateByte, descAnswers, descLeader, descInfo} {
		ch <- d
	}
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if f := g.src.Fleet; f != nil {
		for _, name := range f.Groups() {
			gs, _ := f.Group(name)
			c := f.Counts(name)
			gauge(descNodes, float64(c.Total), name)
			gauge(descConnected, float64(c.Connected), name)
			gauge(descConverged, float64(c.Converged), name)
			gauge(descNacking, float64(c.Nacking), name)
			gauge(descDrifting, float64(c.Drifting), name)
			gauge(descDesired, float64(gs.Desired.GetSequence()), name)
			gauge(descHead, float64(gs.Head.GetSequence()), name)
			pinned := 0.0
			if gs.Pin != nil {
				pinned = 1
			}
			gauge(descPinned, pinned, name)
			gauge(descInfo, 1, infoLabels(gs, f.Running(name))...)
		}
	}
	if g.src.Discovery != nil {
		s := g.src.Discovery()
		gauge(descStreams, float64(s.Streams))
		counter(descUpdates, s.FullUpdates, "full")
		counter(descUpdates, s.DeltaUpdates, "delta")
		counter(descUpdateByte, s.UpdateBytes)
		counter(descAnswers, s.Acks, "ack")
		counter(descAnswers, s.Nacks, "nack")
		counter(descAnswers, s.Ignored, "ignored")
	}
	if g.src.IsLeader != nil {
		v := 0.0
		if g.src.IsLeader() {
			v = 1
		}
		gauge(descLeader, v)
	}
}

// infoLabels are the labels of fleetgate_group_info for a group.
func infoLabels(gs fleet.GroupState, running map[string]uint32) []string {
	var top string
	var most uint32
	for d, n := range running {
		if n > most || (n == most && d < top) {
			top, most = d, n
		}
	}
	runSeq := ""
	for _, v := range []*fleetgatev1.SnapshotMeta{gs.Desired, gs.Head} {
		if top != "" && v.GetDigest() == top {
			runSeq = strconv.FormatUint(v.GetSequence(), 10)
		}
	}
	desSeq := ""
	if gs.Desired != nil {
		desSeq = strconv.FormatUint(gs.Desired.GetSequence(), 10)
	}
	rollout := ""
	if gs.Rollout != nil {
		rollout = strings.ToLower(strings.TrimPrefix(gs.Rollout.GetPhase().String(), "ROLLOUT_PHASE_"))
	}
	return []string{gs.Name, gs.Desired.GetDigest(), desSeq, top, runSeq,
		strconv.FormatBool(gs.Pin != nil), strconv.FormatBool(gs.Freeze != nil), rollout}
}
