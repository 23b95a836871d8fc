package filesink

import (
	"fmt"
	"os"
	"path/filepath"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
)

// dirError returns an agent.ErrUnavailable error when the file's directory does not exist
// or is not a directory, nil when it is there.
func (s *Sink) dirError() error {
	dir := filepath.Dir(s.cfg.Path)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return agent.Unavailable(fmt.Errorf("file sink: directory %s: %w", dir, err))
	case !fi.IsDir():
		return agent.Unavailable(fmt.Errorf("file sink: %s is not a directory", dir))
	}
	return nil
}

// ioError marks an error reading or writing the file as agent.ErrUnavailable: a missing
// directory, a permission, a full or read-only disk say nothing about the content, and
// the agent writes the version again when the file can be written.
func ioError(err error) error {
	if err == nil {
		return nil
	}
	return agent.Unavailable(err)
}

// observe logs the changes of the sink's availability, once each: a WARN when the file or
// its directory cannot be used (err is agent.ErrUnavailable), an INFO when a write succeeds
// again (written with err nil; reads and checks that succeed do not end an outage, so a
// file that can be read but not written does not flap). A sink retried every second, or
// polled every 200 ms, while its directory is missing logs one line, not one per attempt.
// Errors about the content change nothing. It returns err.
func (s *Sink) observe(err error) error { return s.note(err, false) }

func (s *Sink) note(err error, written bool) error { return s.outage.Note(err, written) }
