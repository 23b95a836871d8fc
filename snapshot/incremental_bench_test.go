package snapshot

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// gitBlobHash is the Git blob hash of data, as gitsource hands it to File.Hash.
func gitBlobHash(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// genRoutesFile returns a file of routes first..first+n-1, each with the upstream of the
// same number; gen changes every route's limit-count, as an edit of the file would.
func genRoutesFile(first, n, gen int) []byte {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `  - id: route-%d
    name: route %d
    uri: /api/v1/svc-%d/*
    methods: [GET, POST]
    hosts: [api.example.com]
    upstream_id: svc-%d
    labels: {team: t%d}
    plugins:
      limit-count: {count: %d, time_window: 60, rejected_code: 429, key: remote_addr}
      key-auth: {}
      proxy-rewrite:
        regex_uri: ["^/api/v1/svc-%d/(.*)", "/$1"]
        headers: {set: {X-Route: "%d"}}
`, i, i, i, i, i%10, 100+gen, i, i)
	}
	return []byte(b.String())
}

// genUpstreamsFile returns a file of upstreams first..first+n-1.
func genUpstreamsFile(first, n int) []byte {
	var b strings.Builder
	b.WriteString("upstreams:\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `  - id: svc-%d
    type: roundrobin
    scheme: http
    nodes:
      "10.%d.%d.1:8080": 1
      "10.%d.%d.2:8080": 1
    timeout: {connect: 1, send: 5, read: 5}
    checks:
      active:
        type: http
        http_path: /healthz
        healthy: {interval: 5, successes: 2}
        unhealthy: {interval: 2, http_failures: 3}
`, i, i/256%256, i%256, i/256%256, i%256)
	}
	return []byte(b.String())
}

// genRepo returns routes routes and as many upstreams in files files (half routes, half
// upstreams), each file with its Git blob hash: a large repository split into small files.
func genRepo(routes, files int) []Layer {
	per := routes / (files / 2)
	var fs []File
	for start := 0; start < routes; start += per {
		r := genRoutesFile(start, per, 0)
		u := genUpstreamsFile(start, per)
		fs = append(fs,
			File{Path: fmt.Sprintf("base/routes-%04d.yaml", start/per), Data: r, Hash: gitBlobHash(r)},
			File{Path: fmt.Sprintf("base/upstreams-%04d.yaml", start/per), Data: u, Hash: gitBlobHash(u)})
	}
	return []Layer{{Name: "base", Files: fs}}
}

// BenchmarkIncremental builds a 10,000-route, 10,000-upstream repository of 500 files
// through a Cache after a commit that changed one file of routes (each iteration edits the
// same file again, so every build reparses exactly one file). BenchmarkIncremental/full is
// the same build without a cache, for comparison.
func BenchmarkIncremental(b *testing.B) {
	const routes, files = 10000, 500
	layers := genRepo(routes, files)
	per := routes / (files / 2)
	edit := func(gen int) {
		d := genRoutesFile(0, per, gen)
		layers[0].Files[0] = File{Path: layers[0].Files[0].Path, Data: d, Hash: gitBlobHash(d)}
	}
	b.Run("10k-routes-500-files-1-changed", func(b *testing.B) {
		var c Cache
		if _, err := c.Build(layers, Options{}, Meta{}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		gen := 0
		for b.Loop() {
			gen++
			b.StopTimer()
			edit(gen)
			b.StartTimer()
			s, err := c.Build(layers, Options{}, Meta{})
			if err != nil {
				b.Fatal(err)
			}
			if s.Len() != 2*routes {
				b.Fatalf("got %d resources", s.Len())
			}
		}
		if st := c.Stats(); st.Parsed != 1 || st.Reused != files-1 {
			b.Fatalf("last build: %+v, want 1 parsed and %d reused", st, files-1)
		}
	})
	b.Run("10k-routes-500-files-full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Build(layers, Options{}, Meta{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
