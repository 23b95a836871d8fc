package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// gateway is the demo's stand-in for APISIX on one node: APISIX itself is not part of the
// demo, so this small HTTP server answers the agent's health check (GET /healthz through the
// gateway) from what the agent wrote into the node's etcd, as APISIX would:
// when a route has a fault-injection plugin whose abort has an http_status of 500 or more
// (and a percentage that is not 0), the gateway answers that status and the abort's body —
// APISIX's fault-injection plugin (apache/apisix, apisix/plugins/fault-injection.lua)
// returns abort.http_status with abort.body in the rewrite phase, before the request is
// proxied — so the health check fails; else 200 "ok".
type gateway struct {
	cli    *clientv3.Client
	prefix string
	srv    *http.Server
	url    string
}

// startGateway serves the stand-in for APISIX of the node whose etcd cli reads, on a free
// loopback port, until ctx is cancelled.
func startGateway(ctx context.Context, cli *clientv3.Client, prefix string) (*gateway, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gateway stand-in: %w", err)
	}
	g := &gateway{cli: cli, prefix: prefix, url: "http://" + l.Addr().String()}
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = g.srv.Close()
	}()
	return g, nil
}

// healthURL is the URL of the gateway's synthetic health route.
func (g *gateway) healthURL() string { return g.url + "/healthz" }

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	status, body := g.answer(r.Context())
	w.Header().Set("Server", "APISIX stand-in (fleetgate demo)")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// answer is the status and body of any request, from the routes in the node's etcd.
func (g *gateway) answer(ctx context.Context) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := g.cli.Get(ctx, g.prefix+"/routes/", clientv3.WithPrefix())
	if err != nil {
		return http.StatusServiceUnavailable, fmt.Sprintf("no config: %v\n", err)
	}
	for _, kv := range resp.Kvs {
		if status, body := abortOf(kv.Value); status >= 500 {
			return status, body
		}
	}
	return http.StatusOK, "ok\n"
}

// abortOf returns the status and body of the fault-injection abort in a route's etcd value
// (status 0 when it has none that fires).
func abortOf(value []byte) (int, string) {
	var rt struct {
		Plugins struct {
			FaultInjection *struct {
				Abort *struct {
					HTTPStatus int    `json:"http_status"`
					Body       string `json:"body"`
					Percentage *int   `json:"percentage"`
				} `json:"abort"`
			} `json:"fault-injection"`
		} `json:"plugins"`
	}
	if json.Unmarshal(value, &rt) != nil {
		return 0, ""
	}
	fi := rt.Plugins.FaultInjection
	if fi == nil || fi.Abort == nil || (fi.Abort.Percentage != nil && *fi.Abort.Percentage == 0) {
		return 0, ""
	}
	return fi.Abort.HTTPStatus, fi.Abort.Body
}
