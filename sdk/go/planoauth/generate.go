// Package planoauth is the Go client of the PlanoAuth API, generated from api/openapi.yaml by
// oapi-codegen (`make generate`). Sensitive routes take the base64 of their JSON parameters as a
// text/plain body; Sensitive builds one.
package planoauth

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../../api/openapi.yaml
