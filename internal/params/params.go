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
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/gorilla/mux"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/spec"
)

type contextKey int

const bodyKey contextKey = iota

// NewContext returns a context carrying the request's parameters object (see Body).
func NewContext(ctx context.Context, object []byte) context.Context {
	return context.WithValue(ctx, bodyKey, object)
}

// Body returns the request's parameters as a JSON object: the decoded sensitive params, or the
// JSON body; nil when the request had no body.
func Body(ctx context.Context) []byte {
	b, _ := ctx.Value(bodyKey).([]byte)
	return b
}

// Decode unmarshals the request's parameters into v (a generated *Input type). Handlers of
// sensitive routes call it; the middleware has already validated the object.
func Decode(ctx context.Context, v any) error {
	b := Body(ctx)
	if b == nil {
		return envelope.New(gen.StatusNoParamsDecoded)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return envelope.Internal("decode validated params: %w", err)
	}
	return nil
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
			next.ServeHTTP(w, r)
		})
	}
}

// readBody reads the body and leaves its parameters object in the context (and a fresh copy of
// the body for the generated handler).
func readBody(r *http.Request, op *spec.Operation) (*http.Request, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return r, envelope.New(gen.StatusRequestTooLarge)
		}
		return r, envelope.Param(gen.StatusInvalidEncodedParams, "body", "the body could not be read")
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	object, err := Parse(op, r.Header.Get("Content-Type"), raw)
	if err != nil || object == nil {
		return r, err
	}
	return r.WithContext(NewContext(r.Context(), object)), nil
}

// Parse returns the parameters object that a request body of op carries, given its
// Content-Type header. It checks, in the documented order: the content type
// (invalid-content-type), the base64 of sensitive params and that they are one JSON object
// (invalid-encoded-params), that the object is not empty (no-params-decoded), that no string
// holds what PostgreSQL cannot store (invalid-param), and the sensitive params against their
// schema (missing-param, invalid-param, or the slug a schema names in x-invalid-status). Plain JSON bodies are checked against their schema later, with the rest of
// the request. The object is nil when op takes no body or an optional body is absent.
//
// Parse needs no request and no database, so that the decoding of untrusted bytes can be tested
// and fuzzed on its own. Every error it returns is an *envelope.Error.
func Parse(op *spec.Operation, contentType string, body []byte) ([]byte, error) {
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
	fields, err := jsonObject(object)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 && (op.Sensitive != nil || op.BodyRequired) {
		return nil, envelope.New(gen.StatusNoParamsDecoded)
	}
	// One validation for both kinds of body: the decoded object against its schema, then
	// (with every parameter known to exist) what PostgreSQL can store.
	if op.BodySchema != nil {
		if err := visitSchema(op.BodySchema, fields); err != nil {
			return nil, err
		}
	}
	if bad := unstorableStrings(fields, ""); len(bad) > 0 {
		return nil, &envelope.Error{Status: gen.StatusInvalidParam, Params: bad}
	}
	return object, nil
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

func jsonObject(b []byte) (map[string]any, error) {
	var fields map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&fields); err != nil || fields == nil || d.More() {
		return nil, envelope.Param(gen.StatusInvalidEncodedParams, "body", "the params are not a JSON object")
	}
	return fields, nil
}

func visitSchema(schema *openapi3.Schema, fields map[string]any) error {
	// kin-openapi validates the generic form that encoding/json produces without UseNumber.
	var generic any
	b, _ := json.Marshal(fields)
	_ = json.Unmarshal(b, &generic)
	if err := schema.VisitJSON(generic, openapi3.MultiErrors()); err != nil {
		return translate(err)
	}
	return nil
}

// parameterOptions validate the query and path parameters; bodies were validated by Parse.
var parameterOptions = &openapi3filter.Options{
	MultiError:         true,
	ExcludeRequestBody: true,
	// Tokens are resolved and checked by the auth middleware, which knows what they mean.
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
}

// validate runs kin-openapi on the request's parameters (it also fills in their defaults).
func validate(r *http.Request, op *spec.Operation) error {
	input := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: mux.Vars(r),
		Route:      op.Route,
		Options:    parameterOptions,
	}
	if err := openapi3filter.ValidateRequest(r.Context(), input); err != nil {
		return translate(err)
	}
	if bad := unstorableQuery(r.URL.Query()); len(bad) > 0 {
		return &envelope.Error{Status: gen.StatusInvalidParam, Params: bad}
	}
	return nil
}
