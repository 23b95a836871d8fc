package main

// nodes -l: label selectors, matched against the labels agents report (their --label flags),
// client-side on ListNodes. The syntax is a subset of Kubernetes' equality-based selectors
// (k8s.io/apimachinery/pkg/labels): key=value (also key==value), key!=value, key, !key.

import (
	"fmt"
	"sort"
	"strings"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// requirement is one term of a label selector.
type requirement struct {
	key, value string
	op         string // "=", "!=", "exists", "!exists"
}

// selector is a set of requirements that must all hold.
type selector []requirement

// parseSelector reads -l values, each one or more comma-separated terms.
func parseSelector(values []string) (selector, error) {
	var sel selector
	for _, v := range values {
		for _, term := range strings.Split(v, ",") {
			term = strings.TrimSpace(term)
			if term == "" {
				continue
			}
			r, err := parseRequirement(term)
			if err != nil {
				return nil, fmt.Errorf("-l %q: %w", v, err)
			}
			sel = append(sel, r)
		}
	}
	return sel, nil
}

func parseRequirement(term string) (requirement, error) {
	var r requirement
	switch {
	case strings.Contains(term, "!="):
		r.key, r.value, _ = strings.Cut(term, "!=")
		r.op = "!="
	case strings.Contains(term, "="):
		r.key, r.value, _ = strings.Cut(term, "=")
		r.value = strings.TrimPrefix(r.value, "=") // key==value
		r.op = "="
	case strings.HasPrefix(term, "!"):
		r.key, r.op = term[1:], "!exists"
	default:
		r.key, r.op = term, "exists"
	}
	r.key, r.value = strings.TrimSpace(r.key), strings.TrimSpace(r.value)
	if r.key == "" {
		return r, fmt.Errorf("%q has no label key: want key=value, key!=value, key or !key", term)
	}
	if strings.ContainsAny(r.key, "=! ") || strings.ContainsAny(r.value, "=! ") {
		return r, fmt.Errorf("%q: want key=value, key!=value, key or !key", term)
	}
	return r, nil
}

// matches reports whether labels satisfy every requirement.
func (s selector) matches(labels map[string]string) bool {
	for _, r := range s {
		v, ok := labels[r.key]
		switch r.op {
		case "=":
			if !ok || v != r.value {
				return false
			}
		case "!=":
			if ok && v == r.value {
				return false
			}
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		}
	}
	return true
}

// filter is the nodes whose labels match (all of them for an empty selector).
func (s selector) filter(nodes []*fleetgatev1.NodeStatus) []*fleetgatev1.NodeStatus {
	if len(s) == 0 {
		return nodes
	}
	out := make([]*fleetgatev1.NodeStatus, 0, len(nodes))
	for _, n := range nodes {
		if s.matches(n.GetLabels()) {
			out = append(out, n)
		}
	}
	return out
}

// nodeLabels is a node's LABELS (-o wide): key=value, sorted, comma-separated.
func nodeLabels(n *fleetgatev1.NodeStatus) string {
	if len(n.GetLabels()) == 0 {
		return "-"
	}
	kv := make([]string, 0, len(n.GetLabels()))
	for k, v := range n.GetLabels() {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
