package etcdsink

import (
	"strings"

	"github.com/fleetgate/fleetgate/snapshot"
)

// initDirs are the directories "apisix init_etcd" creates a placeholder for (APISIX's
// constants.HTTP_ETCD_DIRECTORY and STREAM_ETCD_DIRECTORY).
var initDirs = []string{
	"consumer_groups", "consumers", "global_rules", "plugin_configs", "plugin_metadata",
	"plugins", "protos", "routes", "services", "ssls", "stream_routes", "upstreams",
}

// placeholderValue is what "apisix init_etcd" stores in each directory placeholder.
const placeholderValue = "init_dir"

// resourceDirs maps each etcd directory holding resources to its kind. Credentials live
// under consumers and are told apart by their key.
var resourceDirs = map[string]snapshot.Kind{
	"upstreams": snapshot.Upstreams, "services": snapshot.Services,
	"plugin_configs": snapshot.PluginConfigs, "consumer_groups": snapshot.ConsumerGroups,
	"consumers": snapshot.Consumers, "ssls": snapshot.SSLs, "secrets": snapshot.Secrets,
	"protos": snapshot.Protos, "plugin_metadata": snapshot.PluginMetadata,
	"global_rules": snapshot.GlobalRules, "routes": snapshot.Routes,
	"stream_routes": snapshot.StreamRoutes,
}

// stored reports whether the sink writes resources of kind k. The standalone file's plugin
// list is not written: with etcd, the plugins a node loads are its config.yaml's, which
// APISIX's Admin API copies to "/apisix/plugins" on a plugin reload; a list in the repository
// only takes effect with the file sink.
func stored(k snapshot.Kind) bool { return k != snapshot.Plugins }

// dirOf is the etcd directory of a kind.
func dirOf(k snapshot.Kind) string {
	if k == snapshot.Credentials {
		return "consumers"
	}
	return string(k)
}

// keyFor is the etcd key of a resource under prefix.
func keyFor(prefix string, k snapshot.Kind, id string) string {
	return prefix + "/" + dirOf(k) + "/" + id
}

// parseKey maps an etcd key under prefix to the resource kind and id it holds. ok is false for
// keys outside the resource directories; placeholder is true for a directory placeholder.
func parseKey(prefix, key string) (kind snapshot.Kind, id string, placeholder, ok bool) {
	rest, found := strings.CutPrefix(key, prefix+"/")
	if !found {
		return "", "", false, false
	}
	dir, id, _ := strings.Cut(rest, "/")
	kind, ok = resourceDirs[dir]
	if !ok {
		return "", "", false, false
	}
	if id == "" {
		return kind, "", true, true
	}
	if kind == snapshot.Consumers && strings.Contains(id, "/credentials/") {
		kind = snapshot.Credentials
	}
	return kind, id, false, true
}
