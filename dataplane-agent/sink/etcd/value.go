package etcdsink

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/fleetgate/fleetgate/snapshot"
)

// hasTimestamps reports whether APISIX's Admin API stamps resources of kind k with
// create_time and update_time: every kind but plugin metadata.
func hasTimestamps(k snapshot.Kind) bool { return k != snapshot.PluginMetadata }

// buildValue returns the value stored for r: its body with "create_time" and "update_time"
// appended as the last members, unless the body already carries them (the Admin API keeps
// given timestamps too). Plugin metadata is stored as its body.
func buildValue(r *snapshot.Resource, createTime, now int64) []byte {
	if !hasTimestamps(r.Kind) {
		return r.Body
	}
	hasC, hasU := topLevelHas(r.Body, "create_time"), topLevelHas(r.Body, "update_time")
	if hasC && hasU {
		return r.Body
	}
	out := make([]byte, 0, len(r.Body)+48)
	out = append(out, r.Body[:len(r.Body)-1]...)
	sep := len(bytes.TrimSpace(r.Body[1:len(r.Body)-1])) > 0
	if !hasC {
		if sep {
			out = append(out, ',')
		}
		out = append(out, `"create_time":`...)
		out = strconv.AppendInt(out, createTime, 10)
		sep = true
	}
	if !hasU {
		if sep {
			out = append(out, ',')
		}
		out = append(out, `"update_time":`...)
		out = strconv.AppendInt(out, now, 10)
	}
	return append(out, '}')
}

// topLevelHas reports whether the JSON object body has member name at its top level.
func topLevelHas(body []byte, name string) bool {
	if !bytes.Contains(body, []byte(`"`+name+`"`)) {
		return false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return false
	}
	_, ok := m[name]
	return ok
}

// createTimeOf returns the create_time member of a stored value, or 0.
func createTimeOf(value []byte) int64 {
	var v struct {
		CreateTime json.Number `json:"create_time"`
	}
	if err := json.Unmarshal(value, &v); err != nil {
		return 0
	}
	n, err := v.CreateTime.Int64()
	if err != nil {
		return 0
	}
	return n
}
