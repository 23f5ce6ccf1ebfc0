package impl

import "github.com/plano/planoauth/internal/gen"

// ValidateNewClient exposes validateNewClient to the external tests.
func ValidateNewClient(c gen.NewClient) []gen.ParamError { return validateNewClient(c) }
