package dashboard

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Node states, one per node, in the order of the overview's columns. A node that is not
// connected is disconnected whatever it runs; a connected one is converged when it runs the
// desired version, nacking when it refused it (fleet.Nacking), else behind (the version is
// on its way, or its rollout wave has not started). Drifting is a flag on top of the state.
const (
	stateConverged    = "converged"
	stateBehind       = "behind"
	stateNacking      = "nacking"
	stateDisconnected = "disconnected"
)

// nodeState returns n's state against desired, the digest its group should run.
func nodeState(n *fleetgatev1.NodeStatus, desired string) string {
	switch {
	case !n.GetConnected():
		return stateDisconnected
	case desired != "" && n.GetAppliedDigest() == desired:
		return stateConverged
	case fleet.Nacking(n, desired):
		return stateNacking
	default:
		return stateBehind
	}
}

// counts are a group's nodes by state, as the overview shows them.
type counts struct {
	Total, Converged, Behind, Nacking, Drifting, Disconnected uint32
}

// groupCounts takes the admin API's counts and adds "behind", which the API does not count:
// the connected nodes neither converged nor nacking.
func groupCounts(gs *fleetgatev1.GroupStatus, nodes []*fleetgatev1.NodeStatus) counts {
	c := counts{Total: gs.GetNodesTotal(), Converged: gs.GetNodesConverged(), Nacking: gs.GetNodesNacking(),
		Drifting: gs.GetNodesDrifting(), Disconnected: gs.GetNodesDisconnected()}
	for _, n := range nodes {
		if nodeState(n, gs.GetDesired().GetMeta().GetDigest()) == stateBehind {
			c.Behind++
		}
	}
	return c
}

// groupView is one group of the overview and the head of a group page.
type groupView struct {
	*fleetgatev1.GroupStatus
	Counts counts
}

// overview serves "/": every group at a glance.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request, v viewer) {
	ctx := r.Context()
	st, err := h.api.GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	nodes, err := h.api.ListNodes(ctx, &fleetgatev1.ListNodesRequest{})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	byGroup := map[string][]*fleetgatev1.NodeStatus{}
	for _, n := range nodes.GetNodes() {
		byGroup[n.GetGroup()] = append(byGroup[n.GetGroup()], n)
	}
	var groups []groupView
	var total counts
	for _, g := range st.GetGroups() {
		c := groupCounts(g, byGroup[g.GetName()])
		groups = append(groups, groupView{GroupStatus: g, Counts: c})
		total.Total += c.Total
		total.Converged += c.Converged
		total.Behind += c.Behind
		total.Nacking += c.Nacking
		total.Drifting += c.Drifting
		total.Disconnected += c.Disconnected
	}
	h.render(w, r, "overview", page{Title: "Fleet", Viewer: v, Events: "/events", Replica: st.GetReplica(), Leader: st.GetLeader(),
		Crumbs: []crumb{{Name: "Fleet"}},
		Data: struct {
			Groups  []groupView
			Total   counts
			Sources []*fleetgatev1.SourceStatus
		}{groups, total, st.GetSources()}})
}

// nodeRow is one row of a group's node table.
type nodeRow struct {
	*fleetgatev1.NodeStatus
	State    string
	Drifting bool
	// AppliedSeq is the sequence of the version the node runs (0: unknown or none).
	AppliedSeq uint64
	// NackSeq is the sequence of the version the node last refused (0: unknown).
	NackSeq uint64
	Labels  []string
}

// nodeTable is one page of a group's node table.
type nodeTable struct {
	Rows []nodeRow
	// Query and State are the filter; Matched counts the nodes it keeps, of Total.
	Query, State     string
	Matched, Total   int
	Page, Pages, Per int
	From, To         int
}

// PageHref returns the URL of page p of the table with the same filter.
func (t nodeTable) PageHref(p int) string {
	q := make([]string, 0, 4)
	if t.Query != "" {
		q = append(q, "q="+urlQueryEscape(t.Query))
	}
	if t.State != "" {
		q = append(q, "state="+urlQueryEscape(t.State))
	}
	if p > 1 {
		q = append(q, "page="+strconv.Itoa(p))
	}
	if t.Per != 0 {
		q = append(q, "per="+strconv.Itoa(t.Per))
	}
	if len(q) == 0 {
		return "?"
	}
	return "?" + strings.Join(q, "&") + "#nodes"
}

