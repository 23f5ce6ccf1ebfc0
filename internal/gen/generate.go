// Package gen holds only generated code: the server interface and models from api/openapi.yaml
// (oapi-codegen), and the data layer in gen/db from sql/ (sqlc). Never edit it by hand; run
// `make generate`. `make check` fails when it drifts from its sources.
package gen

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../api/openapi.yaml
//go:generate go tool sqlc generate -f ../../sqlc.yaml
