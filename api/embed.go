// Package api embeds the contract as written, served at /openapi.yaml.
package api

import _ "embed"

// Spec is api/openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte
