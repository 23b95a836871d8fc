package snapshot

// transformPluginDefs are the request and response transformation, serverless and
// protocol plugins.
var transformPluginDefs = []pluginDef{}
