package snapshot

// streamPluginDefs are the stream (L4) plugins of apisix/stream/plugins.
var streamPluginDefs = []pluginDef{}
