package planoauth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Sensitive encodes the parameters of a sensitive route (one of the generated *Input types) as
// its text/plain body: the base64 of their JSON.
func Sensitive(params any) (string, error) {
	b, err := json.Marshal(params)
	if err != nil {
		return "", fmt.Errorf("encode sensitive params: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
