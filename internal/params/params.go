// Package params reads and validates every request's parameters against the contract before a
// handler runs: the content type, the body (plain JSON, or the base64 "sensitive params" of
// text/plain routes), then kin-openapi validation. Every failure becomes the documented slug
// with the failing parameters' dotted paths.
package params

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/gorilla/mux"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/reqstate"
	"github.com/plano/planoauth/internal/spec"
)

// Parsed is a request's parameters object: the JSON body, or the decoded base64 of a sensitive
// body, as validated against the operation's schema.
type Parsed struct {
	// Object is the object's JSON. For a sensitive operation the strict handler is given it in
	// place of the base64 text (see Sensitive); a JSON body is passed on as it came. Nil for a
	// request without a body.
	Object []byte
	// Token is the object's `token` parameter, "" when it has none.
	Token string
	// Common are the documentation's common parameters, from the object, or from the query of
	// a request without a body.
	Common Common
}

// Common are the documentation's common parameters that shared mechanisms act on (the token
// has its own place, see Parsed.Token): the application whose role the request is made under,
// which the authenticator checks against the token's, and the views of the caller's session,
// which every answer to a session token carries. Nil fields were not given. The contract states
// them once, as shared parameters and schemas.
type Common struct {
	Application     *gen.ApplicationSlug
	SessionView     *gen.SessionView
	ApplicationView *gen.ApplicationView
}

// The common parameters' names, as the contract's shared components name them.
const (
	ApplicationParam     = "application"
	SessionViewParam     = "session_view"
	ApplicationViewParam = "application_view"
)

// NewContext returns a context carrying a request's parsed parameters.
func NewContext(ctx context.Context, p *Parsed) context.Context {
	return reqstate.Set(ctx, reqstate.Params, p)
}

// FromContext returns the request's parsed parameters (with a nil Object when the request had
// no body), or nil before Middleware ran.
func FromContext(ctx context.Context) *Parsed {
	return reqstate.Get[*Parsed](ctx, reqstate.Params)
}

// CommonFromContext returns the request's common parameters; none before Middleware ran.
func CommonFromContext(ctx context.Context) Common {
	if p := FromContext(ctx); p != nil {
		return p.Common
	}
	return Common{}
}

// Sensitive returns the validated parameters of a sensitive body as the operation's generated
// input type. The strict handler's request object carries them: Middleware replaced the base64
// text with the object it decoded and validated, so this is the one typed decode of the body.
func Sensitive[T any](body *string) (T, error) {
	var in T
	if body == nil {
		return in, envelope.New(gen.StatusNoParamsDecoded)
	}
	if err := json.Unmarshal([]byte(*body), &in); err != nil {
		return in, envelope.Internal("decode validated params: %w", err)
	}
	return in, nil
}

// Default returns a numeric query parameter's value, or the contract's default for it when it
// is absent (0 when the contract has none). View parameters need none: the views package
// renders an absent view as the `default` view, which is every view schema's default.
func Default[T ~int32 | ~int64](ctx context.Context, name string, v *T) T {
	if v != nil {
		return *v
	}
	if op := spec.FromContext(ctx); op != nil {
		if d, ok := op.QueryDefault(name).(float64); ok {
			return T(d)
		}
	}
	return 0
}

// Middleware validates the request of the operation identified in its context. It must run
// after the request was identified (see registry) and after the body was size-limited.
func Middleware(writer *envelope.Writer) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			op := spec.FromContext(r.Context())
			if op == nil {
				writer.Status(w, r, gen.StatusIdentifyRequestError)
				return
			}
			r, err := readBody(r, op)
			if err == nil {
				err = validate(r, op)
			}
			if err != nil {
				writer.Error(w, r, err)
				return
			}
			if FromContext(r.Context()) == nil { // no body: the common parameters are in the query
				r = reqstate.Record(r, reqstate.Params, &Parsed{Common: commonOfQuery(op, query(r))})
			}
			next.ServeHTTP(w, r)
		})
	}
}