// PageList returns the page numbers to link to (0 for a gap): the first, the last, and two
// either side of the current one.
func (t nodeTable) PageList() []int {
	var out []int
	for p := 1; p <= t.Pages; p++ {
		if p == 1 || p == t.Pages || (p >= t.Page-2 && p <= t.Page+2) {
			out = append(out, p)
		} else if len(out) > 0 && out[len(out)-1] != 0 {
			out = append(out, 0)
		}
	}
	return out
}

// searchText is what the filter box matches a node against, lower case.
func searchText(row nodeRow) string {
	n := row.NodeStatus
	parts := []string{n.GetNodeId(), row.State, n.GetSink(), n.GetAgentVersion(), n.GetReplica(),
		n.GetAppliedDigest(), "v" + strconv.FormatUint(row.AppliedSeq, 10), n.GetLastNack().GetError(), n.GetSinkError()}
	parts = append(parts, row.Labels...)
	if row.Drifting {
		parts = append(parts, "drifting", "drift")
	}
	if n.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY || n.GetSinkUnavailableSince() != nil {
		parts = append(parts, "sink-down", "unhealthy")
	}
	return strings.ToLower(strings.Join(parts, " "))
}

// filterNodes returns the rows of nodes that match every word of query and state ("" for
// any), sorted by node id, and one page of them.
func (h *Handler) filterNodes(nodes []*fleetgatev1.NodeStatus, desired string, seqs map[string]uint64, query, state string, pageNo, per int) nodeTable {
	if per <= 0 {
		per = h.opts.PageSize
	}
	per = min(per, 500)
	words := strings.Fields(strings.ToLower(query))
	t := nodeTable{Query: query, State: state, Total: len(nodes), Per: per}
	if per == h.opts.PageSize {
		t.Per = 0 // the default: left out of links
	}
	var rows []nodeRow
	for _, n := range nodes {
		row := nodeRow{NodeStatus: n, State: nodeState(n, desired), Drifting: fleet.Drifting(n),
			AppliedSeq: n.GetAppliedSequence(), NackSeq: seqs[n.GetLastNack().GetDigest()]}
		if row.AppliedSeq == 0 && n.GetAppliedDigest() != "" {
			row.AppliedSeq = seqs[n.GetAppliedDigest()]
		}
		for k, v := range n.GetLabels() {
			row.Labels = append(row.Labels, k+"="+v)
		}
		sort.Strings(row.Labels)
		if state != "" && row.State != state && !(state == "drifting" && row.Drifting) {
			continue
		}
		text := searchText(row)
		ok := true
		for _, w := range words {
			if !strings.Contains(text, w) {
				ok = false
				break
			}
		}
		if ok {
			rows = append(rows, row)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].GetNodeId() < rows[j].GetNodeId() })
	t.Matched = len(rows)
	t.Pages = max(1, (len(rows)+per-1)/per)
	t.Page = min(max(pageNo, 1), t.Pages)
	t.From = (t.Page - 1) * per
	t.To = min(t.From+per, len(rows))
	t.Rows = rows[t.From:t.To]
	return t
}

// group serves "/groups/<group>".
func (h *Handler) group(w http.ResponseWriter, r *http.Request, v viewer) {
	ctx := r.Context()
	name := r.PathValue("group")
	st, err := h.api.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: name})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	if len(st.GetGroups()) != 1 {
		h.fail(w, r, v, status.Errorf(codes.NotFound, "unknown group %q", name))
		return
	}
	gs := st.GetGroups()[0]
	nodes, err := h.api.ListNodes(ctx, &fleetgatev1.ListNodesRequest{Group: name})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	versions, err := h.api.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: name})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	audit, err := h.api.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: name, Limit: 50})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	var ro *fleetgatev1.GetRolloutResponse
	if gs.GetRollout() != nil {
		if ro, err = h.api.GetRollout(ctx, &fleetgatev1.GetRolloutRequest{Group: name}); err != nil {
			h.opts.Logger.Debug("dashboard: no rollout status", "group", name, "err", err)
			ro = nil
		}
	}
	seqs := map[string]uint64{}
	for _, ver := range versions.GetVersions() {
		seqs[ver.GetMeta().GetDigest()] = ver.GetMeta().GetSequence()
	}
	q := r.URL.Query()
	pageNo, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per"))
	table := h.filterNodes(nodes.GetNodes(), gs.GetDesired().GetMeta().GetDigest(), seqs, q.Get("q"), q.Get("state"), pageNo, per)
	h.render(w, r, "group", page{Title: name, Viewer: v, Events: "/events?group=" + urlQueryEscape(name), Replica: st.GetReplica(), Leader: st.GetLeader(),
		Crumbs: []crumb{{Name: "Fleet", Href: "/"}, {Name: name}},
		Data: struct {
			Group    groupView
			Versions []*fleetgatev1.Version
			Failures []*fleetgatev1.BuildFailure
			Nodes    nodeTable
			Rollout  *fleetgatev1.GetRolloutResponse
			Audit    []*fleetgatev1.AuditEntry
			Sources  []*fleetgatev1.SourceStatus
		}{groupView{gs, groupCounts(gs, nodes.GetNodes())}, versions.GetVersions(), versions.GetFailures(), table, ro, audit.GetEntries(), st.GetSources()}})
}

