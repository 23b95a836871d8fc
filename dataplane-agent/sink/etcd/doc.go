// Package etcdsink is the agent's etcd sink: it writes a snapshot into a node's etcd in the key
// layout Apache APISIX reads, and watches that etcd for changes it did not make (drift).
//
// # Keys and values
//
// A resource is stored at "<prefix>/<dir>/<id>" (prefix "/apisix" by default): routes at
// "/apisix/routes/<id>", consumers at "/apisix/consumers/<username>", credentials at
// "/apisix/consumers/<username>/credentials/<id>", secrets at "/apisix/secrets/<manager>/<id>",
// plugin metadata at "/apisix/plugin_metadata/<plugin>". The value is the resource's canonical
// JSON body with "create_time" and "update_time" (integer Unix seconds) appended, as APISIX's
// Admin API writes them; create_time is kept from the value being replaced. Plugin metadata
// gets no timestamps (the Admin API writes none). The directory placeholders that
// "apisix init_etcd" creates ("/apisix/routes/" = "init_dir", ...) are created when missing.
// Nothing else is ever written under the prefix; the standalone plugin list (kind "plugins")
// is not written at all: with etcd, APISIX loads the plugins of the node's config.yaml.
//
// # Bookkeeping
//
// The agent's own state lives outside the prefix, under "<agent-prefix>/<node-id>/"
// (Config.AgentPrefix, "/fleetgate-agent" by default): "applied" holds the digest of the
// last snapshot applied in full, and "manifest/<dir>/<id>" holds, per owned key, the sha256
// of the body, its create_time and, for a key adopted as it was, the key's mod revision. A claim key "<agent-prefix>/.claims<prefix>" names the one
// node allowed to write the prefix; every write transaction compares it, so a second agent
// fails loudly instead of interleaving.
//
// # Secured etcd
//
// Config.Username and Password log in to an etcd with authentication on; Config.TLS
// connects over client TLS. The sink needs a role of readwrite on "<prefix>/" and
// "<agent-prefix>/", nothing else. New never fails because etcd is unreachable or refuses
// the login: it connects in the background, and every call meanwhile returns an
// agent.ErrUnavailable error saying why. Errors that say nothing about the content (no
// connection, no answer within RequestTimeout, login refused, permission denied, which key
// and which permission found by probing) are agent.ErrUnavailable; refusals of the content
// (a request too large) are plain errors, which the agent NACKs.
//
// # Writes
//
// Apply writes only keys whose body hash differs from the manifest, or that were changed or
// deleted by someone else since the agent wrote them (their mod revision differs from their
// manifest entry's). Creates and updates go in snapshot.ApplyOrder, deletes in reverse, in
// transactions of at most 128 operations and about 900 KiB, each guarded by the claim and by
// the mod revision of every key it touches.
//
// # Ownership
//
// With [Manifest] ownership (the default) only keys in the manifest are updated or deleted;
// other keys under the resource directories are counted as unmanaged and left alone. A key
// that a snapshot names but the manifest lacks is adopted: when its value already is the
// snapshot's resource (timestamps aside) only its manifest entry is written, so the gateway
// sees no change; else it is overwritten keeping its create_time. With [Exclusive]
// ownership every resource directory belongs to Git, and foreign keys are deleted.
package etcdsink