// readBody reads the body once and leaves its parsed parameters in the context, and their object
// as the body the generated handler reads.
func readBody(r *http.Request, op *spec.Operation) (*http.Request, error) {
	if r.Body == http.NoBody || r.Body == nil {
		// The server's request without a body (most GETs): nothing to read, and io.ReadAll
		// would allocate its buffer all the same. Parse judges the absent body as before.
		parsed, err := Parse(op, r.Header.Get("Content-Type"), nil)
		if err != nil || parsed == nil {
			return r, err
		}
		return reqstate.Record(r, reqstate.Params, parsed), nil
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return r, envelope.New(gen.StatusRequestTooLarge)
		}
		return r, envelope.Param(gen.StatusInvalidEncodedParams, "body", "the body could not be read")
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	parsed, err := Parse(op, r.Header.Get("Content-Type"), raw)
	if err != nil || parsed == nil {
		return r, err
	}
	r.Body = io.NopCloser(bytes.NewReader(parsed.Object))
	return reqstate.Record(r, reqstate.Params, parsed), nil
}

// Parse returns the parameters that a request body of op carries, given its Content-Type
// header, parsing the JSON once. It checks, in the documented order: the content type
// (invalid-content-type), the base64 of sensitive params and that they are one JSON object
// (invalid-encoded-params), that the object is not empty (no-params-decoded), that no string
// holds what PostgreSQL cannot store (invalid-param), and the sensitive params against their
// schema (missing-param, invalid-param, or the slug a schema names in x-invalid-status).
// It returns nil when op takes no body or an optional body is absent.
//
// Parse needs no request and no database, so that the decoding of untrusted bytes can be tested
// and fuzzed on its own. Every error it returns is an *envelope.Error.
func Parse(op *spec.Operation, contentType string, body []byte) (*Parsed, error) {
	if len(op.ContentTypes) == 0 {
		return nil, nil // query-only operations ignore a body, as GET requests should
	}
	if len(bytes.TrimSpace(body)) == 0 && contentType == "" {
		if op.BodyRequired {
			return nil, envelope.New(gen.StatusNoParamsDecoded)
		}
		return nil, nil
	}
	if !acceptsContentType(op, contentType) {
		return nil, envelope.Param(gen.StatusInvalidContentType, "Content-Type",
			"expected "+strings.Join(op.ContentTypes, " or "))
	}
	object := body
	if op.Sensitive != nil {
		var err error
		if object, err = decodeBase64(body); err != nil {
			return nil, err
		}
	}
	fields, err := decodeObject(object)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 && (op.Sensitive != nil || op.BodyRequired) {
		return nil, envelope.New(gen.StatusNoParamsDecoded)
	}
	// One validation for both kinds of body: the decoded object against its schema, then
	// (with every parameter known to exist) what PostgreSQL can store.
	if op.BodySchema != nil {
		if err := refuse(visitSchema(op.BodySchema, fields), undeclared(op, fields)); err != nil {
			return nil, err
		}
	}
	if bad := unstorableStrings(fields, ""); len(bad) > 0 {
		return nil, &envelope.Error{Status: gen.StatusInvalidParam, Params: bad}
	}
	return &Parsed{Object: object, Token: tokenOf(fields), Common: commonOf(fields)}, nil
}

// undeclared names the parameters of a composed body schema (see spec.Operation.BodyParams) that
// none of its parts declares.
func undeclared(op *spec.Operation, fields map[string]any) []gen.ParamError {
	if op.BodyParams == nil {
		return nil
	}
	var bad []gen.ParamError
	for name := range fields {
		if !op.BodyParams[name] {
			bad = append(bad, gen.ParamError{Param: orBody(name), Message: UnknownParamMessage})
		}
	}
	return bad
}

// refuse joins the schema's refusal (nil, or an *envelope.Error from translate) and the
// undeclared parameters into one answer, with every failing parameter in path order: a
// missing one makes it missing-param, as translate does.
func refuse(schemaErr error, undeclared []gen.ParamError) error {
	if len(undeclared) == 0 {
		return schemaErr
	}
	out := &envelope.Error{Status: gen.StatusInvalidParam}
	var e *envelope.Error
	if errors.As(schemaErr, &e) {
		if e.Status == gen.StatusApplicationCrash {
			return schemaErr
		}
		out.Status, out.Params = e.Status, e.Params
	}
	out.Params = append(slices.Clone(out.Params), undeclared...)
	sort.SliceStable(out.Params, func(i, j int) bool { return out.Params[i].Param < out.Params[j].Param })
	return out
}

// Object parses a JSON parameters object as Parse does, without a schema: for code that meets a
// body before any operation is known (and fuzz tests of it).
func Object(b []byte) (*Parsed, error) {
	fields, err := decodeObject(b)
	if err != nil {
		return nil, err
	}
	return &Parsed{Object: b, Token: tokenOf(fields)}, nil
}

