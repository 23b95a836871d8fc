package snapshot

// pluginHistory says which APISIX lines bundle each plugin, keyed by name ("stream/<name>"
// for stream plugins). A plugin missing here is bundled by every supported line.
var pluginHistory = map[string]pluginSpan{}
