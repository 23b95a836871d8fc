// Package filesink is the agent's file sink: it writes a snapshot as Apache APISIX's standalone
// configuration file (conf/apisix.yaml, or conf/apisix.json), which APISIX re-reads when the
// file's mtime changes.
//
// # The file
//
// A ".yaml" or ".yml" path gets one YAML document (APISIX reads only the first) whose top-level
// keys are the collections APISIX's standalone mode reads, in this order, each present only
// when it has resources: upstreams, services, plugin_configs, consumer_groups, consumers, ssls,
// secrets, protos, plugin_metadata, global_rules, routes, stream_routes. Resources keep the
// order of the snapshot (sorted by id). Credentials are items of consumers, with their id set
// to "<username>/credentials/<id>" as APISIX expects; plugin metadata items carry their plugin
// name as id. The file ends with the line "#END", without which APISIX ignores it. A snapshot
// with no resources is written as "routes: []". A ".json" path gets the same collections as
// one JSON object, indented by two spaces, without "#END".
//
// # Writing
//
// The file is replaced atomically: written to a temporary file in the same directory, synced,
// renamed over the old one, and the directory synced, so a reader sees the old file or the new
// one, never a part. APISIX compares mtimes at one-second granularity, so the new file's mtime
// is set at least one whole second after the old one's (into the future if writes come faster
// than once a second). An Apply whose content equals the file's writes nothing.
//
// The applied digest, and the sha256 of the file it was written as, are kept in the sidecar
// "<path>.fleetgate-digest". Applied returns the digest only while the file still has that
// content, so a hand-edited file reports "" and gets a full update.
//
// # Availability
//
// The file's directory may appear after the agent starts (a volume mounted late). Until it
// exists, and whenever the file cannot be read or written (a permission, a full or read-only
// disk), the sink's errors are agent.ErrUnavailable: the agent holds the version it was sent
// and writes it as soon as it can, instead of refusing it. The sink logs the change of state
// once (a WARN when the file cannot be used, an INFO when a write succeeds again), not every
// attempt. Only a snapshot that cannot be encoded is a rejection of the content.
//
// # Drift
//
// WatchDrift polls the file every 200 ms (mtime and size, then content) and reports a file
// whose content is not what the sink wrote as Modified, or a missing file as Deleted.
package filesink
