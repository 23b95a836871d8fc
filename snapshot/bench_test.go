package snapshot

import (
	"fmt"
	"strings"
	"testing"
)

// genConfig returns n routes and n upstreams as YAML files of 1,000 resources each, the way
// a large repository would split them.
func genConfig(n int) []Layer {
	var files []File
	const per = 1000
	for start := 0; start < n; start += per {
		var ub, rb strings.Builder
		ub.WriteString("upstreams:\n")
		rb.WriteString("routes:\n")
		for i := start; i < min(n, start+per); i++ {
			fmt.Fprintf(&ub, `  - id: svc-%d
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
			fmt.Fprintf(&rb, `  - id: route-%d
    name: route %d
    uri: /api/v1/svc-%d/*
    methods: [GET, POST]
    hosts: [api.example.com]
    upstream_id: svc-%d
    labels: {team: t%d}
    plugins:
      limit-count: {count: 100, time_window: 60, rejected_code: 429, key: remote_addr}
      key-auth: {}
      proxy-rewrite:
        regex_uri: ["^/api/v1/svc-%d/(.*)", "/$1"]
        headers: {set: {X-Route: "%d"}}
`, i, i, i, i, i%10, i, i)
		}
		files = append(files,
			File{Path: fmt.Sprintf("base/upstreams-%03d.yaml", start/per), Data: []byte(ub.String())},
			File{Path: fmt.Sprintf("base/routes-%03d.yaml", start/per), Data: []byte(rb.String())})
	}
	return []Layer{{Name: "base", Files: files}}
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		layers := genConfig(n)
		size := 0
		for _, f := range layers[0].Files {
			size += len(f.Data)
		}
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				s, err := Build(layers, Options{}, Meta{})
				if err != nil {
					b.Fatal(err)
				}
				if s.Len() != 2*n {
					b.Fatalf("got %d resources", s.Len())
				}
			}
		})
	}
}

func TestGeneratedConfigBuilds(t *testing.T) {
	s, err := Build(genConfig(50), Options{}, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 100 || len(s.Meta.Warnings) != 0 {
		t.Fatalf("got %d resources, warnings %v", s.Len(), s.Meta.Warnings)
	}
}

// BenchmarkDecode compares the two parse paths on one file of 1,000 routes: the fast
// subset parser and yaml.v3 (which files with anchors, tags or block scalars take).
func BenchmarkDecode(b *testing.B) {
	data := genConfig(1000)[0].Files[1].Data
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := fastParse(data, testConverter()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("yamlv3", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, probs := decodeYAML(data, testConverter()); len(probs) > 0 {
				b.Fatal(probs)
			}
		}
	})
}
