package snapshot

// authPluginDefs are the authentication and authorization plugins.
var authPluginDefs = []pluginDef{}
