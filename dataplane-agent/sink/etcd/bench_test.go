package etcdsink

import (
	"context"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

const benchN = 10000 // routes, and as many upstreams

func reportWrites(b *testing.B, s *Sink, total *ApplyStats) {
	st := s.LastApply()
	total.Puts += st.Puts
	total.Deletes += st.Deletes
	total.Txns += st.Txns
}

func reportMetrics(b *testing.B, total ApplyStats) {
	b.ReportMetric(float64(total.Puts+total.Deletes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(total.Txns)/float64(b.N), "txns/op")
}

// BenchmarkApplyToEmptyEtcd applies 10,000 routes + 10,000 upstreams to an empty prefix.
func BenchmarkApplyToEmptyEtcd(b *testing.B) {
	e := testutil.StartEtcd(b)
	sn := snap(b, routesAndUpstreams(b, benchN)...)
	var total ApplyStats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := New(context.Background(), Config{Endpoints: []string{e.Endpoint}, Prefix: fmt.Sprintf("/apisix%d", i),
			NodeID: fmt.Sprintf("bench%d", i), Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Apply(context.Background(), sn); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		reportWrites(b, s, &total)
		s.Close()
		b.StartTimer()
	}
	reportMetrics(b, total)
}

// benchModes are how the sink knows etcd's state before an Apply:
//   - watching: a drift watch runs (the agent's default), so it trusts what it knows;
//   - no-watch: no watch, but etcd's revision has not moved since the last Apply;
//   - no-watch-moved: something else wrote to etcd before each Apply, so the sink reads the
//     whole prefix and manifest (40,000 keys) again.
var benchModes = []string{"watching", "no-watch", "no-watch-moved"}

// BenchmarkReapplyUnchanged applies the same 20,000-resource snapshot again: zero writes.
func BenchmarkReapplyUnchanged(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			s, sn, touch := benchSetup(b, mode)
			var total ApplyStats
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				touch()
				if err := s.Apply(context.Background(), sn); err != nil {
					b.Fatal(err)
				}
				reportWrites(b, s, &total)
			}
			reportMetrics(b, total)
		})
	}
}

// BenchmarkOneRouteChange alternates between two 20,000-resource snapshots that differ in one
// route: one write per Apply.
func BenchmarkOneRouteChange(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			s, sn, touch := benchSetup(b, mode)
			rs := sn.Resources()
			for i, r := range rs {
				if r.Kind == snapshot.Routes && r.ID == "r00042" {
					rs[i] = res(b, snapshot.Routes, "r00042", `{"id":"r00042","uri":"/changed","upstream_id":"u00042"}`)
				}
			}
			other := snap(b, rs...)
			var total ApplyStats
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				touch()
				next := other
				if i%2 == 1 {
					next = sn
				}
				if err := s.Apply(context.Background(), next); err != nil {
					b.Fatal(err)
				}
				reportWrites(b, s, &total)
			}
			reportMetrics(b, total)
		})
	}
}

func benchSetup(b *testing.B, mode string) (*Sink, *snapshot.Snapshot, func()) {
	b.Helper()
	e := testutil.StartEtcd(b)
	s := newSink(b, e.Endpoint, "bench", Manifest)
	sn := snap(b, routesAndUpstreams(b, benchN)...)
	if err := s.Apply(context.Background(), sn); err != nil {
		b.Fatal(err)
	}
	touch := func() {}
	switch mode {
	case "watching":
		driftRecorder(b, s)
		// the first Apply after the watch starts plans in full; measure the steady state
		if err := s.Apply(context.Background(), sn); err != nil {
			b.Fatal(err)
		}
	case "no-watch-moved":
		c := e.Client(b)
		touch = func() { // a write elsewhere in etcd, outside the timer
			b.StopTimer()
			if _, err := c.Put(context.Background(), "/elsewhere", "x"); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	return s, sn, touch
}

// BenchmarkHealOneDriftedRoute edits one route by hand (outside the timer), waits for the
// drift report, then measures the re-Apply that heals it, with a drift watch running.
func BenchmarkHealOneDriftedRoute(b *testing.B) {
	s, sn, _ := benchSetup(b, "no-watch")
	drift, _, _ := driftRecorder(b, s)
	if err := s.Apply(context.Background(), sn); err != nil {
		b.Fatal(err)
	}
	c := testutilClient(b, s)
	var total ApplyStats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := c.Put(context.Background(), "/apisix/routes/r00042", fmt.Sprintf(`{"id":"r00042","uri":"/hand/%d"}`, i)); err != nil {
			b.Fatal(err)
		}
		<-drift
		b.StartTimer()
		if err := s.Apply(context.Background(), sn); err != nil {
			b.Fatal(err)
		}
		reportWrites(b, s, &total)
	}
	reportMetrics(b, total)
}

func testutilClient(b *testing.B, s *Sink) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{Endpoints: s.cfg.Endpoints})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}
