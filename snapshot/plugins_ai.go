package snapshot

// aiPluginDefs are the AI plugins and their neighbours.
var aiPluginDefs = []pluginDef{}
