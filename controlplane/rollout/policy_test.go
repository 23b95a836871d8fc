package rollout

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRankGolden pins Rank: changing it would move every fleet's canaries to other machines
// on upgrade. The empty id's value is the first 8 bytes of the well-known SHA-256 of "".
func TestRankGolden(t *testing.T) {
	for id, want := range map[string]uint64{
		"":       0xe3b0c44298fc1c14,
		"edge-1": 0xdf594d71a145abdc,
		"edge-2": 0xa5daf75309e66ad7,
	} {
		assert.Equal(t, want, Rank(id), "Rank(%q)", id)
	}
}

func TestWaveSelector(t *testing.T) {
	for _, tc := range []struct {
		w    Wave
		want string
	}{
		{Wave{Select: map[string]string{"canary": "true"}}, "canary=true"},
		{Wave{Select: map[string]string{"zone": "b", "canary": "true"}}, "canary=true,zone=b"},
		{Wave{Percent: 50}, "50%"},
		{Wave{Percent: 100}, "100%"},
		{Wave{}, "none"},
	} {
		assert.Equal(t, tc.want, tc.w.Selector())
	}
}

// nodesN returns n unlabelled nodes edge-0 … edge-(n-1).
func nodesN(n int) []Node {
	out := make([]Node, n)
	for i := range out {
		out[i] = Node{ID: fmt.Sprintf("edge-%d", i)}
	}
	return out
}

// counts returns how many nodes each of waves waves has under a.
func counts(a map[string]int, waves int) []int {
	c := make([]int, waves)
	for _, w := range a {
		c[w]++
	}
	return c
}

// rankOrder returns the ids of nodes in Assign's order: by (Rank, id).
func rankOrder(nodes []Node) []string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	sort.Slice(ids, func(i, j int) bool {
		ri, rj := Rank(ids[i]), Rank(ids[j])
		if ri != rj {
			return ri < rj
		}
		return ids[i] < ids[j]
	})
	return ids
}

func TestAssignWithoutWaves(t *testing.T) {
	nodes := nodesN(5)
	for name, p := range map[string]*Policy{"nil": nil, "no waves": {Freeze: []Window{{Cron: "@daily"}}}} {
		a := Assign(p, nodes)
		require.Len(t, a, 5, name)
		for id, w := range a {
			assert.Equal(t, 0, w, "%s: %s", name, id)
		}
	}
	assert.Empty(t, Assign(&Policy{Waves: []Wave{{Percent: 100}}}, nil))
}

func TestAssignShares(t *testing.T) {
	pct := func(ps ...int) *Policy {
		p := &Policy{}
		for _, pc := range ps {
			p.Waves = append(p.Waves, Wave{Percent: pc})
		}
		return p
	}
	for _, tc := range []struct {
		name  string
		p     *Policy
		nodes int
		want  []int
	}{
		{"one node, 10% rounds up to it", pct(10, 100), 1, []int{1, 0}},
		{"10 nodes, 10%", pct(10, 100), 10, []int{1, 9}},
		{"11 nodes, 10% rounds up", pct(10, 100), 11, []int{2, 9}},
		{"cumulative 10/50/100 of 20", pct(10, 50, 100), 20, []int{2, 8, 10}},
		{"cumulative 10/50/100 of 1000", pct(10, 50, 100), 1000, []int{100, 400, 500}},
		{"cumulative 10/50/100 of 3", pct(10, 50, 100), 3, []int{1, 1, 1}},
		{"cumulative 10/50/100 of 2", pct(10, 50, 100), 2, []int{1, 0, 1}},
		{"last wave below 100 takes the rest", pct(25, 50), 8, []int{2, 6}},
		{"no node", pct(10, 100), 0, []int{0, 0}},
		{"percent not growing takes nothing", pct(50, 20, 100), 10, []int{5, 0, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Assign(tc.p, nodesN(tc.nodes))
			require.Len(t, a, tc.nodes)
			assert.Equal(t, tc.want, counts(a, len(tc.p.Waves)))
		})
	}
}

func TestAssignLabels(t *testing.T) {
	p := &Policy{Waves: []Wave{
		{Percent: 10}, // 0: percent before a label wave
		{Select: map[string]string{"canary": "true"}},              // 1
		{Select: map[string]string{"canary": "true", "zone": "b"}}, // 2: never reached, 1 takes them first
		{Select: map[string]string{"zone": "b"}},                   // 3
		{Select: map[string]string{"role": "nobody-has-it"}},       // 4: empty wave
		{Percent: 100}, // 5
	}}
	nodes := append(nodesN(10),
		Node{ID: "can-a", Labels: map[string]string{"canary": "true"}},
		Node{ID: "can-b", Labels: map[string]string{"canary": "true", "zone": "b"}},
		Node{ID: "zone-b", Labels: map[string]string{"zone": "b", "extra": "x"}},
		Node{ID: "not-canary", Labels: map[string]string{"canary": "false"}},
		Node{ID: "canary-key-only", Labels: map[string]string{"canary": ""}},
	)
	a := Assign(p, nodes)
	assert.Equal(t, 1, a["can-a"], "label waves take their nodes before percent waves")
	assert.Equal(t, 1, a["can-b"], "the first wave that selects a node gets it")
	assert.Equal(t, 3, a["zone-b"], "other labels do not matter")
	// 12 nodes are left for the percent waves: 10% of 12 rounds up to 2
	assert.Equal(t, []int{2, 2, 0, 1, 0, 10}, counts(a, len(p.Waves)))
	order := rankOrder(append(nodesN(10), Node{ID: "not-canary"}, Node{ID: "canary-key-only"}))
	for i, id := range order {
		want := 5
		if i < 2 {
			want = 0
		}
		assert.Equal(t, want, a[id], "%s at place %d of the rank order", id, i)
	}
}

