// Package spec loads the embedded OpenAPI contract once and answers the questions the shared
// mechanisms ask of it: which operation a route is, what it accepts, which scope it needs, and
// which HTTP code and message each status slug has. Nothing here repeats what the contract says.
package spec

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"

	"github.com/plano/planoauth/api"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/reqstate"
)

// Extension names the contract uses beyond OpenAPI itself.
const (
	extScope           = "x-scope"
	extSensitiveParams = "x-sensitive-params"
	extEnumDescription = "x-enumDescriptions"
	// ExtInvalidStatus on a schema names the slug that a value failing it answers instead of
	// invalid-param (coexistence domains answer domain_invalid).
	ExtInvalidStatus = "x-invalid-status"
	// ExtDomainOperations on coexistence/touch maps each domain to its operations.
	ExtDomainOperations = "x-domain-operations"
	// extLimitedSessions lists the limited sessions (by the slug they answer elsewhere:
	// mfa-required, mfa-enrolment-required) that may call the operation.
	extLimitedSessions = "x-limited-sessions"
)

// Security scheme names, as declared under components.securitySchemes.
const (
	SchemeSession     = "sessionToken"
	SchemeApplication = "applicationToken"
)

// Operation is one route of the contract with what the shared mechanisms need to know of it.
type Operation struct {
	ID      string // operationId, e.g. sessionsCreate
	Service string // its tag, the route's domain, e.g. sessions
	Method  string
	Path    string
	Scope   string // x-scope, e.g. sessions.create
	// Sensitive is the schema of the decoded parameters of a text/plain base64 body; nil for
	// operations whose body (if any) is plain JSON.
	Sensitive *openapi3.Schema
	// BodySchema is the schema of the body's parameters object, sensitive or JSON; nil when
	// the operation takes no body.
	BodySchema *openapi3.Schema
	// BodyParams are the parameters a body schema composed with allOf declares, through its
	// parts (the shared common parameters and the operation's own). JSON Schema cannot refuse
	// the others (additionalProperties sees only its own schema's properties), so the params
	// package does. Nil for a schema that is not composed.
	BodyParams map[string]bool
	// ContentTypes lists the request body media types; empty when the operation takes no body.
	ContentTypes []string
	BodyRequired bool
	// Schemes lists the accepted security schemes; empty for public operations.
	Schemes []string
	// QueryRequired is set when some query parameter is required.
	QueryRequired bool
	// queryDefaults are the contract's defaults of the query parameters, by name.
	queryDefaults map[string]any
	// queryParams are the names of its query parameters.
	queryParams map[string]bool
	// Route is the kin-openapi route used to validate requests without searching for it again.
	Route     *routers.Route
	Operation *openapi3.Operation
	// domainOperations is x-domain-operations, checked for shape at Load.
	domainOperations map[string][]string
	// limitedSessions is x-limited-sessions.
	limitedSessions []gen.Status
}

// AdmitsLimited reports whether a session limited to completing or enrolling a second factor
// (limitation: the slug it answers elsewhere) may call the operation (its x-limited-sessions).
func (o *Operation) AdmitsLimited(limitation gen.Status) bool {
	return slices.Contains(o.limitedSessions, limitation)
}

// DomainOperations returns the operation's x-domain-operations: for each domain, the operations
// it accepts (coexistence/touch). It is nil for operations without the extension.
func (o *Operation) DomainOperations() map[string][]string { return o.domainOperations }

// Accepts reports whether the operation accepts a token of the given security scheme.
func (o *Operation) Accepts(scheme string) bool {
	for _, s := range o.Schemes {
		if s == scheme {
			return true
		}
	}
	return false
}

// Spec is the loaded contract.
type Spec struct {
	Doc      *openapi3.T
	byRoute  map[string]*Operation
	byID     map[string]*Operation
	codes    map[gen.Status]int
	messages map[gen.Status]string
}

// Load reads the contract embedded from api/openapi.yaml (as written: oapi-codegen's embedded
// copy renames operationIds) and indexes it. It fails when the contract is invalid or
// inconsistent: a slug answered with two HTTP codes, or a slug with no code.
func Load() (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("embedded spec is invalid: %w", err)
	}
	doc.Servers = nil // requests are matched by path alone, whatever host serves them
	s := &Spec{Doc: doc, byRoute: map[string]*Operation{}, byID: map[string]*Operation{}}
	if err := s.indexOperations(); err != nil {
		return nil, err
	}
	if err := s.indexStatuses(); err != nil {
		return nil, err
	}
	return s, nil
}

func routeKey(method, path string) string { return method + " " + path }

func (s *Spec) indexOperations() error {
	for path, item := range s.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			o, err := newOperation(s.Doc, path, item, method, op)
			if err != nil {
				return err
			}
			s.byRoute[routeKey(method, path)] = o
			s.byID[o.ID] = o
		}
	}
	return nil
}

