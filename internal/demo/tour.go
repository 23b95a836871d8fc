package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

const tourRoute = `routes:
  - id: tour
    uri: /tour
    upstream:
      type: roundrobin
      nodes:
        "tour.internal:8080": 1
`

// The seed's second example: an unknown plugin and a field APISIX upstreams do not have.
const tourBadRoute = `routes:
  - name: example-route
    upstream:
      url: "http://backend-service:8080"
    plugins:
      key-auth: {}
      rate-limit:
        rate: 100
`

// tour walks the scripted steps; it returns an error naming the first step that failed.
func (d *demo) tour(ctx context.Context) error {
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"a commit rolls out to the whole fleet", d.stepRollout},
		{"an invalid commit is rejected and the fleet stays put", d.stepInvalid},
		{"a rollback pins production to the previous version", d.stepRollback},
		{"unpin returns production to head", d.stepUnpin},
		{"a hand edit to a node's etcd is healed", d.stepHeal},
	}
	fmt.Fprintln(d.out, "Tour:")
	for i, s := range steps {
		if err := s.run(ctx); err != nil {
			fmt.Fprintf(d.out, "  ✘ %d. %s: %v\n", i+1, s.name, err)
			return fmt.Errorf("tour step %d (%s) failed: %w", i+1, s.name, err)
		}
		fmt.Fprintf(d.out, "  ✔ %d. %s\n", i+1, s.name)
	}
	fmt.Fprintln(d.out, "\nEvery step held.")
	return nil
}

// commit writes (or, with content "", removes) a file, commits, and asks for a fetch.
func (d *demo) commit(ctx context.Context, path, content, msg string) (string, error) {
	full := filepath.Join(d.repo, path)
	if content == "" {
		if err := os.Remove(full); err != nil {
			return "", err
		}
	} else if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		return "", err
	}
	if err := commitAll(ctx, d.repo, msg); err != nil {
		return "", err
	}
	sha, err := gitHead(ctx, d.repo)
	if err != nil {
		return "", err
	}
	if _, err := d.admin.Sync(ctx, &fleetgatev1.SyncRequest{}); err != nil {
		return "", fmt.Errorf("sync: %w", err)
	}
	return sha, nil
}

func group(st *fleetgatev1.GetStatusResponse, name string) *fleetgatev1.GroupStatus {
	for _, g := range st.GetGroups() {
		if g.GetName() == name {
			return g
		}
	}
	return &fleetgatev1.GroupStatus{}
}

func (d *demo) get(ctx context.Context, n *node, key string) (string, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := n.cli.Get(ctx, key)
	if err != nil {
		return "", 0, err
	}
	if len(resp.Kvs) == 0 {
		return "", resp.Header.Revision, nil
	}
	return string(resp.Kvs[0].Value), resp.Header.Revision, nil
}

// holds reports whether every node of group (all nodes if "") has key (or lacks it).
func (d *demo) holds(ctx context.Context, group, key string, want bool) error {
	for _, n := range d.nodes {
		if group != "" && n.group != group {
			continue
		}
		v, _, err := d.get(ctx, n, key)
		if err != nil {
			return err
		}
		if (v != "") != want {
			return fmt.Errorf("%s: key %s present=%v, want %v", n.id, key, v != "", want)
		}
	}
	return nil
}

