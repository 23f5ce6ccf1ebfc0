package envelope_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
)

// answerTypes are the types envelope.WriteJSON encodes in service: every error envelope (its
// data and session a gen.Session), the hot routes' success answers (impl's answers.go) and the
// health checks.
var answerTypes = []reflect.Type{
	reflect.TypeFor[gen.Envelope](),
	reflect.TypeFor[gen.SessionsRead200JSONResponse](),
	reflect.TypeFor[gen.SessionsIndex200JSONResponse](),
	reflect.TypeFor[gen.ScopesLiaisonRegister200JSONResponse](),
	reflect.TypeFor[map[string]string](),
}

// FuzzWriteJSONAsEncodingJSON fills the answer types from the fuzzer's bytes (any string bytes,
// any instant and zone offset, any float bits, nil or empty slices and maps, Data holding
// sessions, numbers or nested values) and fails when WriteJSON's bytes or its refusal differ from
// encoding/json's (the generated answers' encoder, which the contract's examples and every
// client were tested with).
func FuzzWriteJSONAsEncodingJSON(f *testing.F) {
	f.Add([]byte("\x00"))
	f.Add([]byte("<b>&\u2028\u2029\xff\xfe\x01 é 😀"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x80, 0x00, 0x01, 0xfe, 0x10})
	f.Add([]byte("\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15"))
	f.Fuzz(func(t *testing.T, seed []byte) {
		for _, typ := range answerTypes {
			src := &fuzzSource{b: seed}
			v := reflect.New(typ)
			src.fill(v.Elem(), 0)
			compareEncoders(t, v.Interface())
			compareEncoders(t, v.Elem().Interface())
		}
	})
}

// compareEncoders fails when WriteJSON and encoding/json answer v differently.
func compareEncoders(t *testing.T, v any) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	rec := httptest.NewRecorder()
	err := envelope.WriteJSON(rec, http.StatusOK, v)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%T: WriteJSON error %v, encoding/json error %v\nencoding/json: %s\nWriteJSON: %s", v, err, wantErr, want, rec.Body)
	case err == nil && rec.Body.String() != string(want)+"\n":
		t.Fatalf("%T: WriteJSON wrote\n%q\nencoding/json\n%q", v, rec.Body, want)
	}
}

// fuzzSource turns the fuzzer's bytes into values, cycling through them.
type fuzzSource struct {
	b []byte
	i int
}

func (s *fuzzSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[s.i%len(s.b)]
	s.i++
	return c
}

func (s *fuzzSource) uint64() uint64 {
	var w [8]byte
	for i := range w {
		w[i] = s.byte()
	}
	return binary.LittleEndian.Uint64(w[:])
}

func (s *fuzzSource) string() string {
	n := int(s.byte() % 12)
	if n == 11 { // a long one, past the encoders' word-at-a-time fast paths
		n = int(s.byte())
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = s.byte()
	}
	return string(b)
}

// time gives instants from about year -2300 to 10000 (encoding/json refuses years outside
// 0-9999), in UTC, Local or a zone of any offset up to ±26 hours in seconds (it refuses 24 hours
// and more).
func (s *fuzzSource) time() time.Time {
	const year1 = -62135596800 // Unix seconds of 0001-01-01
	sec := int64(s.uint64()%(12300*366*86400)) - 2300*366*86400 + year1
	at := time.Unix(sec, int64(s.uint64()%1e9))
	switch s.byte() % 4 {
	case 0:
		return at.UTC()
	case 1:
		return at.Local()
	default:
		return at.In(time.FixedZone(s.string(), int(int64(s.uint64()%(2*26*3600))-26*3600)))
	}
}

func (s *fuzzSource) float() float64 {
	switch s.byte() % 4 {
	case 0:
		return math.Float64frombits(s.uint64())
	case 1:
		return float64(int64(s.uint64()))
	default:
		return float64(int32(s.uint64())) * math.Pow10(int(s.byte()%60)-30)
	}
}

// anyValue is one of the values a Data of `any` could hold.
func (s *fuzzSource) anyValue(depth int) any {
	switch s.byte() % 11 {
	case 0:
		return nil
	case 1:
		return s.string()
	case 2:
		return s.float()
	case 3:
		return int64(s.uint64())
	case 4:
		return s.uint64()
	case 5:
		return s.byte()%2 == 0
	case 6:
		var v gen.Session
		s.fill(reflect.ValueOf(&v).Elem(), depth+1)
		return v
	case 7:
		return json.Number("1")
	case 8:
		m := map[string]any{}
		if depth < 4 {
			for range s.byte() % 3 {
				m[s.string()] = s.anyValue(depth + 1)
			}
		}
		return m
	case 9:
		var l []any
		if depth < 4 && s.byte()%2 == 0 {
			l = []any{}
			for range s.byte() % 3 {
				l = append(l, s.anyValue(depth+1))
			}
		}
		return l
	default:
		return s.time()
	}
}

// fill sets v from the source: pointers nil or set, slices and maps nil, empty or filled.
func (s *fuzzSource) fill(v reflect.Value, depth int) {
	if depth > 10 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if s.byte()%4 != 0 {
			v.Set(reflect.New(v.Type().Elem()))
			s.fill(v.Elem(), depth+1)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(s.time()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				s.fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		switch n := int(s.byte() % 4); n {
		case 0: // nil
		default:
			v.Set(reflect.MakeSlice(v.Type(), n-1, n-1))
			for i := range n - 1 {
				s.fill(v.Index(i), depth+1)
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			s.fill(v.Index(i), depth+1)
		}
	case reflect.String:
		v.SetString(s.string())
	case reflect.Bool:
		v.SetBool(s.byte()%2 == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(s.uint64()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(s.uint64())
	case reflect.Float32, reflect.Float64:
		v.SetFloat(s.float())
	case reflect.Map:
		if s.byte()%3 == 0 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for range s.byte() % 4 {
			k := reflect.New(v.Type().Key()).Elem()
			s.fill(k, depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			s.fill(e, depth+1)
			v.SetMapIndex(k, e)
		}
	case reflect.Interface:
		if a := s.anyValue(depth); a != nil {
			v.Set(reflect.ValueOf(a))
		}
	}
}
