package testutil

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"
)

// GatewayStandIn is a stand-in for APISIX in tests: APISIX cannot run on the test machines,
// so this real HTTP server plays one gateway node in standalone mode. On every request it
// reads the node's config file — the apisix.yaml that the agent's file sink writes — and
// answers as APISIX would for what that file says about fault injection:
//
//   - when any route of the file has a fault-injection plugin whose abort has an http_status
//     of 500 or more (and a percentage that is not 0), the gateway is failing: every request
//     gets that status and the abort's body, so a health check through the gateway (for
//     example GET /healthz) fails;
//   - else, a request whose path a route matches (uri or uris, exactly or by a trailing "/*"
//     prefix) and whose route has a fault-injection abort gets the abort's status and body
//     (the example repository's /healthz route answers 200 "ok" this way);
//   - else 200 "ok".
//
// A missing or unreadable file is a gateway with no config: 503.
//
// This follows APISIX's fault-injection plugin (apache/apisix, apisix/plugins/fault-injection.lua):
// in the rewrite phase, when abort is set and the request is sampled (abort.percentage, all
// requests when unset) and matches abort.vars, the plugin returns abort.http_status with
// abort.body before any other plugin runs and before the request is proxied upstream. The
// stand-in ignores vars and treats any percentage above 0 as every request.
type GatewayStandIn struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:34567.
	URL string
	// File is the config file the stand-in reads.
	File string

	srv      *httptest.Server
	requests atomic.Int64
	failures atomic.Int64
}

// StartGatewayStandIn starts a stand-in for APISIX serving the config in file (which need not
// exist yet), stopped when the test ends.
func StartGatewayStandIn(t testing.TB, file string) *GatewayStandIn {
	t.Helper()
	g := &GatewayStandIn{File: file}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = g.srv.URL
	t.Cleanup(g.srv.Close)
	return g
}

// HealthURL is the URL of the synthetic health route (GET /healthz through the gateway), to
// give to an agent's --health-url.
func (g *GatewayStandIn) HealthURL() string { return g.URL + "/healthz" }

// Requests counts the requests served; Failures counts those answered with a 5xx.
func (g *GatewayStandIn) Requests() int64 { return g.requests.Load() }

// Failures counts the requests answered with a 5xx status.
func (g *GatewayStandIn) Failures() int64 { return g.failures.Load() }

func (g *GatewayStandIn) serve(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	status, body := g.answer(r.URL.Path)
	if status >= 500 {
		g.failures.Add(1)
	}
	w.Header().Set("Server", "APISIX stand-in")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// standinRoute is what the stand-in reads of a route of apisix.yaml.
type standinRoute struct {
	ID      string   `yaml:"id"`
	URI     string   `yaml:"uri"`
	URIs    []string `yaml:"uris"`
	Plugins struct {
		FaultInjection *struct {
			Abort *standinAbort `yaml:"abort"`
		} `yaml:"fault-injection"`
	} `yaml:"plugins"`
}

// standinAbort is a fault-injection plugin's abort.
type standinAbort struct {
	HTTPStatus int    `yaml:"http_status"`
	Body       string `yaml:"body"`
	Percentage *int   `yaml:"percentage"`
}

// answer is the status and body the gateway gives a request for path.
func (g *GatewayStandIn) answer(path string) (int, string) {
	data, err := os.ReadFile(g.File)
	if err != nil {
		return http.StatusServiceUnavailable, fmt.Sprintf("no config: %v\n", err)
	}
	var doc struct {
		Routes []standinRoute `yaml:"routes"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return http.StatusServiceUnavailable, fmt.Sprintf("config unreadable: %v\n", err)
	}
	for _, rt := range doc.Routes {
		if a := rt.abort(); a != nil && a.HTTPStatus >= 500 {
			return a.HTTPStatus, a.Body
		}
	}
	for _, rt := range doc.Routes {
		if a := rt.abort(); a != nil && rt.matches(path) {
			return a.HTTPStatus, a.Body
		}
	}
	return http.StatusOK, "ok\n"
}

// abort returns the route's fault-injection abort when it applies to requests, else nil.
func (rt *standinRoute) abort() *standinAbort {
	fi := rt.Plugins.FaultInjection
	if fi == nil || fi.Abort == nil || (fi.Abort.Percentage != nil && *fi.Abort.Percentage == 0) {
		return nil
	}
	return fi.Abort
}

// matches reports whether one of the route's uris takes path, exactly or by a "/*" prefix.
func (rt *standinRoute) matches(path string) bool {
	for _, u := range append([]string{rt.URI}, rt.URIs...) {
		if u == "" {
			continue
		}
		if p, ok := strings.CutSuffix(u, "*"); ok && strings.HasPrefix(path, p) || u == path {
			return true
		}
	}
	return false
}
