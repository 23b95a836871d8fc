package snapshot

// observabilityPluginDefs are the loggers, metrics and tracing plugins.
var observabilityPluginDefs = []pluginDef{}
