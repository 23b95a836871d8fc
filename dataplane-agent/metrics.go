package agent

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Observer receives the agent's events, for metrics (Config.Observer; Metrics implements
// it). Its methods are called synchronously: they must be quick and safe for concurrent use.
type Observer interface {
	// Wrote is called after each write of a snapshot into the sink (an update, a heal, a
	// restore) with how long it took, its result ("ok", "rejected": the sink refused the
	// content, "unavailable": the sink could not be used) and the snapshot's sequence.
	Wrote(took time.Duration, result string, sequence uint64)
	// Drifted is called with the number of drift events the sink reported in one batch.
	Drifted(events int)
	// Connected is called when a stream to a control plane opens (true) or ends (false).
	Connected(up bool)
}

// Metrics is the agent's Prometheus metrics; fleetgate agent --http-addr serves them.
//
//	fleetgate_agent_writes_total{result}          sink writes: ok, rejected, unavailable
//	fleetgate_agent_write_duration_seconds{result} how long each write took
//	fleetgate_agent_applied_sequence               sequence of the version last written in full
//	fleetgate_agent_sink_available                 0 while the last write found the sink unusable
//	fleetgate_agent_drift_events_total             changes of the sink the agent did not make
//	fleetgate_agent_connected                      1 while a control plane stream is open
//
// Each carries the const labels group and node.
type Metrics struct {
	// Registry holds the metrics (and the Go and process collectors).
	Registry  *prometheus.Registry
	writes    *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	applied   prometheus.Gauge
	available prometheus.Gauge
	drift     prometheus.Counter
	connected prometheus.Gauge
}

var _ Observer = (*Metrics)(nil)

// NewMetrics registers the agent's metrics, labelled with its group and node, on a new
// registry.
func NewMetrics(group, node string) *Metrics {
	labels := prometheus.Labels{"group": group, "node": node}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fleetgate_agent_writes_total",
			Help: "Writes of a snapshot into the sink, by result: ok, rejected (content refused: NACK), unavailable.", ConstLabels: labels}, []string{"result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fleetgate_agent_write_duration_seconds",
			Help: "Time of each write of a snapshot into the sink, by result.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"result"}),
		applied: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fleetgate_agent_applied_sequence",
			Help: "Sequence of the version last written into the sink in full (0: none yet).", ConstLabels: labels}),
		available: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fleetgate_agent_sink_available",
			Help: "0 while the last write found the sink unusable (unreachable, login refused, disk full), else 1.", ConstLabels: labels}),
		drift: prometheus.NewCounter(prometheus.CounterOpts{Name: "fleetgate_agent_drift_events_total",
			Help: "Changes of the sink the agent did not make (drift), as the sink reported them.", ConstLabels: labels}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fleetgate_agent_connected",
			Help: "1 while a stream to a control plane is open.", ConstLabels: labels}),
	}
	m.available.Set(1)
	m.Registry.MustRegister(m.writes, m.duration, m.applied, m.available, m.drift, m.connected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Wrote implements Observer.
func (m *Metrics) Wrote(took time.Duration, result string, sequence uint64) {
	m.writes.WithLabelValues(result).Inc()
	m.duration.WithLabelValues(result).Observe(took.Seconds())
	switch result {
	case "ok":
		m.applied.Set(float64(sequence))
		m.available.Set(1)
	case "unavailable":
		m.available.Set(0)
	}
}

// Drifted implements Observer.
func (m *Metrics) Drifted(events int) { m.drift.Add(float64(events)) }

// Connected implements Observer.
func (m *Metrics) Connected(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.connected.Set(v)
}

// Handler serves /metrics (m's registry) and /healthz (200 while the agent process runs).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// writeResult names the result of a sink write for Observer.Wrote.
func writeResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	}
	return "rejected"
}

// nopObserver is the Observer when none is configured.
type nopObserver struct{}

func (nopObserver) Wrote(time.Duration, string, uint64) {}
func (nopObserver) Drifted(int)                         {}
func (nopObserver) Connected(bool)                      {}