// commonOf reads the common parameters of a validated object (whose schema refused any value
// outside their enums, and any of them the operation does not declare).
func commonOf(fields map[string]any) Common {
	var c Common
	if v, ok := fields[ApplicationParam].(string); ok {
		c.Application = ptr(gen.ApplicationSlug(v))
	}
	if v, ok := fields[SessionViewParam].(string); ok {
		c.SessionView = ptr(gen.SessionView(v))
	}
	if v, ok := fields[ApplicationViewParam].(string); ok {
		c.ApplicationView = ptr(gen.ApplicationView(v))
	}
	return c
}

// commonOfQuery reads the common parameters of a validated query, of those the operation
// declares (others are not its parameters, and were not validated).
// query is the request's query, parsed only when there is one (url.URL.Query allocates a map
// for an empty query too, on every token-checked GET).
func query(r *http.Request) url.Values {
	if r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}

func commonOfQuery(op *spec.Operation, query url.Values) Common {
	var c Common
	if v := query.Get(ApplicationParam); v != "" && op.HasQueryParam(ApplicationParam) {
		c.Application = ptr(gen.ApplicationSlug(v))
	}
	if v := query.Get(SessionViewParam); v != "" && op.HasQueryParam(SessionViewParam) {
		c.SessionView = ptr(gen.SessionView(v))
	}
	if v := query.Get(ApplicationViewParam); v != "" && op.HasQueryParam(ApplicationViewParam) {
		c.ApplicationView = ptr(gen.ApplicationView(v))
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// tokenOf is the object's token parameter. Only the exact key counts: a schema that declares
// `token` refuses every other spelling as an unknown parameter.
func tokenOf(fields map[string]any) string {
	token, _ := fields["token"].(string)
	return token
}

func acceptsContentType(op *spec.Operation, header string) bool {
	mediaType, _, err := mime.ParseMediaType(header)
	if err != nil {
		return false
	}
	for _, ct := range op.ContentTypes {
		if strings.EqualFold(ct, mediaType) {
			return true
		}
	}
	return false
}

// decodeBase64 accepts standard base64, padded or not, with surrounding white space (a
// trailing newline from `base64` is common).
func decodeBase64(raw []byte) ([]byte, error) {
	text := strings.TrimSpace(string(raw))
	decoded, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		decoded, err = base64.RawStdEncoding.DecodeString(text)
	}
	if err != nil {
		return nil, envelope.Param(gen.StatusInvalidEncodedParams, "body", "the body is not base64")
	}
	return decoded, nil
}

// decodeObject parses b, once, into the generic form kin-openapi validates. Numbers stay
// json.Number, so that one too large for a float64 is an invalid parameter, not a lost digit.
func decodeObject(b []byte) (map[string]any, error) {
	var fields map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&fields); err != nil || fields == nil || d.More() {
		return nil, envelope.Param(gen.StatusInvalidEncodedParams, "body", "the params are not a JSON object")
	}
	return fields, nil
}

func visitSchema(schema *openapi3.Schema, fields map[string]any) error {
	if err := schema.VisitJSON(fields, openapi3.MultiErrors()); err != nil {
		return translate(err)
	}
	return nil
}

// parameterOptions validate the query and path parameters; bodies were validated by Parse.
// Absent parameters are not filled in: a handler takes an absent one's default with Default.
var parameterOptions = &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true}

// validate checks the request's query and path parameters against the operation. A request
// with no query string, to an operation without required query parameters, has nothing to
// check. Tokens are resolved and checked by the auth middleware, which knows what they mean, so
// security requirements are not validated here.
func validate(r *http.Request, op *spec.Operation) error {
	if r.URL.RawQuery == "" && !op.QueryRequired && len(mux.Vars(r)) == 0 {
		return nil
	}
	input := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: mux.Vars(r),
		Route:      op.Route,
		Options:    parameterOptions,
	}
	var failures openapi3.MultiError
	for _, p := range op.Operation.Parameters {
		if err := openapi3filter.ValidateParameter(r.Context(), input, p.Value); err != nil {
			failures = append(failures, err)
		}
	}
	if len(failures) > 0 {
		return translate(failures)
	}
	if bad := unstorableQuery(r.URL.Query()); len(bad) > 0 {
		return &envelope.Error{Status: gen.StatusInvalidParam, Params: bad}
	}
	return nil
}
