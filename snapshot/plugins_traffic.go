package snapshot

// trafficPluginDefs are the traffic control plugins.
var trafficPluginDefs = []pluginDef{}
