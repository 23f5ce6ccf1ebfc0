package params_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/spec"
)

// target is an operation whose bodies are parsed, with the generated type its handler is given
// the validated parameters in.
type target struct {
	id    string
	input func() any
}

// targets cover a flat sensitive body, a nested one, and a plain JSON body.
var targets = []target{
	{"sessionsCreate", func() any { return new(gen.SessionsCreateInput) }},
	{"clientsRegister", func() any { return new(gen.ClientsRegisterInput) }},
	{"coexistenceTouch", func() any { return new(gen.CoexistenceTouchInput) }},
}

const (
	sessionsCreate = iota
	clientsRegister
	coexistenceTouch
)

// parseCase is one body with the answer it must get; it seeds the fuzz target too.
type parseCase struct {
	name        string
	target      int
	contentType string
	body        string
	encode      bool // base64 the body first, as a client of a sensitive route does
	want        gen.Status
}

const login = `{"email":"ada@example.com","password":"correct horse","application":"planoorder"}`

var parseCases = []parseCase{
	{"OK", sessionsCreate, "text/plain", login, true, ""},
	{"OKWithCharset", sessionsCreate, "text/plain; charset=utf-8", login, true, ""},
	{"OKNested", clientsRegister, "text/plain", `{"application":"planoorder","client":{"email":"a@example.com","password":"correct horse battery"}}`, true, ""},
	{"OKJSON", coexistenceTouch, "application/json", `{"domain":"users","operation":"update","id":1}`, false, ""},
	{"ErrJSONToSensitiveRoute", sessionsCreate, "application/json", login, false, gen.StatusInvalidContentType},
	{"ErrTextToJSONRoute", coexistenceTouch, "text/plain", `{"domain":"users"}`, false, gen.StatusInvalidContentType},
	{"ErrNotBase64", sessionsCreate, "text/plain", "this is {not} base64!", false, gen.StatusInvalidEncodedParams},
	{"ErrBase64OfText", sessionsCreate, "text/plain", "hello world", true, gen.StatusInvalidEncodedParams},
	{"ErrBase64OfArray", sessionsCreate, "text/plain", "[1,2,3]", true, gen.StatusInvalidEncodedParams},
	{"ErrTwoObjects", sessionsCreate, "text/plain", "{} {}", true, gen.StatusInvalidEncodedParams},
	{"ErrMalformedJSON", coexistenceTouch, "application/json", `{"domain":`, false, gen.StatusInvalidEncodedParams},
	{"ErrEmptyObject", sessionsCreate, "text/plain", "{}", true, gen.StatusNoParamsDecoded},
	{"ErrEmptyBody", clientsRegister, "", "", false, gen.StatusNoParamsDecoded},
	{"ErrMissing", sessionsCreate, "text/plain", `{"email":"ada@example.com","application":"planoorder"}`, true, gen.StatusMissingParam},
	{"ErrMissingNested", clientsRegister, "text/plain", `{"application":"planoorder","client":{"password":"correct horse battery"}}`, true, gen.StatusMissingParam},
	{"ErrUnknownParam", sessionsCreate, "text/plain", `{"email":"a@example.com","password":"x","application":"planoorder","admin":true}`, true, gen.StatusInvalidParam},
	{"ErrWrongType", clientsRegister, "text/plain", `{"application":"planoorder","client":{"email":"a@example.com","password":"correct horse","company_id":"seven"}}`, true, gen.StatusInvalidParam},
	{"ErrHugeNumber", sessionsCreate, "text/plain", `{"email":"a@example.com","password":"x","application":"planoorder","remember_me":1e400}`, true, gen.StatusInvalidParam},
	{"ErrUnknownAndMissing", sessionsCreate, "text/plain", `{"email":"a@example.com","application":"planoorder","admin":true}`, true, gen.StatusMissingParam},
	{"ErrUnknownCommonParam", coexistenceTouch, "application/json", `{"domain":"users","operation":"update","id":1,"session_view":"full"}`, false, gen.StatusInvalidParam},
	{"ErrDomainInvalidInPart", coexistenceTouch, "application/json", `{"domain":"planets","operation":"update","id":1,"application":"planoorder"}`, false, gen.StatusDomainInvalid},
	{"ErrTooLong", sessionsCreate, "text/plain", `{"email":"a@example.com","password":"` + strings.Repeat("x", 257) + `","application":"planoorder"}`, true, gen.StatusInvalidParam},
}

// TestParse checks the answer of each documented way a body can fail, without HTTP.
func TestParse(t *testing.T) {
	c := newChecker(t)
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			op := c.ops[tc.target]
			_, err := params.Parse(op, tc.contentType, tc.bodyBytes())
			var got gen.Status
			if err != nil {
				got = c.envelopeError(t, op, err).Status
			}
			if got != tc.want {
				t.Errorf("status = %q, want %q (error: %v)", got, tc.want, err)
			}
		})
	}
}

