package spec_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plano/planoauth/internal/spec"
)

// Where the contract states each common parameter once: the shared query parameters (for
// operations without a body) and the shared parts that body schemas are composed of (allOf).
var (
	commonQuery = map[string][]string{
		"token":            {"#/components/parameters/token"},
		"application":      {"#/components/parameters/applicationQuery"},
		"session_view":     {"#/components/parameters/sessionViewQuery"},
		"application_view": {"#/components/parameters/applicationViewQuery"},
		"view":             {"#/components/parameters/viewSessionQuery", "#/components/parameters/viewClientQuery"},
	}
	commonParts = map[string][]string{
		"token":            {"#/components/schemas/TokenParams"},
		"application":      {"#/components/schemas/TokenParams", "#/components/schemas/ApplicationParams"},
		"session_view":     {"#/components/schemas/SessionViewParams"},
		"application_view": {"#/components/schemas/ApplicationViewParams"},
		"view":             {"#/components/schemas/ViewSessionParams", "#/components/schemas/ViewClientParams"},
	}
	// The view each `view` parameter must be, by the object the operation returns.
	viewOf = map[string]string{"ClientProfile": "ClientView", "Session": "SessionView"}
)

// TestCommonParameters checks the documentation's common parameters on every operation (so that
// a new operation cannot forget them): `application` everywhere; `token` on every operation that
// takes a token (a query parameter, and a body parameter when there is a body); `session_view`
// and `application_view` wherever a session is answered (in `data`, or as the caller's session
// that every answer to a session token carries); `application_view` wherever an application is;
// `view` where the answer holds a client (a ClientView) or else a session (a SessionView), and
// nowhere else. Each is stated once: a query parameter is a $ref to the shared one, a body
// parameter comes from a shared part of the body's allOf.
func TestCommonParameters(t *testing.T) {
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range s.Operations() {
		t.Run(op.ID, func(t *testing.T) {
			answers := answered(op)
			want := map[string]bool{"application": true}
			if len(op.Schemes) > 0 {
				want["token"] = true
			}
			if op.Accepts(spec.SchemeSession) || answers["Session"] {
				want["session_view"], want["application_view"] = true, true
			}
			if answers["Application"] || answers["Session"] {
				want["application_view"] = true
			}
			wantView := ""
			switch {
			case answers["ClientProfile"]:
				wantView = viewOf["ClientProfile"]
			case answers["Session"]:
				wantView = viewOf["Session"]
			}
			if wantView != "" {
				want["view"] = true
			}
			for _, name := range []string{"token", "application", "view", "session_view", "application_view"} {
				checkCommon(t, op, name, want[name], wantView)
			}
		})
	}
}

// checkCommon checks one common parameter of op: given where wanted, and absent elsewhere.
func checkCommon(t *testing.T, op *spec.Operation, name string, wanted bool, wantView string) {
	t.Helper()
	query := queryParam(op, name)
	var part string
	var schema *openapi3.SchemaRef
	if op.BodySchema != nil {
		part, schema = bodyParam(op.BodySchema, name)
	}
	inBody := schema != nil
	switch {
	case !wanted && (query != nil || inBody):
		t.Errorf("%s is a parameter of an operation it does not apply to", name)
		return
	case !wanted:
		return
	case op.BodySchema == nil && query == nil, op.BodySchema != nil && !inBody:
		t.Errorf("%s is not a parameter", name)
		return
	case name == "token" && query == nil:
		t.Errorf("token is not a query parameter (it may come in the query, the header or the body)")
	}
	if query != nil && !slices.Contains(commonQuery[name], query.Ref) {
		t.Errorf("query parameter %s is %q, not one of the shared %v", name, query.Ref, commonQuery[name])
	}
	if inBody && !slices.Contains(commonParts[name], part) {
		t.Errorf("body parameter %s comes from %q, not one of the shared parts %v", name, part, commonParts[name])
	}
	if name != "view" {
		return
	}
	ref := ""
	if query != nil && query.Value.Schema != nil {
		ref = query.Value.Schema.Ref
	}
	if inBody {
		ref = schema.Ref
	}
	if got := strings.TrimPrefix(ref, "#/components/schemas/"); got != wantView {
		t.Errorf("view is a %s, want a %s (the object the operation answers)", got, wantView)
	}
}

func queryParam(op *spec.Operation, name string) *openapi3.ParameterRef {
	for _, p := range op.Operation.Parameters {
		if p.Value.In == openapi3.ParameterInQuery && p.Value.Name == name {
			return p
		}
	}
	return nil
}

// bodyParam finds where a body schema declares a parameter: the $ref of the allOf part that does
// ("" when the schema itself or an inline part does), and the parameter's schema.
func bodyParam(body *openapi3.Schema, name string) (part string, schema *openapi3.SchemaRef) {
	if p, ok := body.Properties[name]; ok {
		return "", p
	}
	for _, ref := range body.AllOf {
		if p, ok := ref.Value.Properties[name]; ok {
			return ref.Ref, p
		}
	}
	return "", nil
}

// answered lists the component schemas that a successful answer's data holds, anywhere in it.
func answered(op *spec.Operation) map[string]bool {
	found := map[string]bool{}
	response := op.Operation.Responses.Status(200)
	if response == nil || response.Value == nil {
		return found
	}
	media := response.Value.Content.Get("application/json")
	if media == nil || media.Schema == nil {
		return found
	}
	if data := property(media.Schema.Value, "data"); data != nil {
		walk(data, found, map[*openapi3.Schema]bool{})
	}
	return found
}

// property finds a property of a schema, through its allOf parts.
func property(s *openapi3.Schema, name string) *openapi3.SchemaRef {
	if p, ok := s.Properties[name]; ok {
		return p
	}
	for _, part := range s.AllOf {
		if p := property(part.Value, name); p != nil {
			return p
		}
	}
	return nil
}

func walk(ref *openapi3.SchemaRef, found map[string]bool, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || seen[ref.Value] {
		return
	}
	seen[ref.Value] = true
	if name, ok := strings.CutPrefix(ref.Ref, "#/components/schemas/"); ok {
		found[name] = true
	}
	for _, p := range ref.Value.Properties {
		walk(p, found, seen)
	}
	walk(ref.Value.Items, found, seen)
	for _, part := range ref.Value.AllOf {
		walk(part, found, seen)
	}
}
