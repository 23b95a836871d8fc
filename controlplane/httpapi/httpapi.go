// Package httpapi serves the control plane's HTTP side: /healthz (the process is up),
// /readyz (the store answers and the fleet is loaded), /metrics (Prometheus) and the webhook
// receivers under /webhooks/<source>, and mounts the read-only fleet dashboard
// (controlplane/dashboard) at "/".
//
// Metrics:
//
//	fleetgate_builds_total{group,result}            builds by result: added, unchanged, failed, error
//	fleetgate_build_duration_seconds{group}         time from revision to stored snapshot
//	fleetgate_group_nodes{group}                    known nodes (not past node_retention)
//	fleetgate_group_nodes_connected{group}          nodes with an open stream
//	fleetgate_group_nodes_converged{group}          connected nodes running the desired version
//	fleetgate_group_nodes_nacking{group}            nodes that refused the desired version
//	fleetgate_group_nodes_drifting{group}           nodes reporting unhealed drift
//	fleetgate_group_desired_sequence{group}         sequence of the desired version
//	fleetgate_group_head_sequence{group}            sequence of the newest version
//	fleetgate_group_pinned{group}                   1 while the group is pinned
//	fleetgate_discovery_streams                     agent streams open on this replica
//	fleetgate_discovery_updates_total{type}         updates sent (full, delta)
//	fleetgate_discovery_update_bytes_total          protobuf bytes of updates sent
//	fleetgate_discovery_answers_total{answer}       ack, nack, ignored
//	fleetgate_leader                                1 while this replica builds
package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure the HTTP handler.
type Options struct {
	// Metrics is served at /metrics. Default nil: no /metrics.
	Metrics *Metrics
	// Ready is called by /readyz; an error makes it answer 503 with the error. Default: ready.
	Ready func(ctx context.Context) error
	// Webhooks serves /webhooks/ (gitsource.NewWebhookHandler). Default nil: 404.
	Webhooks http.Handler
	// Dashboard serves every other path, "/" first (the read-only fleet dashboard,
	// controlplane/dashboard). Default nil: 404.
	Dashboard http.Handler
}

// NewHandler returns the control plane's HTTP handler.
func NewHandler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			defer cancel()
			if err := o.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if o.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	if o.Webhooks != nil {
		mux.Handle("/webhooks/", o.Webhooks)
	}
	if o.Dashboard != nil {
		mux.Handle("/", o.Dashboard)
	}
	return mux
}
