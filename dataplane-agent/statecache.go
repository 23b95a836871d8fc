package agent

import (
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// cacheFile is the last applied snapshot in StateDir: a full ConfigUpdate in protobuf.
const cacheFile = "last-good.pb"

// saveCache writes s to StateDir atomically (temp file, fsync, rename). A failure is logged:
// the cache is a fallback, never a reason to refuse an update.
func (a *Agent) saveCache(s *snapshot.Snapshot) {
	if a.cfg.StateDir == "" {
		return
	}
	if err := writeCache(a.cfg.StateDir, s); err != nil {
		a.log.Error("write last good snapshot", "dir", a.cfg.StateDir, "digest", s.Digest, "err", err)
	}
}

func writeCache(dir string, s *snapshot.Snapshot) error {
	b, err := proto.Marshal(snapshot.FullUpdate(s))
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	f, err := os.CreateTemp(dir, cacheFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, cacheFile)); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// readCache returns the snapshot in dir, verified against its digest; nil, nil when none.
func readCache(dir string) (*snapshot.Snapshot, error) {
	b, err := os.ReadFile(filepath.Join(dir, cacheFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var u fleetgatev1.ConfigUpdate
	if err := proto.Unmarshal(b, &u); err != nil {
		return nil, fmt.Errorf("decode %s: %w", cacheFile, err)
	}
	s, err := snapshot.FromFullUpdate(&u)
	if err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", cacheFile, err)
	}
	return s, nil
}

// loadCache makes the cached snapshot the agent's current one, so that it can be restored
// into an empty sink and used as a delta base.
func (a *Agent) loadCache() {
	if a.cfg.StateDir == "" {
		return
	}
	s, err := readCache(a.cfg.StateDir)
	if err != nil {
		a.log.Error("read last good snapshot; ignoring it", "dir", a.cfg.StateDir, "err", err)
		return
	}
	if s == nil {
		return
	}
	a.mu.Lock()
	if a.cur == nil {
		a.cur = s
	}
	a.mu.Unlock()
	a.log.Info("loaded last good snapshot", "digest", s.Digest, "seq", s.Meta.Sequence)
}