func newOperation(doc *openapi3.T, path string, item *openapi3.PathItem, method string, op *openapi3.Operation) (*Operation, error) {
	if len(op.Tags) != 1 {
		return nil, fmt.Errorf("operation %s: want exactly one tag (its service), got %v", op.OperationID, op.Tags)
	}
	o := &Operation{
		ID:        op.OperationID,
		Service:   op.Tags[0],
		Method:    method,
		Path:      path,
		Operation: op,
		Route:     &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op},
	}
	o.Scope, _ = op.Extensions[extScope].(string)
	o.QueryRequired, o.queryDefaults, o.queryParams = queryDefaults(op)
	if ext, ok := op.Extensions[ExtDomainOperations]; ok {
		table, err := stringListMap(ext)
		if err != nil {
			return nil, fmt.Errorf("operation %s: %s: %w", o.ID, ExtDomainOperations, err)
		}
		o.domainOperations = table
	}
	if ext, ok := op.Extensions[extLimitedSessions]; ok {
		limited, err := limitedSessions(ext)
		if err != nil {
			return nil, fmt.Errorf("operation %s: %s: %w", o.ID, extLimitedSessions, err)
		}
		o.limitedSessions = limited
	}
	security := doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	for _, requirement := range security {
		for name := range requirement {
			o.Schemes = append(o.Schemes, name)
		}
	}
	sort.Strings(o.Schemes)
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		body := op.RequestBody.Value
		o.BodyRequired = body.Required
		for contentType, media := range body.Content {
			o.ContentTypes = append(o.ContentTypes, contentType)
			if ref, ok := media.Extensions[extSensitiveParams]; ok {
				schema, err := schemaFromRef(doc, ref)
				if err != nil {
					return nil, fmt.Errorf("operation %s: %w", o.ID, err)
				}
				o.Sensitive = schema
			}
		}
		sort.Strings(o.ContentTypes)
		o.BodySchema = o.Sensitive
		if media := body.Content.Get("application/json"); media != nil && media.Schema != nil {
			o.BodySchema = media.Schema.Value
		}
		if o.BodySchema != nil && len(o.BodySchema.AllOf) > 0 {
			o.BodyParams = map[string]bool{}
			declaredParams(o.BodySchema, o.BodyParams)
		}
	}
	return o, nil
}

// limitedSessions reads x-limited-sessions: a list of the slugs of limited sessions.
func limitedSessions(ext any) ([]gen.Status, error) {
	list, ok := ext.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list, got %T", ext)
	}
	var out []gen.Status
	for _, item := range list {
		status, _ := item.(string)
		switch gen.Status(status) {
		case gen.StatusMfaRequired, gen.StatusMfaEnrolmentRequired:
			out = append(out, gen.Status(status))
		default:
			return nil, fmt.Errorf("%v is not the slug of a limited session", item)
		}
	}
	return out, nil
}

// declaredParams adds the properties a schema declares, itself or through its allOf parts.
func declaredParams(schema *openapi3.Schema, into map[string]bool) {
	for name := range schema.Properties {
		into[name] = true
	}
	for _, part := range schema.AllOf {
		if part.Value != nil {
			declaredParams(part.Value, into)
		}
	}
}

// HasQueryParam reports whether the operation declares a query parameter of that name.
func (o *Operation) HasQueryParam(name string) bool { return o.queryParams[name] }

// queryDefaults reports whether some query parameter of op is required, and returns the
// defaults of those that have one and the names of all.
func queryDefaults(op *openapi3.Operation) (required bool, defaults map[string]any, names map[string]bool) {
	defaults, names = map[string]any{}, map[string]bool{}
	for _, ref := range op.Parameters {
		p := ref.Value
		if p.In != openapi3.ParameterInQuery {
			continue
		}
		names[p.Name] = true
		required = required || p.Required
		if p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Default != nil {
			defaults[p.Name] = p.Schema.Value.Default
		}
	}
	return required, defaults, names
}

// QueryDefault returns the contract's default of a query parameter (as the YAML loader leaves
// it: a float64 for a number), or nil when it has none.
func (o *Operation) QueryDefault(name string) any { return o.queryDefaults[name] }

// stringListMap reads an extension shaped as a map of string lists, as the YAML loader leaves it
// (map[string]any of []any).
func stringListMap(ext any) (map[string][]string, error) {
	m, ok := ext.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a map of lists, got %T", ext)
	}
	table := make(map[string][]string, len(m))
	for key, value := range m {
		items, ok := value.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: want a list, got %T", key, value)
		}
		for _, item := range items {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("%s: want strings, got %T", key, item)
			}
			table[key] = append(table[key], s)
		}
	}
	return table, nil
}