// kindView is the resources of one kind in a version.
type kindView struct {
	Kind      string
	Resources []resourceView
}

type resourceView struct {
	ID, Body string
	// Changed is true when the diff to the previous version names the resource: the page
	// shows it open.
	Changed bool
}

// changeView is one resource changed between two versions.
type changeView struct {
	*fleetgatev1.ResourceChange
	Type string
}

// version serves "/groups/<group>/versions/<version>".
func (h *Handler) version(w http.ResponseWriter, r *http.Request, v viewer) {
	ctx := r.Context()
	name, ver := r.PathValue("group"), r.PathValue("version")
	got, err := h.api.GetVersion(ctx, &fleetgatev1.GetVersionRequest{Group: name, Version: ver})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	versions, err := h.api.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: name})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	seq := got.GetVersion().GetMeta().GetSequence()
	// the previous version is the newest kept one below this one (pruned ones are gone)
	var prev *fleetgatev1.Version
	for _, o := range versions.GetVersions() {
		if s := o.GetMeta().GetSequence(); s < seq && (prev == nil || s > prev.GetMeta().GetSequence()) {
			prev = o
		}
	}
	var changes []changeView
	if prev != nil {
		d, err := h.api.DiffVersions(ctx, &fleetgatev1.DiffVersionsRequest{Group: name,
			From: strconv.FormatUint(prev.GetMeta().GetSequence(), 10), To: strconv.FormatUint(seq, 10)})
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		for _, c := range d.GetChanges() {
			changes = append(changes, changeView{ResourceChange: c, Type: changeType(c.GetType())})
		}
	}
	changed := map[string]bool{}
	for _, c := range changes {
		changed[c.GetKind()+"/"+c.GetId()] = true
	}
	var kinds []kindView
	byKind := map[string]int{}
	for _, res := range got.GetResources() {
		i, ok := byKind[res.GetKind()]
		if !ok {
			i = len(kinds)
			byKind[res.GetKind()] = i
			kinds = append(kinds, kindView{Kind: res.GetKind()})
		}
		kinds[i].Resources = append(kinds[i].Resources, resourceView{ID: res.GetId(), Body: prettyJSON(res.GetBody()), Changed: changed[res.GetKind()+"/"+res.GetId()]})
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].Kind < kinds[j].Kind })
	title := name + " v" + strconv.FormatUint(seq, 10)
	h.render(w, r, "version", page{Title: title, Viewer: v, Events: "/events?group=" + urlQueryEscape(name),
		Crumbs: []crumb{{Name: "Fleet", Href: "/"}, {Name: name, Href: "/groups/" + urlPathEscape(name)}, {Name: "v" + strconv.FormatUint(seq, 10)}},
		Data: struct {
			Group    string
			Version  *fleetgatev1.Version
			Kinds    []kindView
			Previous *fleetgatev1.Version
			Changes  []changeView
		}{name, got.GetVersion(), kinds, prev, changes}})
}

func changeType(t fleetgatev1.ChangeType) string {
	switch t {
	case fleetgatev1.ChangeType_CHANGE_TYPE_ADDED:
		return "added"
	case fleetgatev1.ChangeType_CHANGE_TYPE_REMOVED:
		return "removed"
	case fleetgatev1.ChangeType_CHANGE_TYPE_CHANGED:
		return "changed"
	}
	return "unknown"
}

// prettyJSON indents a resource body for reading; a body that is not JSON is shown as is.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}
