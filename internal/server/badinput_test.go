package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/spec"
)

// hostile are string values that have broken other services: injections, unicode edge cases,
// and control characters. They must be answered like any other value.
var hostile = []string{
	"' OR '1'='1' --",
	"'; DROP TABLE users; --",
	"\u0000null byte",
	"\u202eright-to-left override",
	"e\u0301\u0301\u0301 combining marks",
	"🙂🙃 emoji",
	"\r\nX-Injected: header",
	"../../etc/passwd",
	"${jndi:ldap://127.0.0.1/x}",
	"<script>alert(1)</script>",
}

// TestBadInput sends a few hundred malformed requests, derived from the contract, across every
// operation: each answer must be a documented slug with its documented code (the harness checks
// that), never a 5xx, and no table may change.
func TestBadInput(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("client@example.com", "correct horse battery staple", "client")
	session := env.Login("client@example.com", "correct horse battery staple", "planoorder")
	// The examples' emails already exist, so that requests of a valid shape carrying hostile
	// strings are answered without creating anything (email-already-registered, ...).
	// Their password differs from the examples', so an example log-in is no log-in.
	env.User("ada@example.com", "another password entirely", "client")
	env.User("grace@example.com", "another password entirely", "client")
	before := tableDigests(t, env)

	sent := 0
	for _, op := range env.Spec.Operations() {
		for _, bad := range badRequests(t, op, tokenFor(env, op, session)) {
			t.Run(op.ID+"/"+bad.name, func(t *testing.T) {
				res := env.Do(bad.req)
				if res.Code >= 500 && res.Status() != gen.StatusRouteNonExistent {
					t.Errorf("%s %s: answered %d %s", bad.req.Method, bad.req.URL.Path, res.Code, res.Status())
				}
			})
			sent++
		}
	}
	if sent < 200 {
		t.Errorf("sent %d malformed requests, want at least 200", sent)
	}
	if after := tableDigests(t, env); !equalDigests(before, after) {
		t.Errorf("malformed requests changed the database:\nbefore %v\nafter  %v", before, after)
	}
}

type badRequest struct {
	name string
	req  *http.Request
}

// tokenFor returns a valid token of a kind the operation accepts, so that requests of a valid
// shape get past authentication and reach the handler.
func tokenFor(env *apitest.Env, op *spec.Operation, session string) string {
	switch {
	case op.Accepts(spec.SchemeSession):
		return session
	case op.Accepts(spec.SchemeApplication):
		return env.AppTokens["planoorder"]
	}
	return ""
}

func badRequests(t *testing.T, op *spec.Operation, token string) []badRequest {
	var out []badRequest
	add := func(name, method, target, contentType string, body []byte, token string) {
		out = append(out, badRequest{name, apitest.Request(method, target, contentType, body, token)})
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		add("method-"+method, method, op.Path, "", nil, token)
	}
	for name, tok := range map[string]string{
		"token-garbage": "garbage", "token-crlf": "pas_x\r\nX-Injected: 1", "token-huge": strings.Repeat("A", 8000),
		"token-unicode": "pas_🙂", "token-sql": "paa_' OR 1=1 --",
	} {
		add(name, op.Method, op.Path, contentTypeOf(op), validBody(t, op), tok)
	}
	for _, p := range op.Operation.Parameters {
		if p.Value.Name != "token" { // declared query parameters: out of range, NUL, broken UTF-8
			for i, v := range []string{"everything", "-1", "%00", "%ff%fe", "99999999999999999999"} {
				add(fmt.Sprintf("query-%s-%d", p.Value.Name, i), op.Method, op.Path+"?"+p.Value.Name+"="+v, contentTypeOf(op), validBody(t, op), token)
			}
		}
	}
	add("query-token-crlf", op.Method, op.Path+"?token=%0d%0aX-Injected:%201", contentTypeOf(op), validBody(t, op), "")
	if len(op.ContentTypes) == 0 {
		return out
	}
	for _, ct := range []string{"application/xml", "multipart/form-data; boundary=x", "text/html", "application/x-www-form-urlencoded", "text/plain; charset=utf-16", "application/json", "text/plain"} {
		if ct != contentTypeOf(op) {
			add("content-type-"+ct, op.Method, op.Path, ct, validBody(t, op), token)
		}
	}
	for name, body := range map[string][]byte{
		"body-empty": {}, "body-huge": []byte(strings.Repeat("QUFB", 20000)), "body-not-encoded": []byte("{not encoded}"),
		"body-array": encode(op, []byte(`[1,2]`)), "body-string": encode(op, []byte(`"x"`)), "body-null": encode(op, []byte(`null`)),
		"body-truncated": encode(op, []byte(`{"a":`)), "body-bad-utf8": encode(op, []byte("{\"a\":\"\xff\xfe\"}")),
		"body-deep": encode(op, []byte(strings.Repeat("[", 100000))), "body-two-objects": encode(op, []byte(`{} {}`)),
		"body-extra-field": encode(op, withField(t, op, "unexpected", true)),
	} {
		add(name, op.Method, op.Path, contentTypeOf(op), body, token)
	}
	for _, field := range fieldMutations(t, op) {
		tok := token
		if strings.HasPrefix(field.name, "token-") {
			tok = "" // the header would win over a mutated body token
		}
		add(field.name, op.Method, op.Path, contentTypeOf(op), encode(op, field.body), tok)
	}
	return out
}

