package snapshot

// Kind is an APISIX resource collection, named as in APISIX's standalone file and its etcd
// directories ("routes", "upstreams", ...). Credentials are their own kind, stored by APISIX
// under their consumer.
type Kind string

// The resource kinds fleetgate knows.
const (
	Upstreams      Kind = "upstreams"
	Services       Kind = "services"
	PluginConfigs  Kind = "plugin_configs"
	ConsumerGroups Kind = "consumer_groups"
	Consumers      Kind = "consumers"
	Credentials    Kind = "credentials"
	SSLs           Kind = "ssls"
	Secrets        Kind = "secrets"
	Protos         Kind = "protos"
	PluginMetadata Kind = "plugin_metadata"
	GlobalRules    Kind = "global_rules"
	Routes         Kind = "routes"
	StreamRoutes   Kind = "stream_routes"
	// Plugins is the plugin list of APISIX's standalone file (top-level "plugins:"), one
	// resource per entry: the id is the plugin name, "stream/<name>" for a stream plugin.
	Plugins Kind = "plugins"
)

// ApplyOrder lists every kind so that a kind comes after the kinds it may reference.
// Sinks create and update in this order and delete in the reverse order, so a gateway never
// sees a route pointing at a missing upstream. The plugin list comes first: it says which
// plugins the gateway loads.
var ApplyOrder = []Kind{
	Plugins, Upstreams, Services, PluginConfigs, ConsumerGroups, Consumers, Credentials, SSLs, Secrets,
	Protos, PluginMetadata, GlobalRules, Routes, StreamRoutes,
}

var kindRank = func() map[Kind]int {
	m := make(map[Kind]int, len(ApplyOrder))
	for i, k := range ApplyOrder {
		m[k] = i
	}
	return m
}()

// kindNamed maps each known kind's name to the Kind constant.
var kindNamed = func() map[string]Kind {
	m := make(map[string]Kind, len(ApplyOrder))
	for _, k := range ApplyOrder {
		m[string(k)] = k
	}
	return m
}()

// KindNamed returns the Kind constant named name (its own string, not a copy of name), and
// whether fleetgate knows that kind. Decoders use it so that a resource held for long does
// not keep a decoded copy of its kind's name.
func KindNamed(name []byte) (Kind, bool) {
	k, ok := kindNamed[string(name)] // no allocation: the map lookup converts in place
	return k, ok
}

// Valid reports whether k is a kind fleetgate knows.
func (k Kind) Valid() bool {
	_, ok := kindRank[k]
	return ok
}

// Rank is k's position in ApplyOrder, or -1 for an unknown kind.
func (k Kind) Rank() int {
	if r, ok := kindRank[k]; ok {
		return r
	}
	return -1
}
