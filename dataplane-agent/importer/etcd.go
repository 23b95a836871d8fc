package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdReader is the part of an etcd client FromEtcd uses (clientv3.KV).
type EtcdReader interface {
	Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error)
}

// etcdPage is how many keys FromEtcd reads per request.
const etcdPage = 500

// placeholderValue is what "apisix init_etcd" stores in each directory placeholder
// (apisix/cli/etcd.lua).
const placeholderValue = "init_dir"

// FromEtcd reads every resource under prefix (APISIX's etcd.prefix, "/apisix" by default)
// at one etcd revision, in pages. Keys outside APISIX's resource directories and values that
// are not JSON objects are not imported; Config.Notes names each of them. It fails when
// etcd cannot be read, or when the prefix holds no resource at all (a wrong prefix is the
// likely cause, and an empty repository would make an adopting agent delete nothing but
// adopt nothing either).
func FromEtcd(ctx context.Context, kv EtcdReader, prefix string) (*Config, error) {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" {
		return nil, fmt.Errorf("import: the etcd prefix must not be the root (APISIX's etcd.prefix is /apisix by default)")
	}
	start, end := prefix+"/", clientv3.GetPrefixRangeEnd(prefix+"/")
	var rev int64
	c := newConfig("")
	seen := 0
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(etcdPage),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev)) // every page at the first page's revision
		}
		resp, err := kv.Get(ctx, start, opts...)
		if err != nil {
			hint := ""
			if errors.Is(err, rpctypes.ErrPermissionDenied) || strings.Contains(err.Error(), "permission denied") {
				hint = fmt.Sprintf("; the importing etcd user needs a role with read on prefix %s/", prefix)
			}
			return nil, fmt.Errorf("import: read etcd keys under %s/ (from %s): %w%s", prefix, start, err, hint)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			seen++
			c.addEtcd(prefix, string(kv.Key), kv.Value)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	c.Source = fmt.Sprintf("etcd prefix %s at revision %d", prefix, rev)
	if c.Len() == 0 {
		return nil, fmt.Errorf("import: etcd holds no APISIX resource under %s/ (%d keys read at revision %d); check --prefix against etcd.prefix in APISIX's config.yaml",
			prefix, seen, rev)
	}
	return c, nil
}

// addEtcd imports one key, or notes why not.
func (c *Config) addEtcd(prefix, key string, value []byte) {
	rest := strings.TrimPrefix(key, prefix+"/")
	dir, sub, hasSub := strings.Cut(rest, "/")
	if hasSub && sub == "" {
		return // a directory placeholder ("/apisix/routes/" = "init_dir")
	}
	col := dir
	switch dir {
	case "routes", "upstreams", "services", "plugin_configs", "consumer_groups", "ssls", "protos",
		"global_rules", "stream_routes", "consumers", "plugin_metadata", "secrets":
	case "plugins", "stream_plugins":
		// "/apisix/plugins" is the plugin list APISIX's Admin API copies from a node's
		// config.yaml on a plugin reload (apisix/admin/plugins.lua): with etcd, each node's
		// config.yaml decides which plugins it loads.
		c.notef("%s: not imported: the plugin list of the nodes' config.yaml, not a resource (keep plugins in config.yaml)", key)
		return
	default:
		c.notef("%s: not imported: not an APISIX resource directory", key)
		return
	}
	if !hasSub {
		c.notef("%s: not imported: a key directly in %s/ is no resource", key, prefix)
		return
	}
	if bytes.Equal(value, []byte(placeholderValue)) {
		return
	}
	obj, err := decodeObject(value)
	if err != nil {
		c.notef("%s: not imported: the value is not a JSON object (%v); APISIX skips it too", key, err)
		return
	}
	if hasVariable(obj) {
		c.notef("%s: holds \"${{\", which fleetgate substitutes at build time (from the group's variables); check the imported value", key)
	}
	id := sub
	switch {
	case dir == "consumers" && strings.Contains(sub, "/credentials/"):
		user, cred, _ := strings.Cut(sub, "/credentials/")
		if user == "" || cred == "" || strings.Contains(cred, "/") {
			c.notef("%s: not imported: not a credential key (consumers/<username>/credentials/<id>)", key)
			return
		}
		obj["id"] = sub // fleetgate's form: <username>/credentials/<id>
	case dir == "consumers":
		if strings.Contains(sub, "/") {
			c.notef("%s: not imported: not a consumer key (consumers/<username>)", key)
			return
		}
		if u, ok := obj["username"].(string); ok && u != sub {
			c.notef("%s: its username %q differs from its key; imported as %q, the key APISIX serves it under", key, u, sub)
		}
		obj["username"] = sub
		delete(obj, "id") // consumers are keyed by username; fleetgate's format has no id for them
	case dir == "secrets":
		if !strings.Contains(sub, "/") {
			c.notef("%s: not imported: a secret's key is secrets/<manager>/<id>", key)
			return
		}
		obj["id"] = sub
	default:
		if strings.Contains(sub, "/") {
			c.notef("%s: not imported: an id with \"/\" is not an APISIX %s key", key, dir)
			return
		}
		if v, ok := idString(obj["id"]); ok && v != sub {
			c.notef("%s: its id %q differs from its key; imported with id %q, the key", key, v, sub)
		}
		obj["id"] = sub
	}
	c.add(col, id, obj)
}

// decodeObject decodes a JSON object, keeping numbers as written (json.Number).
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a JSON %T, not an object", v)
	}
	return obj, nil
}