type mutation struct {
	name string
	body []byte
}

// fieldMutations changes one property of the example body at a time: a wrong type, a string far
// past its bound, hostile strings, or the property removed.
func fieldMutations(t *testing.T, op *spec.Operation) []mutation {
	schema := bodySchema(op)
	if schema == nil {
		return nil
	}
	var out []mutation
	names := make([]string, 0, len(schema.Properties))
	for name := range schema.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		prop := schema.Properties[name].Value
		for label, v := range map[string]any{"number": 12345, "boolean": true, "array": []int{1}, "object": map[string]int{"a": 1}, "string": "x", "null": nil} {
			if body := withField(t, op, name, v); !valid(schema, body) { // a right type is no bad input
				out = append(out, mutation{fmt.Sprintf("%s-as-%s", name, label), body})
			}
		}
		if prop.Type.Is("string") {
			out = append(out, mutation{name + "-huge", withField(t, op, name, strings.Repeat("x", 5000))})
			// Hostile strings may well be valid values: they are meant to reach the handler.
			for i, h := range hostile {
				out = append(out, mutation{fmt.Sprintf("%s-hostile-%d", name, i), withField(t, op, name, h)})
			}
		}
		if removed := withoutField(t, op, name); !valid(schema, removed) {
			out = append(out, mutation{name + "-removed", removed}) // an optional one is no bad input
		}
	}
	return out
}

func valid(schema *openapi3.Schema, body []byte) bool {
	var v any
	return json.Unmarshal(body, &v) == nil && schema.VisitJSON(v) == nil
}

func bodySchema(op *spec.Operation) *openapi3.Schema {
	if op.Sensitive != nil {
		return op.Sensitive
	}
	media := op.Operation.RequestBody.Value.Content.Get("application/json")
	if media == nil || media.Schema == nil {
		return nil
	}
	return media.Schema.Value
}

// example returns the operation's documented request example as a parameters object.
func example(t *testing.T, op *spec.Operation) map[string]any {
	t.Helper()
	params := map[string]any{}
	if len(op.ContentTypes) == 0 {
		return params
	}
	media := op.Operation.RequestBody.Value.Content.Get(op.ContentTypes[0])
	raw := media.Example
	if text, ok := raw.(string); ok && op.Sensitive != nil {
		decoded, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			t.Fatalf("%s: example is not base64: %v", op.ID, err)
		}
		if err := json.Unmarshal(decoded, &params); err != nil {
			t.Fatalf("%s: example: %v", op.ID, err)
		}
		return params
	}
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &params)
	return params
}

func withField(t *testing.T, op *spec.Operation, name string, v any) []byte {
	params := example(t, op)
	params[name] = v
	b, _ := json.Marshal(params)
	return b
}

func withoutField(t *testing.T, op *spec.Operation, name string) []byte {
	params := example(t, op)
	delete(params, name)
	b, _ := json.Marshal(params)
	return b
}

func validBody(t *testing.T, op *spec.Operation) []byte {
	if len(op.ContentTypes) == 0 {
		return nil
	}
	b, _ := json.Marshal(example(t, op))
	return encode(op, b)
}

// encode turns a JSON object into the operation's body: base64 for sensitive routes.
func encode(op *spec.Operation, object []byte) []byte {
	if op.Sensitive != nil {
		return []byte(base64.StdEncoding.EncodeToString(object))
	}
	return object
}

func contentTypeOf(op *spec.Operation) string {
	if len(op.ContentTypes) == 0 {
		return ""
	}
	return op.ContentTypes[0]
}

// tableDigests fingerprints every table's rows. login_failures is left out, and so are the
// audit trail's login.failed and mfa.failed events: counting and recording failed log-ins and
// second factors, including ones with hostile emails, is what they are for.
func tableDigests(t *testing.T, env *apitest.Env) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := env.Pool.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('limit_counters', 'webauthn_challenges') ORDER BY 1") // counting attempts, or a passkey ceremony begun (sessions/passkey_begin), is no change
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	digests := map[string]string{}
	for _, table := range tables {
		var digest string
		where := ""
		if table == "audit_events" {
			where = " WHERE t.kind NOT IN ('login.failed', 'mfa.failed')"
		}
		err := env.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %q t%s`, table, where)).Scan(&digest)
		if err != nil {
			t.Fatal(err)
		}
		digests[table] = digest
	}
	return digests
}

func equalDigests(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
