package filesink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Config configures a file sink.
type Config struct {
	// Path is APISIX's standalone file, e.g. /usr/local/apisix/conf/apisix.yaml. Its extension
	// chooses the format: .yaml or .yml for YAML, .json for JSON. Required. Its directory may
	// appear after the sink starts (a volume mounted late): until it does, the sink is
	// unavailable (agent.ErrUnavailable) and the agent writes the file as soon as it can.
	Path string
	// PollInterval is how often WatchDrift looks at the file. Default 200ms.
	PollInterval time.Duration
	// Logger receives the sink's logs. Default slog.Default().
	Logger *slog.Logger
}

// ApplyStats says what the last Apply wrote.
type ApplyStats struct {
	// Writes is 1 when the file was replaced, 0 when it already had the content.
	Writes int
	// Bytes is the size of the file written.
	Bytes int
}

// Sink writes snapshots to APISIX's standalone file. It implements agent.Sink,
// agent.DriftWatcher and agent.HealthChecker. Its methods are safe for concurrent use.
type Sink struct {
	cfg     Config
	json    bool
	sidecar string
	log     *slog.Logger

	mu       sync.Mutex
	wantHash string // sha256 of the content the sink last wrote (or found recorded), "" if none
	last     ApplyStats
	now      func() time.Time

	outage agent.OutageLog // the file or its directory could not be used; see observe
}

var (
	_ agent.Sink          = (*Sink)(nil)
	_ agent.DriftWatcher  = (*Sink)(nil)
	_ agent.HealthChecker = (*Sink)(nil)
	_ agent.EmptyChecker  = (*Sink)(nil)
)

// New returns a file sink for cfg.Path. A missing directory is not an error (see
// Config.Path): it is logged once, and Health reports it until the directory exists.
func New(cfg Config) (*Sink, error) {
	if cfg.Path == "" {
		return nil, errors.New("file sink: empty path (want e.g. /usr/local/apisix/conf/apisix.yaml)")
	}
	s := &Sink{cfg: cfg, sidecar: cfg.Path + ".fleetgate-digest", now: time.Now}
	switch strings.ToLower(filepath.Ext(cfg.Path)) {
	case ".yaml", ".yml":
	case ".json":
		s.json = true
	default:
		return nil, fmt.Errorf("file sink: %s: unknown extension, want .yaml, .yml or .json", cfg.Path)
	}
	if s.cfg.PollInterval <= 0 {
		s.cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s.log = cfg.Logger.With("sink", "file", "path", cfg.Path)
	s.outage = agent.OutageLog{Log: s.log, Down: "standalone file cannot be used; the agent retries until it can", Up: "standalone file written again"}
	if err := s.observe(s.dirError()); err != nil {
		return s, nil
	}
	if _, h, err := s.readSidecar(); err == nil {
		s.wantHash = h
	}
	return s, nil
}

// Empty reports whether neither the config file nor its digest sidecar exists. The file is
// written atomically, so a file without a matching sidecar is a config the sink (or someone)
// wrote, not an empty sink: the agent does not restore its last good snapshot over it.
// A missing directory is an agent.ErrUnavailable error: nothing can be restored into it.
func (s *Sink) Empty(ctx context.Context) (bool, error) {
	if err := s.observe(s.dirError()); err != nil {
		return false, err
	}
	for _, p := range []string{s.cfg.Path, s.sidecar} {
		_, err := os.Stat(p)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, s.observe(ioError(fmt.Errorf("file sink: %w", err)))
		}
	}
	return true, nil
}

// Applied returns the digest recorded in the sidecar file, or "" when there is none or the
// file no longer has the content it was written with. A missing directory or an unreadable
// file is an agent.ErrUnavailable error: it says nothing about what APISIX runs.
func (s *Sink) Applied(ctx context.Context) (string, error) {
	if err := s.observe(s.dirError()); err != nil {
		return "", err
	}
	digest, want, err := s.readSidecar()
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", s.observe(ioError(err))
	}
	data, err := os.ReadFile(s.cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", s.observe(ioError(fmt.Errorf("file sink: read %s: %w", s.cfg.Path, err)))
	}
	if hashOf(data) != want {
		return "", nil
	}
	return digest, nil
}