// TestAssignLeftoversGoToLastWave: nodes no wave selects belong to the last wave, even when
// it is a label wave.
func TestAssignLeftoversGoToLastWave(t *testing.T) {
	p := &Policy{Waves: []Wave{
		{Percent: 10},
		{Percent: 50},
		{Select: map[string]string{"tier": "gold"}},
	}}
	nodes := append(nodesN(10), Node{ID: "gold", Labels: map[string]string{"tier": "gold"}})
	a := Assign(p, nodes)
	assert.Equal(t, 2, a["gold"])
	assert.Equal(t, []int{1, 4, 6}, counts(a, 3))

	only := &Policy{Waves: []Wave{{Select: map[string]string{"canary": "true"}}, {Select: map[string]string{"zone": "a"}}}}
	a = Assign(only, append(nodesN(3), Node{ID: "c", Labels: map[string]string{"canary": "true"}}))
	assert.Equal(t, map[string]int{"c": 0, "edge-0": 1, "edge-1": 1, "edge-2": 1}, a)
}

// TestAssignDeterministic: the input order does not matter.
func TestAssignDeterministic(t *testing.T) {
	p := &Policy{Waves: []Wave{{Select: map[string]string{"canary": "true"}}, {Percent: 10}, {Percent: 50}, {Percent: 100}}}
	nodes := nodesN(200)
	for i := 0; i < 200; i += 17 {
		nodes[i].Labels = map[string]string{"canary": "true"}
	}
	want := Assign(p, nodes)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := append([]Node(nil), nodes...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		require.Equal(t, want, Assign(p, shuffled))
	}
}

// TestAssignStableOrder: a node's place relative to every other node never changes when
// nodes come and go, so waves are always cut from the same order (only the boundaries move
// with the count), along the order waves never go back, and labelled nodes stay in their
// wave whatever the fleet.
func TestAssignStableOrder(t *testing.T) {
	p := &Policy{Waves: []Wave{{Select: map[string]string{"canary": "true"}}, {Percent: 10}, {Percent: 50}, {Percent: 100}}}
	all := nodesN(300)
	all[7].Labels = map[string]string{"canary": "true"}
	all[123].Labels = map[string]string{"canary": "true"}
	fullOrder := rankOrder(all)
	place := map[string]int{}
	for i, id := range fullOrder {
		place[id] = i
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 50 {
		var sub []Node
		for _, n := range all {
			if rng.IntN(3) > 0 || n.ID == "edge-7" {
				sub = append(sub, n)
			}
		}
		a := Assign(p, sub)
		require.Equal(t, 0, a["edge-7"], "round %d", round)
		if _, in := a["edge-123"]; in {
			require.Equal(t, 0, a["edge-123"], "round %d", round)
		}
		// the sub-fleet's order is the full fleet's order restricted to it
		order := rankOrder(sub)
		for i := 1; i < len(order); i++ {
			require.Less(t, place[order[i-1]], place[order[i]], "round %d", round)
		}
		// waves are non-decreasing along the order, and each percent wave is a prefix
		prev := 0
		for _, id := range order {
			if id == "edge-7" || id == "edge-123" {
				continue
			}
			require.GreaterOrEqual(t, a[id], prev, "round %d: %s", round, id)
			require.NotZero(t, a[id], "round %d: %s is in the label wave", round, id)
			prev = a[id]
		}
	}
}

func BenchmarkAssign10k(b *testing.B) {
	p := &Policy{Waves: []Wave{{Select: map[string]string{"canary": "true"}}, {Percent: 10}, {Percent: 50}, {Percent: 100}}}
	nodes := nodesN(10000)
	for b.Loop() {
		Assign(p, nodes)
	}
}

// Canaries by label first, then 10 % and 50 % of the other nodes, then the rest.
func ExampleAssign() {
	p := &Policy{Waves: []Wave{
		{Select: map[string]string{"canary": "true"}},
		{Percent: 10},
		{Percent: 50},
		{Percent: 100},
	}}
	nodes := []Node{{ID: "edge-canary", Labels: map[string]string{"canary": "true"}}}
	for i := range 20 {
		nodes = append(nodes, Node{ID: fmt.Sprintf("edge-%02d", i)})
	}
	waves := Assign(p, nodes)
	perWave := make([]int, len(p.Waves))
	for _, w := range waves {
		perWave[w]++
	}
	for i, w := range p.Waves {
		fmt.Printf("wave %d (%s): %d nodes\n", i+1, w.Selector(), perWave[i])
	}
	// Output:
	// wave 1 (canary=true): 1 nodes
	// wave 2 (10%): 2 nodes
	// wave 3 (50%): 8 nodes
	// wave 4 (100%): 10 nodes
}
