package impl_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/spec"
)

// fixedAnswers is a strict server whose hot routes answer what it is given (the other
// operations are never called here).
type fixedAnswers struct {
	gen.StrictServerInterface
	read   gen.SessionsReadResponseObject
	index  gen.SessionsIndexResponseObject
	grants gen.ScopesLiaisonRegisterResponseObject
}

func (f fixedAnswers) SessionsRead(context.Context, gen.SessionsReadRequestObject) (gen.SessionsReadResponseObject, error) {
	return f.read, nil
}

func (f fixedAnswers) SessionsIndex(context.Context, gen.SessionsIndexRequestObject) (gen.SessionsIndexResponseObject, error) {
	return f.index, nil
}

func (f fixedAnswers) ScopesLiaisonRegister(context.Context, gen.ScopesLiaisonRegisterRequestObject) (gen.ScopesLiaisonRegisterResponseObject, error) {
	return f.grants, nil
}

// TestHotAnswersAsGenerated: the success answers that answers.go writes through the envelope's
// writer have the status code, headers and bytes of the generated Visit methods, through the
// same strict handler and middleware as served, for values with every field set (strings with
// HTML, separators and invalid UTF-8, which encoders treat differently) and for zero values.
func TestHotAnswersAsGenerated(t *testing.T) {
	var read gen.SessionsRead200JSONResponse
	var index gen.SessionsIndex200JSONResponse
	var grants gen.ScopesLiaisonRegister200JSONResponse
	for _, full := range []bool{false, true} {
		if full {
			fill(reflect.ValueOf(&read).Elem(), 0)
			fill(reflect.ValueOf(&index).Elem(), 0)
			fill(reflect.ValueOf(&grants).Elem(), 0)
		}
		generated := serveAnswers(t, fixedAnswers{read: read, index: index, grants: grants})
		ours := serveAnswers(t, fixedAnswers{read: impl.SessionsReadOK(read), index: impl.SessionsIndexOK(index),
			grants: impl.ScopesLiaisonRegisterOK(grants)})
		for route, want := range generated {
			got := ours[route]
			if got.Code != want.Code || !reflect.DeepEqual(got.Header(), want.Header()) || got.Body.String() != want.Body.String() {
				t.Errorf("%s (every field set: %v): ours %d %v\n%s\ngenerated %d %v\n%s", route, full,
					got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
			}
		}
		if full && len(generated["read"].Body.String()) < 1000 {
			t.Errorf("the filled sessions/read answer is short, so fields were left out: %s", generated["read"].Body)
		}
	}
}

// serveAnswers serves each hot route of s through the strict handler, as the server wires it.
func serveAnswers(t *testing.T, s gen.StrictServerInterface) map[string]*httptest.ResponseRecorder {
	t.Helper()
	contract, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	writer := envelope.NewWriter(contract, slog.New(slog.DiscardHandler))
	strict := gen.NewStrictHandlerWithOptions(s, []gen.StrictMiddlewareFunc{writer.Success},
		gen.StrictHTTPServerOptions{RequestErrorHandlerFunc: writer.Error, ResponseErrorHandlerFunc: writer.Error})
	answers := map[string]*httptest.ResponseRecorder{}
	for route, serve := range map[string]func(http.ResponseWriter, *http.Request){
		"read":  func(w http.ResponseWriter, r *http.Request) { strict.SessionsRead(w, r, gen.SessionsReadParams{}) },
		"index": func(w http.ResponseWriter, r *http.Request) { strict.SessionsIndex(w, r, gen.SessionsIndexParams{}) },
		"grants": func(w http.ResponseWriter, r *http.Request) {
			strict.ScopesLiaisonRegister(w, r, gen.ScopesLiaisonRegisterParams{})
		},
	} {
		rec := httptest.NewRecorder()
		serve(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		answers[route] = rec
	}
	return answers
}

// awkward is every string field's value: HTML, a line separator, a quote, a control
// character and invalid UTF-8.
const awkward = "<b>Ada & \"Bob\"</b>\u2028\x01\xff é"

// fill sets every field reachable from v: pointers allocated, slices of two elements, strings
// awkward, numbers and times non-zero.
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 1, 13, 14, 15, 123456789, time.FixedZone("", 3600))))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), depth+1)
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), depth+1)
		}
	case reflect.String:
		v.SetString(awkward)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-1234567890123 % (1 << (v.Type().Bits() - 1)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(200)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5e-7)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for _, k := range []string{"b", "a<"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, depth+1)
			v.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
	case reflect.Interface:
		v.Set(reflect.ValueOf(awkward))
	}
}
