package etcdsink_test

import (
	"context"
	"log"
	"time"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	etcdsink "github.com/fleetgate/fleetgate/dataplane-agent/sink/etcd"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Write a snapshot into a node's etcd in APISIX's layout, and watch for hand edits.
func Example() {
	ctx := context.Background()
	sink, err := etcdsink.New(ctx, etcdsink.Config{
		Endpoints:   []string{"http://127.0.0.1:2379"},
		Prefix:      "/apisix",
		NodeID:      "gw-1",
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()

	up, _ := snapshot.NewResource(snapshot.Upstreams, "web", []byte(`{"id":"web","nodes":{"10.0.0.1:80":1},"type":"roundrobin"}`))
	rt, _ := snapshot.NewResource(snapshot.Routes, "home", []byte(`{"id":"home","uri":"/","upstream_id":"web"}`))
	snap, _ := snapshot.New([]*snapshot.Resource{up, rt}, snapshot.Meta{Group: "production"})

	// /apisix/upstreams/web is written before /apisix/routes/home; applying again writes nothing.
	if err := sink.Apply(ctx, snap); err != nil {
		log.Fatal(err)
	}
	go sink.WatchDrift(ctx, func(d agent.Drift) {
		log.Printf("drift: %s %s; healing", d.Change, d.Key)
		_ = sink.Apply(ctx, snap)
	})
	digest, _ := sink.Applied(ctx) // what a restarted agent says in its Hello
	log.Println("applied", snapshot.ShortDigest(digest), "unmanaged keys:", sink.Unmanaged())
}
