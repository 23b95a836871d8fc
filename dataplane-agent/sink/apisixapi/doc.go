// Package apisixapisink is the agent's sink for Apache APISIX's API-driven standalone mode
// (APISIX 3.13+ with deployment.role: traditional and role_traditional.config_provider: yaml,
// the mode the APISIX ingress controller 2.x uses): APISIX runs without etcd and takes its
// whole configuration through PUT /apisix/admin/configs, keeping it in memory. The contract
// is APISIX's apisix/admin/standalone.lua; the data-plane side is apisix/core/config_yaml.lua.
//
// # What an Apply sends
//
// Apply first GETs /apisix/admin/configs (the stored document, its X-Digest and
// X-Last-Modified) and compares it with the snapshot, item by item, after APISIX's JSON round
// trip. When APISIX already holds the snapshot nothing is PUT. Otherwise one PUT carries the
// whole config as JSON, with X-API-KEY (Config.APIKey) and X-Digest set to the snapshot's
// digest ("sha256:…"; required from APISIX 3.14, which answers 204 without change when the
// digest equals the stored one), and per collection the "<collection>_conf_version" that makes
// APISIX change exactly what changed:
//
//   - a collection whose items are already the wanted ones is sent with its stored
//     conf_version and no items: APISIX keeps the stored items, and no worker touches them;
//   - a collection that changed is sent with conf_version stored+1 and all its items: an
//     unchanged item keeps its stored modifiedIndex (the workers keep running it without a
//     rebuild), a changed or new item gets a modifiedIndex above the new conf_version and
//     above every stored modifiedIndex (the workers reload it: an item whose modifiedIndex
//     equals the running one keeps its old content on the data plane);
//   - a collection the snapshot no longer has is sent changed and empty: APISIX wipes it.
//
// Credentials are items of "consumers" with the id "<username>/credentials/<id>"; plugin
// metadata items carry their plugin name as id; the plugin list ("plugins") is sent as the
// repository gives it. A snapshot with a collection this APISIX release does not list in its
// GET is refused: APISIX would drop it without an error (from 3.14 the list is
// apisix/constants.lua's etcd directories, which have no "secrets").
//
// After a PUT answered 202 (or 204, or 200), the sink GETs the document again and checks that
// APISIX holds exactly the snapshot; only then does Apply return nil and the agent ACK. With
// Config.WaitApplied the PUT asks ?wait=<ms> (newer releases): APISIX then answers 200 only
// once every worker applied the config (202 when the wait ran out, or from a release that
// ignores the parameter).
//
// # ACK, NACK, unavailable
//
//   - 400: APISIX refused the config. Apply returns a plain error carrying APISIX's
//     error_msg ("invalid routes at index 0, err: …"): the agent NACKs the version. So does a
//     413 (a config larger than the admin server's client_max_body_size).
//   - No answer (connection refused, timeout), a 5xx, a 401/403 (wrong admin key, admin
//     allow list), a 404 (APISIX not in API-driven standalone mode), or another writer PUTting
//     at the same moment: agent.ErrUnavailable. The agent keeps the version, reports the sink
//     unavailable, and applies it as soon as APISIX answers.
//
// With Config.Validate, a changing Apply first POSTs the config to
// /apisix/admin/configs/validate (APISIX 3.15+) and NACKs with every error APISIX lists; a
// release without the endpoint is detected once and the PUT, which validates too, goes ahead.
//
// # What the gateway runs
//
// Applied asks APISIX: from 3.14 the X-Digest it keeps names the snapshot (when it is a
// fleetgate digest, and, once this sink wrote, while the content is what it wrote); 3.13 keeps
// no digest, so Applied knows only what this sink applied since the agent started, while
// APISIX still holds it. A restarted APISIX holds nothing (Empty is true), so the agent
// restores its last good snapshot (agent.Config.StateDir) even with the control plane down.
//
// # Drift
//
// WatchDrift polls every Config.PollInterval (500ms): from 3.14 a HEAD whose X-Digest and
// X-Last-Modified did not move settles it; otherwise the sink GETs the document and reports
// every resource that differs from what it applied (added, modified, deleted, with kind and
// id), once per distinct content: someone else's PUT, or an APISIX restarted empty. The agent
// heals it (re-applies) in its heal mode.
package apisixapisink
