package httpapi

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/pipeline"
)

// Metrics holds the control plane's Prometheus metrics.
type Metrics struct {
	Registry *prometheus.Registry
	builds   *prometheus.CounterVec
	buildDur *prometheus.HistogramVec
}

// Fleet is what the group gauges read of the fleet state at scrape time; *fleet.Fleet
// implements it.
type Fleet interface {
	// Groups returns the configured group names.
	Groups() []string
	// Group returns the state of a group; false when it is not configured.
	Group(name string) (fleet.GroupState, bool)
	// Counts counts the nodes of a group (fleet.Fleet.Counts: without listing them).
	Counts(group string) fleet.NodeCounts
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
	reg.MustRegister(m.builds, m.buildDur, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&gauges{src: src})
	return m
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
)

type gauges struct{ src Sources }

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodes, descConnected, descConverged, descNacking, descDrifting, descDesired, descHead,
		descPinned, descStreams, descUpdates, descUpdateByte, descAnswers, descLeader} {
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