// schemaFromRef resolves the {"$ref": "#/components/schemas/Name"} of an extension, which the
// loader leaves unresolved because OpenAPI does not define extensions' contents.
func schemaFromRef(doc *openapi3.T, ext any) (*openapi3.Schema, error) {
	m, _ := ext.(map[string]any)
	ref, _ := m["$ref"].(string)
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	if !ok {
		return nil, fmt.Errorf("%s must be a $ref to a component schema, got %v", extSensitiveParams, ext)
	}
	schema := doc.Components.Schemas[name]
	if schema == nil || schema.Value == nil {
		return nil, fmt.Errorf("%s: no schema %q", extSensitiveParams, name)
	}
	return schema.Value, nil
}

// indexStatuses derives each slug's HTTP code from the operations' responses (the per-code
// status enums) and its message from the Status schema's descriptions.
func (s *Spec) indexStatuses() error {
	s.codes = map[gen.Status]int{}
	for _, o := range s.byID {
		for code, response := range o.Operation.Responses.Map() {
			var httpCode int
			if _, err := fmt.Sscanf(code, "%d", &httpCode); err != nil {
				return fmt.Errorf("operation %s: response code %q: %w", o.ID, code, err)
			}
			for _, slug := range statusEnum(response.Value) {
				if prev, ok := s.codes[slug]; ok && prev != httpCode {
					return fmt.Errorf("status %s is answered with both %d and %d", slug, prev, httpCode)
				}
				s.codes[slug] = httpCode
			}
		}
	}
	status := s.Doc.Components.Schemas["Status"]
	if status == nil {
		return fmt.Errorf("spec has no Status schema")
	}
	descriptions, _ := status.Value.Extensions[extEnumDescription].(map[string]any)
	s.messages = map[gen.Status]string{}
	for _, v := range status.Value.Enum {
		slug := gen.Status(fmt.Sprint(v))
		if _, ok := s.codes[slug]; !ok {
			return fmt.Errorf("status %s is not answered by any operation", slug)
		}
		s.messages[slug], _ = descriptions[string(slug)].(string)
	}
	return nil
}

// statusEnum returns the status slugs a response's JSON schema allows.
func statusEnum(response *openapi3.Response) []gen.Status {
	if response == nil {
		return nil
	}
	media := response.Content.Get("application/json")
	if media == nil || media.Schema == nil {
		return nil
	}
	return schemaStatusEnum(media.Schema.Value)
}

func schemaStatusEnum(schema *openapi3.Schema) []gen.Status {
	if schema == nil {
		return nil
	}
	var slugs []gen.Status
	if prop := schema.Properties["status"]; prop != nil && prop.Value != nil {
		for _, v := range prop.Value.Enum {
			slugs = append(slugs, gen.Status(fmt.Sprint(v)))
		}
	}
	for _, part := range schema.AllOf {
		slugs = append(slugs, schemaStatusEnum(part.Value)...)
	}
	return slugs
}

// Lookup returns the operation of a method and path template, or nil.
func (s *Spec) Lookup(method, pathTemplate string) *Operation {
	return s.byRoute[routeKey(method, pathTemplate)]
}

// PathPrefix is the longest prefix, up to a slash, that every operation's path shares
// ("/api/v1/"): what the server routes to the API before anything else.
func (s *Spec) PathPrefix() string {
	prefix := ""
	for i, o := range s.Operations() {
		if i == 0 {
			prefix = o.Path
			continue
		}
		for !strings.HasPrefix(o.Path, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	return prefix[:strings.LastIndexByte(prefix, '/')+1]
}

// Operation returns the operation with the given operationId, or nil.
func (s *Spec) Operation(id string) *Operation { return s.byID[id] }

// Operations returns every operation, ordered by path and method.
func (s *Spec) Operations() []*Operation {
	ops := make([]*Operation, 0, len(s.byID))
	for _, o := range s.byID {
		ops = append(ops, o)
	}
	sort.Slice(ops, func(i, j int) bool {
		return routeKey(ops[i].Path, ops[i].Method) < routeKey(ops[j].Path, ops[j].Method)
	})
	return ops
}

// HTTPCode returns the HTTP code a slug is answered with (500 for a slug the spec lacks, which
// Load makes impossible for the generated constants).
func (s *Spec) HTTPCode(status gen.Status) int {
	if code, ok := s.codes[status]; ok {
		return code
	}
	return http.StatusInternalServerError
}

// Message returns the documented description of a slug.
func (s *Spec) Message(status gen.Status) string { return s.messages[status] }

// StatusesOf returns the slugs an operation documents for an HTTP code (for tests and docs).
func (o *Operation) StatusesOf(code int) []gen.Status {
	response := o.Operation.Responses.Status(code)
	if response == nil {
		return nil
	}
	return statusEnum(response.Value)
}

// FromContext returns the operation the request was identified as, or nil before that.
func FromContext(ctx context.Context) *Operation {
	return reqstate.Get[*Operation](ctx, reqstate.Operation)
}