// TestParseCommon: the common parameters come out of the object once, for the authenticator and
// the caller's session; the composed schemas refuse what none of their parts declares, by name.
func TestParseCommon(t *testing.T) {
	c := newChecker(t)
	parsed, err := params.Parse(c.ops[sessionsCreate], "text/plain", []byte(base64.StdEncoding.EncodeToString([]byte(
		`{"email":"a@example.com","password":"x","application":"planox2","session_view":"minimal","application_view":"full"}`))))
	if err != nil {
		t.Fatal(err)
	}
	got := parsed.Common
	if got.Application == nil || *got.Application != gen.Planox2 || got.SessionView == nil || *got.SessionView != gen.SessionViewMinimal ||
		got.ApplicationView == nil || *got.ApplicationView != gen.ApplicationViewFull {
		t.Errorf("common = %+v", got)
	}
	_, err = params.Parse(c.ops[sessionsCreate], "text/plain", []byte(base64.StdEncoding.EncodeToString([]byte(
		`{"email":"a@example.com","application":"planoorder","admin":true,"zone":1}`))))
	e := c.envelopeError(t, c.ops[sessionsCreate], err)
	var names []string
	for _, p := range e.Params {
		names = append(names, p.Param+": "+p.Message)
	}
	want := []string{"admin: " + params.UnknownParamMessage, "password: is required", "zone: " + params.UnknownParamMessage}
	if e.Status != gen.StatusMissingParam || !slices.Equal(names, want) {
		t.Errorf("%s %v, want missing-param %v", e.Status, names, want)
	}
}

// FuzzParse feeds arbitrary bodies and content types to the decoder of untrusted parameters.
// Whatever comes in, Parse must not panic, and must either accept the body (then a sensitive
// object decodes into the handler's generated type) or answer one of the documented decoding
// and validation slugs that the operation lists for that slug's HTTP code: anything else is an
// application-crash or a response that fails the contract.
func FuzzParse(f *testing.F) {
	c := newChecker(f)
	for _, tc := range parseCases {
		f.Add(uint8(tc.target), tc.contentType, []byte(tc.body), tc.encode)
	}
	f.Fuzz(func(t *testing.T, which uint8, contentType string, body []byte, encode bool) {
		tc := parseCase{target: int(which) % len(targets), contentType: contentType, body: string(body), encode: encode}
		op := c.ops[tc.target]
		parsed, err := params.Parse(op, contentType, tc.bodyBytes())
		if err != nil {
			c.checkRefusal(t, op, err)
			return
		}
		c.checkAccepted(t, targets[tc.target], parsed)
	})
}

func (tc parseCase) bodyBytes() []byte {
	if tc.encode {
		return []byte(base64.StdEncoding.EncodeToString([]byte(tc.body)))
	}
	return []byte(tc.body)
}

// checker holds what the properties are judged against: the contract, the target operations
// and the slugs that decoding and validation may answer.
type checker struct {
	contract *spec.Spec
	ops      []*spec.Operation
	allowed  []gen.Status
}

func newChecker(tb testing.TB) *checker {
	tb.Helper()
	contract, err := spec.Load()
	if err != nil {
		tb.Fatal(err)
	}
	c := &checker{contract: contract, allowed: decodingStatuses(contract)}
	for _, tg := range targets {
		op := contract.Operation(tg.id)
		if op == nil {
			tb.Fatalf("the contract has no operation %s", tg.id)
		}
		c.ops = append(c.ops, op)
	}
	return c
}

// decodingStatuses are the slugs Parse may answer: the documented decoding and validation
// failures, and any slug that a schema of the contract names in x-invalid-status.
func decodingStatuses(contract *spec.Spec) []gen.Status {
	statuses := []gen.Status{
		gen.StatusInvalidContentType, gen.StatusInvalidEncodedParams, gen.StatusNoParamsDecoded,
		gen.StatusMissingParam, gen.StatusInvalidParam,
	}
	for _, schema := range contract.Doc.Components.Schemas {
		if slug, ok := schema.Value.Extensions[spec.ExtInvalidStatus].(string); ok {
			statuses = append(statuses, gen.Status(slug))
		}
	}
	return statuses
}

// envelopeError returns err as the *envelope.Error the writer will answer with.
func (c *checker) envelopeError(t *testing.T, op *spec.Operation, err error) *envelope.Error {
	t.Helper()
	var e *envelope.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %T is not an *envelope.Error: %v", op.ID, err, err)
	}
	return e
}

func (c *checker) checkRefusal(t *testing.T, op *spec.Operation, err error) {
	e := c.envelopeError(t, op, err)
	if !slices.Contains(c.allowed, e.Status) {
		t.Fatalf("%s: status %q is not a decoding or validation slug (error: %v)", op.ID, e.Status, err)
	}
	code := c.contract.HTTPCode(e.Status)
	if !slices.Contains(op.StatusesOf(code), e.Status) {
		t.Fatalf("%s: status %q is not listed in the operation's %d response", op.ID, e.Status, code)
	}
	needsParams := e.Status != gen.StatusNoParamsDecoded
	if needsParams && len(e.Params) == 0 {
		t.Fatalf("%s: %s names no failing parameter", op.ID, e.Status)
	}
	for _, p := range e.Params {
		if p.Param == "" || p.Message == "" {
			t.Fatalf("%s: %s has a parameter error without a path or a message: %+v", op.ID, e.Status, p)
		}
	}
}

func (c *checker) checkAccepted(t *testing.T, tg target, parsed *params.Parsed) {
	if parsed == nil {
		return // an optional body that was absent
	}
	object := parsed.Object
	if !json.Valid(object) || !bytes.HasPrefix(bytes.TrimSpace(object), []byte("{")) {
		t.Fatalf("%s: accepted parameters are not a JSON object: %q", tg.id, object)
	}
	// The handler's typed decode answers application-crash if this fails.
	if err := json.Unmarshal(object, tg.input()); err != nil {
		t.Fatalf("%s: validated parameters do not decode into %s: %v", tg.id, typeName(tg.input()), err)
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
