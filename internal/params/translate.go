package params

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/spec"
)

// UnknownParamMessage is the message of an error naming a parameter the operation does not have.
const UnknownParamMessage = "is not a parameter of this operation"

// translate turns kin-openapi's validation errors into one envelope error: missing-param when a
// required parameter is absent, otherwise invalid-param (or the slug a failing schema names in
// x-invalid-status), with every failing parameter's dotted path.
func translate(err error) error {
	t := translation{status: gen.StatusInvalidParam}
	t.add(err, "")
	if len(t.params) == 0 {
		return envelope.Internal("validation failed without a parameter: %w", err)
	}
	sort.SliceStable(t.params, func(i, j int) bool { return t.params[i].Param < t.params[j].Param })
	// No Cause: kin-openapi's error text quotes the rejected value, which may be a password.
	return &envelope.Error{Status: t.status, Params: t.params}
}

type translation struct {
	status  gen.Status
	missing bool
	params  []gen.ParamError
}

func (t *translation) add(err error, prefix string) {
	// A type switch first: openapi3.MultiError's As matches any error it holds, so errors.As
	// would see only the first of several.
	switch e := err.(type) {
	case openapi3.MultiError:
		for _, inner := range e {
			t.add(inner, prefix)
		}
		return
	case *openapi3filter.RequestError:
		t.addRequestError(e)
		return
	case *openapi3.SchemaError:
		t.addSchemaError(e, prefix)
		return
	}
	var request *openapi3filter.RequestError
	var schema *openapi3.SchemaError
	switch {
	case errors.As(err, &request):
		t.addRequestError(request)
	case errors.As(err, &schema):
		t.addSchemaError(schema, prefix)
	default:
		t.param(prefix, "is invalid", false)
	}
}

func (t *translation) addRequestError(e *openapi3filter.RequestError) {
	name := "body"
	if e.Parameter != nil {
		name = e.Parameter.Name
	}
	switch {
	case errors.Is(e.Err, openapi3filter.ErrInvalidRequired):
		t.param(name, "is required", true)
	case e.Err == nil:
		t.param(name, e.Reason, false)
	case e.Parameter != nil:
		var schema *openapi3.SchemaError
		if errors.As(e.Err, &schema) {
			t.addSchemaError(schema, name) // a parameter's own path is its name
			return
		}
		t.param(name, "is invalid", false)
	default:
		var parse *openapi3filter.ParseError
		if errors.As(e.Err, &parse) {
			t.status = gen.StatusInvalidEncodedParams
			t.param("body", "the params are not a JSON object", false)
			return
		}
		t.add(e.Err, "")
	}
}

func (t *translation) addSchemaError(e *openapi3.SchemaError, prefix string) {
	path := strings.Join(e.JSONPointer(), ".")
	if prefix != "" && path == "" {
		path = prefix
	}
	if e.Origin != nil && (e.SchemaField == "allOf" || e.SchemaField == "anyOf" || e.SchemaField == "oneOf") {
		// A composed schema failed: the inner errors know which property, relative to here.
		inner := translation{status: t.status}
		inner.add(e.Origin, "")
		for _, p := range inner.params {
			t.param(join(path, strings.TrimPrefix(p.Param, "body")), p.Message, inner.missing)
		}
		if !t.missing && inner.status != gen.StatusMissingParam {
			t.status = inner.status // a slug that a schema inside names (x-invalid-status)
		}
		return
	}
	if e.SchemaField == "properties" {
		// An unsupported property: name each one the schema does not declare.
		if object, ok := e.Value.(map[string]any); ok && e.Schema != nil {
			for key := range object {
				if _, declared := e.Schema.Properties[key]; !declared {
					t.param(join(path, key), UnknownParamMessage, false)
				}
			}
			return
		}
	}
	if e.SchemaField == "required" {
		t.param(path, "is required", true)
		return
	}
	if e.Schema != nil {
		if slug, ok := e.Schema.Extensions[spec.ExtInvalidStatus].(string); ok && !t.missing {
			t.status = gen.Status(slug)
		}
	}
	t.param(path, reason(e), false)
}

func (t *translation) param(path, message string, missing bool) {
	if path == "" {
		path = "body"
	}
	if missing && !t.missing {
		t.missing = true
		t.status = gen.StatusMissingParam
	}
	t.params = append(t.params, gen.ParamError{Param: path, Message: message})
}

func join(path, key string) string {
	key = strings.TrimPrefix(key, ".")
	switch {
	case path == "":
		return key
	case key == "":
		return path
	}
	return path + "." + key
}

// reason describes a schema failure without echoing the value, which may be a secret.
func reason(e *openapi3.SchemaError) string {
	s := e.Schema
	switch e.SchemaField {
	case "enum":
		values := make([]string, 0, len(s.Enum))
		for _, v := range s.Enum {
			values = append(values, fmt.Sprint(v))
		}
		return "must be one of: " + strings.Join(values, ", ")
	case "maxLength":
		return fmt.Sprintf("must be at most %d characters", *s.MaxLength)
	case "minLength":
		return fmt.Sprintf("must be at least %d characters", s.MinLength)
	case "type":
		return "must be of type " + strings.Join(s.Type.Slice(), " or ")
	case "minimum", "maximum", "maxItems", "minItems", "format", "pattern":
		return e.Reason
	}
	return "is invalid"
}
