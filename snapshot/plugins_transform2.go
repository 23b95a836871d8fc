package snapshot

// transformPluginDefs2 are response-rewrite, fault-injection, mocking, body-transformer
// and batch-requests (issue 14, being transcribed).
var transformPluginDefs2 = []pluginDef{}
