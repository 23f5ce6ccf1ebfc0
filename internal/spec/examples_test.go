package spec_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plano/planoauth/internal/spec"
)

// TestExamples checks that every operation documents a request example (when it takes a body)
// and a 200 example, and that each is valid against its own schema: SDK users copy them.
func TestExamples(t *testing.T) {
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range s.Operations() {
		t.Run(op.ID, func(t *testing.T) {
			if body := op.Operation.RequestBody; body != nil {
				for contentType, media := range body.Value.Content {
					example := media.Example
					schema := media.Schema.Value
					if op.Sensitive != nil {
						example, schema = decodeSensitive(t, example), op.Sensitive
					}
					checkExample(t, "request "+contentType, schema, example)
				}
			}
			media := op.Operation.Responses.Status(200).Value.Content.Get("application/json")
			checkExample(t, "200 answer", media.Schema.Value, media.Example)
		})
	}
}

func checkExample(t *testing.T, what string, schema *openapi3.Schema, example any) {
	t.Helper()
	if example == nil {
		t.Errorf("%s: no example", what)
		return
	}
	// Examples are YAML; validate them in their JSON form, as a client would send them.
	b, err := json.Marshal(example)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if err := schema.VisitJSON(v); err != nil {
		t.Errorf("%s: the example breaks its schema: %v", what, err)
	}
}

func decodeSensitive(t *testing.T, example any) any {
	t.Helper()
	text, _ := example.(string)
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		t.Fatalf("sensitive example is not base64: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("sensitive example is not JSON: %v", err)
	}
	return v
}
