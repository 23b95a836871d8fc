package filesink_test

import (
	"context"
	"log"

	filesink "github.com/fleetgate/fleetgate/dataplane-agent/sink/file"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Write a snapshot as APISIX's standalone conf/apisix.yaml.
func Example() {
	sink, err := filesink.New(filesink.Config{Path: "/usr/local/apisix/conf/apisix.yaml"})
	if err != nil {
		log.Fatal(err)
	}
	rt, _ := snapshot.NewResource(snapshot.Routes, "home", []byte(`{"id":"home","uri":"/","upstream":{"nodes":{"10.0.0.1:80":1},"type":"roundrobin"}}`))
	snap, _ := snapshot.New([]*snapshot.Resource{rt}, snapshot.Meta{Group: "edge"})
	// Writes "routes:\n  - id: home\n ...#END\n" atomically, mtime at least a second later
	// than the previous file's, and the digest to apisix.yaml.fleetgate-digest.
	if err := sink.Apply(context.Background(), snap); err != nil {
		log.Fatal(err)
	}
	digest, _ := sink.Applied(context.Background())
	log.Println("applied", snapshot.ShortDigest(digest))
}
