package snapshot

// transformPluginDefs3 are degraphql, error-page, exit-transformer, gm, grpc-transcode
// and openwhisk (issue 14, being transcribed).
var transformPluginDefs3 = []pluginDef{}
