package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// A body is stored under bodies/<digest> as 'z' and the zstd-compressed encoding of its
// resources, or, when that is bigger than the chunk size, as 'c' and a JSON chunkManifest
// whose chunks are under chunks/<digest>/<n>.

// encodeBody writes resources as kind, id, body, each uvarint-length-prefixed.
func encodeBody(rs []*snapshot.Resource) []byte {
	n := 4
	for _, r := range rs {
		n += len(r.Kind) + len(r.ID) + len(r.Body) + 3*binary.MaxVarintLen32
	}
	buf := make([]byte, 0, n)
	buf = append(buf, "FGB1"...)
	for _, r := range rs {
		buf = binary.AppendUvarint(buf, uint64(len(r.Kind)))
		buf = append(buf, r.Kind...)
		buf = binary.AppendUvarint(buf, uint64(len(r.ID)))
		buf = append(buf, r.ID...)
		buf = binary.AppendUvarint(buf, uint64(len(r.Body)))
		buf = append(buf, r.Body...)
	}
	return buf
}

func decodeBody(digest string, b []byte) (*snapshot.Snapshot, error) {
	if !bytes.HasPrefix(b, []byte("FGB1")) {
		return nil, fmt.Errorf("snapshot body %s: unknown encoding", digest)
	}
	b = b[4:]
	next := func() ([]byte, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, fmt.Errorf("snapshot body %s: truncated", digest)
		}
		v := b[n : n+int(l)]
		b = b[n+int(l):]
		return v, nil
	}
	var rs []*snapshot.Resource
	for len(b) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		id, err := next()
		if err != nil {
			return nil, err
		}
		body, err := next()
		if err != nil {
			return nil, err
		}
		r, err := snapshot.FromProto(&fleetgatev1.Resource{Kind: string(k), Id: string(id), Body: body, Hash: sha(body)})
		if err != nil {
			return nil, fmt.Errorf("snapshot body %s: %w", digest, err)
		}
		rs = append(rs, r)
	}
	got := snapshot.Digest(rs)
	if got != digest {
		return nil, fmt.Errorf("snapshot body %s is corrupt: its resources hash to %s", digest, got)
	}
	return snapshot.FromSorted(rs, digest, snapshot.Meta{}), nil
}

type chunkManifest struct {
	Chunks int `json:"chunks"`
	Size   int `json:"size"`
}

// PutBody stores the resources of snap under its digest, compressed and chunked when large.
// Storing a digest that is already stored does nothing.
func (s *Store) PutBody(ctx context.Context, snap *snapshot.Snapshot) error {
	key := bodiesPrefix + snap.Digest
	if resp, err := s.cli.Get(ctx, key, clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("store: check body %s: %w", snap.Digest, err)
	} else if resp.Count > 0 {
		return nil
	}
	data := s.enc.EncodeAll(encodeBody(snap.Resources()), nil)
	if len(data) <= s.chunkSize {
		if _, err := s.cli.Put(ctx, key, string(append([]byte{'z'}, data...))); err != nil {
			return fmt.Errorf("store: put body %s (%d bytes compressed): %w", snap.Digest, len(data), err)
		}
		return nil
	}
	n := 0
	for off := 0; off < len(data); off += s.chunkSize {
		end := min(off+s.chunkSize, len(data))
		if _, err := s.cli.Put(ctx, fmt.Sprintf("%s%s/%06d", chunksPrefix, snap.Digest, n), string(data[off:end])); err != nil {
			return fmt.Errorf("store: put body %s chunk %d: %w", snap.Digest, n, err)
		}
		n++
	}
	m, _ := json.Marshal(chunkManifest{Chunks: n, Size: len(data)})
	// The manifest is written last, so a body is visible only once complete.
	if _, err := s.cli.Put(ctx, key, string(append([]byte{'c'}, m...))); err != nil {
		return fmt.Errorf("store: put body %s manifest: %w", snap.Digest, err)
	}
	return nil
}

// Body returns the stored snapshot with digest (without meta), checking its digest.
func (s *Store) Body(ctx context.Context, digest string) (*snapshot.Snapshot, error) {
	resp, err := s.cli.Get(ctx, bodiesPrefix+digest)
	if err != nil {
		return nil, fmt.Errorf("store: get body %s: %w", digest, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("store: snapshot %s: %w", digest, ErrNotFound)
	}
	v := resp.Kvs[0].Value
	var data []byte
	switch {
	case len(v) > 0 && v[0] == 'z':
		data = v[1:]
	case len(v) > 0 && v[0] == 'c':
		var m chunkManifest
		if err := json.Unmarshal(v[1:], &m); err != nil {
			return nil, fmt.Errorf("store: snapshot %s: bad chunk manifest: %w", digest, err)
		}
		cr, err := s.cli.Get(ctx, chunksPrefix+digest+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		if err != nil {
			return nil, fmt.Errorf("store: get chunks of %s: %w", digest, err)
		}
		if len(cr.Kvs) != m.Chunks {
			return nil, fmt.Errorf("store: snapshot %s has %d of its %d chunks", digest, len(cr.Kvs), m.Chunks)
		}
		data = make([]byte, 0, m.Size)
		for _, kv := range cr.Kvs {
			data = append(data, kv.Value...)
		}
	default:
		return nil, fmt.Errorf("store: snapshot %s: unknown value format", digest)
	}
	raw, err := s.dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("store: decompress snapshot %s: %w", digest, err)
	}
	return decodeBody(digest, raw)
}

// deleteBody deletes the body with digest and its chunks.
func (s *Store) deleteBody(ctx context.Context, digest string) error {
	if _, err := s.cli.Delete(ctx, bodiesPrefix+digest); err != nil {
		return err
	}
	_, err := s.cli.Delete(ctx, chunksPrefix+digest+"/", clientv3.WithPrefix())
	return err
}
