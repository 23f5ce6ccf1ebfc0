package planoauth_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/spec"
)

// plainConfig is oapi-codegen's plain configuration, as the README gives it to client teams:
// client and models, no output options.
const plainConfig = `package: plain
output: client.gen.go
generate:
  client: true
  models: true
`

// TestPlainConfigCompiles generates a client from the contract with the plain configuration into
// a temporary package, vets it, and runs a test there that names the HTTP client and the decoded
// type of every sensitive body and builds each sensitive request with a text body. It fails when
// a schema's type collides with a generated one, when the generator prunes a decoded schema, or
// when it would not send a sensitive body as text, whatever this package's own configuration
// says.
func TestPlainConfigCompiles(t *testing.T) {
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	contract, err := filepath.Abs("../../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Inside the module, so that the build finds the runtime in go.mod; the leading underscore
	// keeps the folder out of ./... patterns.
	dir, err := os.MkdirTemp(".", "_plain")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var types, requests []string
	for _, op := range s.Operations() {
		if op.Sensitive == nil {
			continue
		}
		types = append(types, sensitiveSchemaName(t, op)+"{}")
		params := "" // the generated *Params argument, when the operation has query parameters
		if len(op.Operation.Parameters) > 0 {
			params = "nil, "
		}
		requests = append(requests, fmt.Sprintf(
			"\tif _, err := New%sRequestWithTextBody(\"http://127.0.0.1\", %s\"e30=\"); err != nil {\n\t\tt.Error(err)\n\t}",
			strings.ToUpper(op.ID[:1])+op.ID[1:], params))
	}
	if len(types) == 0 {
		t.Fatal("the contract has no sensitive operation")
	}
	write(t, filepath.Join(dir, "oapi-codegen.yaml"), plainConfig)
	write(t, filepath.Join(dir, "plain_test.go"), "package plain\n\nimport \"testing\"\n\n"+
		"var _ ClientInterface = (*Client)(nil)\n\n"+
		"var _ = []any{"+strings.Join(types, ", ")+"}\n\n"+
		"func TestSensitiveRequests(t *testing.T) {\n"+strings.Join(requests, "\n")+"\n}\n")
	run(t, dir, "go", "tool", "oapi-codegen", "-config", "oapi-codegen.yaml", contract)
	run(t, dir, "go", "vet", ".")
	run(t, dir, "go", "test", "-count=1", ".")
}

// sensitiveSchemaName returns the name of the schema that the operation's x-sensitive-params
// refers to.
func sensitiveSchemaName(t *testing.T, op *spec.Operation) string {
	t.Helper()
	ext, _ := op.Operation.RequestBody.Value.Content.Get("text/plain").Extensions["x-sensitive-params"].(map[string]any)
	ref, _ := ext["$ref"].(string)
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	if !ok {
		t.Fatalf("%s: x-sensitive-params is %v, want a $ref to a component schema", op.ID, ext)
	}
	return name
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
