package spec_test

import (
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/spec"
)

// TestSensitiveBodiesNameTheirSchema checks what code generators rely on for each sensitive
// body: its text/plain schema refers with `not` to the schema that x-sensitive-params names
// (generators follow `not` and keep the schema, while they ignore extensions), that schema is
// named after the operation (sessionsCreate decodes a SessionsCreateInput: the TypeScript helper
// finds the type so), and a real body, the example's base64, is valid against the text/plain
// schema, `not` included.
func TestSensitiveBodiesNameTheirSchema(t *testing.T) {
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, op := range s.Operations() {
		if op.Sensitive == nil {
			continue
		}
		count++
		t.Run(op.ID, func(t *testing.T) {
			media := op.Operation.RequestBody.Value.Content.Get("text/plain")
			ext, _ := media.Extensions["x-sensitive-params"].(map[string]any)
			want := "#/components/schemas/" + strings.ToUpper(op.ID[:1]) + op.ID[1:] + "Input"
			if ref, _ := ext["$ref"].(string); ref != want {
				t.Errorf("x-sensitive-params refers to %q, want %q", ref, want)
			}
			if not := media.Schema.Value.Not; not == nil || not.Ref != want || not.Value != op.Sensitive {
				t.Errorf("the text/plain schema's not is %+v, want a $ref to %q", not, want)
			}
			checkExample(t, "text/plain body", media.Schema.Value, media.Example)
		})
	}
	if count == 0 {
		t.Fatal("the contract has no sensitive operation")
	}
}
