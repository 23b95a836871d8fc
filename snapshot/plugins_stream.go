package snapshot

// streamPluginDefs are the stream (L4) plugins of apisix/stream/plugins. Three of them are
// the HTTP plugin's module loaded for the stream subsystem, with the same schema and
// check_schema: ip-restriction (apisix/stream/plugins/ip-restriction.lua requires
// apisix.plugins.ip-restriction.init), traffic-split and prometheus (without the HTTP
// plugin's metadata schema).
var streamPluginDefs = []pluginDef{
	{name: "ip-restriction", schema: ipRestrictionS, check: checkIPRestriction},
	{name: "traffic-split", schema: trafficSplitS, check: checkTrafficSplit},
	{name: "prometheus", schema: prometheusSchema()},
	// apisix/stream/plugins/limit-conn.lua: its own schema. Older revisions allowed only
	// remote_addr and server_addr as key; 3.18 takes any variable (key_type var) or a
	// combination of them.
	{name: "limit-conn", schema: object(props{
		"conn":                   integer().exclusiveMinimum(0),
		"burst":                  integer().minimum(0),
		"default_conn_delay":     num().exclusiveMinimum(0),
		"only_use_default_delay": boolean().def(false),
		"key":                    str(),
		"key_type":               enumS("var", "var_combination").def("var"),
	}, "conn", "burst", "default_conn_delay", "key")},
	// apisix/stream/plugins/mqtt-proxy.lua
	{name: "mqtt-proxy", schema: object(props{
		"protocol_name":  str().def("MQTT"),
		"protocol_level": integer(),
	}, "protocol_level").requiredBefore("protocol_name", rel(15))}, // optional from 3.15 (#12831)
	// apisix/stream/plugins/syslog.lua: the HTTP syslog's fields without the request and
	// response bodies (a stream has none) and without log_format_extra.
	{name: "syslog", schema: streamSyslogSchema(), metadata: object(props{
		"log_format":          openObj(),
		"max_pending_entries": maxPendingEntriesS(),
	})},
}

func streamSyslogSchema() *sch {
	p := withLogFormat(props{
		"host":        str(),
		"port":        integer(),
		"flush_limit": integer().minimum(1).def(4096),
		"drop_limit":  integer().def(1048576),
		"timeout":     integer().minimum(1).def(3000),
		"sock_type":   enumS("tcp", "udp").def("tcp"),
		"pool_size":   integer().minimum(5).def(5),
		"tls":         boolean().def(false),
	})
	delete(p, "log_format_extra")
	return object(withBatchProcessor(p, "stream sys logger"), "host", "port")
}