func (d *demo) stepRollout(ctx context.Context) error {
	before, err := d.admin.GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
	if err != nil {
		return err
	}
	if _, err := d.commit(ctx, "base/tour.yaml", tourRoute, "Add the /tour route"); err != nil {
		return err
	}
	st, err := d.waitConverged(ctx, 30*time.Second, func(st *fleetgatev1.GetStatusResponse) bool {
		for _, g := range before.GetGroups() {
			if group(st, g.GetName()).GetDesired().GetMeta().GetDigest() == g.GetDesired().GetMeta().GetDigest() {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	d.printFleet(st)
	return d.holds(ctx, "", Prefix+"/routes/tour", true)
}

func (d *demo) stepInvalid(ctx context.Context) error {
	before, err := d.admin.GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
	if err != nil {
		return err
	}
	revs := map[string]int64{}
	for _, n := range d.nodes {
		if _, revs[n.id], err = d.get(ctx, n, "/"); err != nil {
			return err
		}
	}
	sha, err := d.commit(ctx, "base/bad.yaml", tourBadRoute, "Add example-route (invalid)")
	if err != nil {
		return err
	}
	var failure *fleetgatev1.BuildFailure
	deadline := time.Now().Add(30 * time.Second)
	for failure == nil {
		st, err := d.admin.GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
		if err != nil {
			return err
		}
		if f := group(st, "production").GetLastFailure(); f.GetCommit() == sha {
			failure = f
			for _, g := range before.GetGroups() {
				if group(st, g.GetName()).GetDesired().GetMeta().GetDigest() != g.GetDesired().GetMeta().GetDigest() {
					return fmt.Errorf("group %s moved after an invalid commit", g.GetName())
				}
			}
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the control plane never reported the invalid commit")
		}
		if !backoff.Sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	fmt.Fprintf(d.out, "     commit %.8s was rejected; the fleet keeps its version. Errors:\n", sha)
	for _, p := range failure.GetProblems() {
		fmt.Fprintf(d.out, "       %s\n", snapshot.ProblemFromProto(p))
	}
	for _, n := range d.nodes {
		_, rev, err := d.get(ctx, n, "/")
		if err != nil {
			return err
		}
		if rev != revs[n.id] {
			return fmt.Errorf("etcd of %s was written (revision %d → %d)", n.id, revs[n.id], rev)
		}
	}
	// Remove the bad file again: same content as before, so no new version.
	_, err = d.commit(ctx, "base/bad.yaml", "", "Remove example-route")
	return err
}

func (d *demo) stepRollback(ctx context.Context) error {
	resp, err := d.admin.Rollback(ctx, &fleetgatev1.RollbackRequest{Group: "production", Reason: "demo tour: roll back the /tour route"})
	if err != nil {
		return err
	}
	pin := resp.GetPin()
	fmt.Fprintf(d.out, "     production pinned to version %d (%s)\n", pin.GetSequence(), pin.GetDigest()[:19])
	if _, err := d.waitConverged(ctx, 30*time.Second, func(st *fleetgatev1.GetStatusResponse) bool {
		return group(st, "production").GetDesired().GetMeta().GetDigest() == pin.GetDigest()
	}); err != nil {
		return err
	}
	if err := d.holds(ctx, "production", Prefix+"/routes/tour", false); err != nil {
		return err
	}
	return d.holds(ctx, "staging", Prefix+"/routes/tour", true)
}

func (d *demo) stepUnpin(ctx context.Context) error {
	if _, err := d.admin.Unpin(ctx, &fleetgatev1.UnpinRequest{Group: "production", Reason: "demo tour done"}); err != nil {
		return err
	}
	st, err := d.waitConverged(ctx, 30*time.Second, func(st *fleetgatev1.GetStatusResponse) bool {
		g := group(st, "production")
		return g.GetPin() == nil && g.GetDesired().GetMeta().GetDigest() == g.GetHead().GetMeta().GetDigest()
	})
	if err != nil {
		return err
	}
	d.printFleet(st)
	return d.holds(ctx, "production", Prefix+"/routes/tour", true)
}

func (d *demo) stepHeal(ctx context.Context) error {
	var n *node
	for _, c := range d.nodes {
		if c.id == "production-1" {
			n = c
		}
	}
	key := Prefix + "/routes/tour"
	orig, _, err := d.get(ctx, n, key)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = n.cli.Put(pctx, key, `{"id":"tour","uri":"/hand-edited","upstream":{"type":"roundrobin","nodes":{"elsewhere:80":1}}}`)
	cancel()
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "     edited %s on %s by hand (as etcdctl would)\n", key, n.id)
	start := time.Now()
	for {
		v, _, err := d.get(ctx, n, key)
		if err != nil {
			return err
		}
		if sameResource(v, orig) {
			fmt.Fprintf(d.out, "     healed after %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Since(start) > 10*time.Second {
			return fmt.Errorf("%s still holds the hand edit after 10s: %s", n.id, v)
		}
		if !backoff.Sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// sameResource compares two etcd values, ignoring the timestamps the sink sets.
func sameResource(a, b string) bool {
	var ma, mb map[string]any
	if json.Unmarshal([]byte(a), &ma) != nil || json.Unmarshal([]byte(b), &mb) != nil {
		return false
	}
	for _, m := range []map[string]any{ma, mb} {
		delete(m, "update_time")
		delete(m, "create_time")
	}
	return reflect.DeepEqual(ma, mb)
}
