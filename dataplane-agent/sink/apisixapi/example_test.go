package apisixapisink_test

import (
	"context"
	"log"
	"os"

	apisixapisink "github.com/fleetgate/fleetgate/dataplane-agent/sink/apisixapi"
	"github.com/fleetgate/fleetgate/snapshot"
)

// PUT a snapshot to an APISIX running in API-driven standalone mode.
func Example() {
	sink, err := apisixapisink.New(apisixapisink.Config{
		URL:    "http://127.0.0.1:9180",                 // deployment.admin.admin_listen
		APIKey: os.Getenv("FLEETGATE_APISIX_ADMIN_KEY"), // deployment.admin.admin_key
	})
	if err != nil {
		log.Fatal(err)
	}
	rt, _ := snapshot.NewResource(snapshot.Routes, "home", []byte(`{"id":"home","uri":"/","upstream":{"nodes":{"10.0.0.1:80":1},"type":"roundrobin"}}`))
	snap, _ := snapshot.New([]*snapshot.Resource{rt}, snapshot.Meta{Group: "edge"})
	// GET /apisix/admin/configs, then PUT with X-Digest: <snap.Digest> and
	// routes_conf_version: stored+1 unless APISIX already holds it; a 400 is a NACK.
	if err := sink.Apply(context.Background(), snap); err != nil {
		log.Fatal(err)
	}
	digest, _ := sink.Applied(context.Background())
	log.Println("APISIX runs", snapshot.ShortDigest(digest))
}
