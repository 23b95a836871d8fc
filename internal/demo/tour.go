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

	clientv3 "go.etcd.io/etcd/client/v3"

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

// tourFaultRoute is valid config that breaks the gateway: a fault injection left on, which
// makes APISIX answer every request with 503.
const tourFaultRoute = `routes:
  - id: checkout
    uri: /checkout/*
    plugins:
      fault-injection:
        abort: {http_status: 503, body: "checkout is down\n"}
    upstream:
      type: roundrobin
      nodes:
        "checkout.internal:8080": 1
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
		{"a canary catches a bad commit and the fleet reverts by itself", d.stepCanary},
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

// stepCanary commits a route that APISIX accepts but that makes the gateway answer 503 to
// production only. Production rolls out in waves: production-1, the canary, applies it
// first; its agent's health check through the gateway fails; the control plane reverts
// production by itself (an automatic pin to the last good version) before production-2,
// the second wave, ever receives it.
func (d *demo) stepCanary(ctx context.Context) error {
	var canary, other *node
	for _, n := range d.nodes {
		switch n.id {
		case "production-1":
			canary = n
		case "production-2":
			other = n
		}
	}
	key := Prefix + "/routes/checkout"
	// production-2 must never receive the version: watch its key from now on
	_, rev, err := d.get(ctx, other, key)
	if err != nil {
		return err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	reached := make(chan struct{}, 1)
	go func() {
		for resp := range other.cli.Watch(wctx, key, clientv3.WithRev(rev+1)) {
			if len(resp.Events) > 0 {
				reached <- struct{}{}
				return
			}
		}
	}()
	before, err := d.admin.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: "production"})
	if err != nil {
		return err
	}
	was := group(before, "production").GetDesired().GetMeta()
	if _, err := d.commit(ctx, "production/checkout.yaml", tourFaultRoute, "Add the checkout route (with a fault injection left on)"); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	var g *fleetgatev1.GroupStatus
	for {
		st, err := d.admin.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: "production"})
		if err != nil {
			return err
		}
		g = group(st, "production")
		if r := g.GetRollout(); r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED && r.GetSequence() > was.GetSequence() &&
			g.GetPin().GetAutomatic() {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("production did not revert by itself within 60s (rollout: %v)", g.GetRollout())
		}
		if !backoff.Sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	r, pin := g.GetRollout(), g.GetPin()
	f := r.GetFailure()
	fmt.Fprintf(d.out, "     version %d went to the canary %s first; its health check through the gateway failed: %s\n",
		r.GetSequence(), f.GetNodeId(), f.GetError())
	fmt.Fprintf(d.out, "     production reverted by itself to version %d (pin by %s: %q)\n", pin.GetSequence(), pin.GetBy(), pin.GetReason())
	if f.GetGate() != "health" || f.GetNodeId() != canary.id {
		return fmt.Errorf("the rollout failed at gate %q on %s, want the health check of %s", f.GetGate(), f.GetNodeId(), canary.id)
	}
	if pin.GetDigest() != was.GetDigest() {
		return fmt.Errorf("production was pinned to %s, want the last good version %s", pin.GetDigest(), was.GetDigest())
	}
	if _, err := d.waitConverged(ctx, 30*time.Second, func(st *fleetgatev1.GetStatusResponse) bool {
		return group(st, "production").GetDesired().GetMeta().GetDigest() == was.GetDigest()
	}); err != nil {
		return err
	}
	if err := d.holds(ctx, "production", key, false); err != nil {
		return err
	}
	select {
	case <-reached:
		return fmt.Errorf("%s, the second wave, received the bad version", other.id)
	default:
	}
	fmt.Fprintf(d.out, "     %s, the second wave, never received it; see: fleetgate rollout status production\n", other.id)
	return nil
}
