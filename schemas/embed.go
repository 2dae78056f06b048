// Package schemas holds the JSON Schemas (draft 2020-12) of the partner
// event types, one file per type and version: <type>.v<N>.json. The bridge
// reads them from schemas_dir at startup; the embedded copy lets the demo
// and tests run without a checkout.
package schemas

import "embed"

// FS holds every schema file of this directory.
//
//go:embed *.json
var FS embed.FS
