package agent

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// BenchmarkCompressedFullUpdate measures what one agent spends on a compressed full update
// before it writes its sink, from the bytes on the wire: decode the ConfigUpdate, decompress
// the upserts, parse them, hash every body, sort check, digest. Compare BenchmarkFullUpdate
// (patch_bench_test.go), the same for a plain one. The update is made as the control plane
// makes it (controlplane/discovery/compress.go: hashes left out, zstd
// SpeedBetterCompression).
func BenchmarkCompressedFullUpdate(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			var rs []*snapshot.Resource
			for i := range n {
				r, err := snapshot.NewResource(snapshot.Routes, fmt.Sprintf("r-%06d", i),
					[]byte(fmt.Sprintf(`{"id":"r-%06d","uri":"/svc/%06d/*","upstream_id":"u-%04d"}`, i, i, i%(n/10))))
				if err != nil {
					b.Fatal(err)
				}
				rs = append(rs, r)
			}
			s, err := snapshot.New(rs, snapshot.Meta{Group: "prod", Sequence: 1})
			if err != nil {
				b.Fatal(err)
			}
			u := snapshot.FullUpdate(s)
			for _, r := range u.Upserts {
				r.Hash = nil
			}
			list, err := proto.Marshal(&fleetgatev1.ResourceList{Resources: u.Upserts})
			if err != nil {
				b.Fatal(err)
			}
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
			if err != nil {
				b.Fatal(err)
			}
			u.Upserts, u.UpsertsZstd = nil, enc.EncodeAll(list, nil)
			wire, err := proto.Marshal(u)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(wire)))
			b.ReportMetric(float64(len(wire)), "wire-bytes")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var got fleetgatev1.ConfigUpdate
				if err := proto.Unmarshal(wire, &got); err != nil {
					b.Fatal(err)
				}
				if _, err := fromFullUpdate(&got, 64<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzDecodeResourceList: whatever the bytes of a decompressed upserts list, decoding never
// panics, and what it accepts is checked: known kinds, non-empty ids, hashes of the bodies.
func FuzzDecodeResourceList(f *testing.F) {
	good, err := proto.Marshal(&fleetgatev1.ResourceList{Resources: []*fleetgatev1.Resource{
		{Kind: "routes", Id: "r1", Body: []byte(`{"id":"r1","uri":"/a"}`)},
		{Kind: "upstreams", Id: "u1", Body: []byte(`{"id":"u1"}`), Hash: make([]byte, 32)},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x12, 0x00, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := decodeResourceList(b)
		if err != nil {
			return
		}
		for _, r := range rs {
			if !r.Kind.Valid() || r.ID == "" || r.Hash != sha256.Sum256(r.Body) {
				t.Fatalf("accepted a bad resource: %q %q", r.Kind, r.ID)
			}
		}
	})
}