// readSidecar returns the digest and file hash recorded beside the file.
func (s *Sink) readSidecar() (digest, fileHash string, err error) {
	data, err := os.ReadFile(s.sidecar)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		return "", "", fmt.Errorf("file sink: read %s: %w", s.sidecar, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "digest":
			digest = v
		case "file-sha256":
			fileHash = v
		}
	}
	return digest, fileHash, nil
}

// Apply writes snap as the whole file, atomically, unless the file already has that content,
// and records snap.Digest in the sidecar. An error reading or writing the file (a missing
// directory, a permission, a full disk) is an agent.ErrUnavailable error; an error encoding
// snap is not.
func (s *Sink) Apply(ctx context.Context, snap *snapshot.Snapshot) error {
	return s.note(s.apply(ctx, snap), true)
}

func (s *Sink) apply(ctx context.Context, snap *snapshot.Snapshot) error {
	var data []byte
	var err error
	if s.json {
		data, err = encodeJSON(snap)
	} else {
		data, err = encodeYAML(snap)
	}
	if err != nil {
		return fmt.Errorf("file sink: encode %s: %w", snapshot.ShortDigest(snap.Digest), err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h := hashOf(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = ApplyStats{}
	old, err := os.ReadFile(s.cfg.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioError(fmt.Errorf("file sink: read %s: %w", s.cfg.Path, err))
	}
	if err != nil || !bytes.Equal(old, data) {
		if err := s.replace(s.cfg.Path, data, true); err != nil {
			return ioError(err)
		}
		s.last = ApplyStats{Writes: 1, Bytes: len(data)}
		s.log.Info("wrote standalone file", "digest", snap.Digest, "bytes", len(data))
	}
	s.wantHash = h
	if d, fh, err := s.readSidecar(); err == nil && d == snap.Digest && fh == h {
		return nil
	}
	side := fmt.Sprintf("digest %s\nfile-sha256 %s\n", snap.Digest, h)
	if err := s.replace(s.sidecar, []byte(side), false); err != nil {
		return ioError(err)
	}
	return nil
}

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// replace writes data to path atomically: a temporary file in the same directory, fsync,
// rename, fsync of the directory. With bumpMtime, the new file's mtime is at least one whole
// second after the old one's.
func (s *Sink) replace(path string, data []byte, bumpMtime bool) (err error) {
	dir := filepath.Dir(path)
	mode := fs.FileMode(0o644)
	var prev time.Time
	if fi, err := os.Stat(path); err == nil {
		mode, prev = fi.Mode().Perm(), fi.ModTime()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("file sink: create temporary file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("file sink: write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("file sink: chmod %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("file sink: fsync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("file sink: close %s: %w", tmp.Name(), err)
	}
	if bumpMtime {
		mt := s.now()
		if !prev.IsZero() && mt.Unix() <= prev.Unix() {
			mt = time.Unix(prev.Unix()+1, 0)
		}
		if err = os.Chtimes(tmp.Name(), mt, mt); err != nil {
			return fmt.Errorf("file sink: set mtime of %s: %w", tmp.Name(), err)
		}
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("file sink: rename %s to %s: %w", tmp.Name(), path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("file sink: open directory %s to fsync: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("file sink: fsync directory %s: %w", dir, err)
	}
	return nil
}

// Health returns nil when the file's directory exists, else an agent.ErrUnavailable error.
func (s *Sink) Health(ctx context.Context) error {
	err := s.dirError()
	if err != nil {
		return s.observe(err)
	}
	return nil
}

// LastApply returns what the last Apply wrote.
func (s *Sink) LastApply() ApplyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// WatchDrift polls the file until ctx is done and reports, once per distinct change, a file
// whose content is not what the sink last wrote. It returns ctx.Err().
func (s *Sink) WatchDrift(ctx context.Context, report func(agent.Drift)) error {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var lastMod time.Time
	var lastSize int64 = -1
	reported := "" // hash (or "missing") last reported, so a change is reported once
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if d, ok := s.check(&lastMod, &lastSize, &reported); ok {
			report(d)
		}
	}
}

func (s *Sink) check(lastMod *time.Time, lastSize *int64, reported *string) (agent.Drift, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wantHash == "" {
		return agent.Drift{}, false // nothing written yet: nothing to drift from
	}
	d := agent.Drift{Key: s.cfg.Path, At: s.now()}
	fi, err := os.Stat(s.cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		*lastSize = -1
		if *reported != "missing" {
			*reported = "missing"
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED
			return d, true
		}
		return agent.Drift{}, false
	}
	if err != nil {
		s.observe(ioError(fmt.Errorf("file sink: drift check: %w", err)))
		return agent.Drift{}, false
	}
	if fi.ModTime().Equal(*lastMod) && fi.Size() == *lastSize && *reported != "missing" {
		return agent.Drift{}, false
	}
	*lastMod, *lastSize = fi.ModTime(), fi.Size()
	data, err := os.ReadFile(s.cfg.Path)
	if err != nil {
		return agent.Drift{}, false
	}
	h := hashOf(data)
	if h == s.wantHash {
		*reported = ""
		return agent.Drift{}, false
	}
	if h == *reported {
		return agent.Drift{}, false
	}
	*reported = h
	d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED
	return d, true
}

// collections is the order of the file's top-level keys; credentials join consumers. The
// plugin list ("plugins", entries {name, stream}) is written as the repository gives it.
var collections = []snapshot.Kind{
	snapshot.Plugins, snapshot.Upstreams, snapshot.Services, snapshot.PluginConfigs, snapshot.ConsumerGroups,
	snapshot.Consumers, snapshot.SSLs, snapshot.Secrets, snapshot.Protos, snapshot.PluginMetadata,
	snapshot.GlobalRules, snapshot.Routes, snapshot.StreamRoutes,
}

func collectionOf(k snapshot.Kind) snapshot.Kind {
	if k == snapshot.Credentials {
		return snapshot.Consumers
	}
	return k
}

// items groups the snapshot's item bodies by collection, with the ids APISIX's standalone
// mode expects.
func items(snap *snapshot.Snapshot) (map[snapshot.Kind][][]byte, error) {
	m := make(map[snapshot.Kind][][]byte)
	for r := range snap.All() {
		body := r.Body
		if r.Kind == snapshot.Credentials || r.Kind == snapshot.PluginMetadata {
			var err error
			if body, err = withID(body, r.ID); err != nil {
				return nil, fmt.Errorf("%s: %w", r.Key(), err)
			}
		}
		c := collectionOf(r.Kind)
		m[c] = append(m[c], body)
	}
	return m, nil
}

// withID returns the canonical body with its id member set to id.
func withID(body []byte, id string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, err
	}
	q, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(obj["id"], q) {
		return body, nil
	}
	obj["id"] = q
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return snapshot.Canonicalize(buf.Bytes())
}

func encodeJSON(snap *snapshot.Snapshot) ([]byte, error) {
	m, err := items(snap)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	for _, c := range collections {
		if len(m[c]) == 0 {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		fmt.Fprintf(&buf, "%q:[", c)
		for i, b := range m[c] {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(b)
		}
		buf.WriteByte(']')
	}
	if n == 0 {
		buf.WriteString(`"routes":[]`)
	}
	buf.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func encodeYAML(snap *snapshot.Snapshot) ([]byte, error) {
	m, err := items(snap)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := yamlWriter{out: &buf}
	for _, c := range collections {
		if len(m[c]) == 0 {
			continue
		}
		buf.WriteString(string(c))
		buf.WriteString(":\n")
		for _, b := range m[c] {
			n, err := parseJSON(b)
			if err != nil {
				return nil, fmt.Errorf("%s item: %w", c, err)
			}
			w.pad(2)
			buf.WriteString("- ")
			if n.isBlock() {
				w.block(n, 4, true)
			} else {
				w.scalar(n, 4)
			}
		}
	}
	if buf.Len() == 0 {
		buf.WriteString("routes: []\n")
	}
	buf.WriteString("#END\n")
	return buf.Bytes(), nil
}
