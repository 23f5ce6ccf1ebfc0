package envelope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/requestid"
	"github.com/plano/planoauth/internal/spec"
)

// causeMarker starts every internal cause; it must never reach a response body.
const causeMarker = "internal-cause-7d1f"

const testRequestID = "req-0123456789"

// writerCase is one error to write; it seeds the fuzz target too.
type writerCase struct {
	status       int // index into the contract's Status enum
	message      string
	param        string
	paramMessage string
	retryAfter   time.Duration
	wrapped      bool // wrapped in another error, as handlers return them
}

var writerCases = []writerCase{
	{0, "", "", "", 0, false},
	{1, "Custom <b>message</b> & more", "client.email", "is required", 0, true},
	{2, "", "body", "the params are not a JSON object", 1500 * time.Millisecond, false},
	{3, "\xff\xfe invalid UTF-8 \u2028", "a\x00b", "\"quoted\"", time.Second, true},
	{4, causeMarker, "", "", -time.Second, false},
	{5, "", "", "", 1<<63 - 1, false},
}

// FuzzWriterError writes arbitrary errors of every documented slug. The answer must always be
// one JSON envelope with that slug, the HTTP code the contract lists the slug under, the given
// (or documented) message and parameters, a request id exactly on 5xx answers, a Retry-After
// of whole seconds rounded up, and never the internal cause.
func FuzzWriterError(f *testing.F) {
	contract, err := spec.Load()
	if err != nil {
		f.Fatal(err)
	}
	statuses := statusEnum(contract)
	for _, c := range writerCases {
		f.Add(uint16(c.status), c.message, c.param, c.paramMessage, int64(c.retryAfter), c.wrapped)
	}
	for i := range statuses { // every slug, plainly, so that go test checks each one's code
		f.Add(uint16(i), "", "", "", int64(0), false)
	}
	f.Fuzz(func(t *testing.T, which uint16, message, param, paramMessage string, retryAfter int64, wrapped bool) {
		c := writerCase{int(which) % len(statuses), message, param, paramMessage, time.Duration(retryAfter), wrapped}
		e := c.error(statuses[c.status])
		rec := write(contract, c.returned(e))
		checkCode(t, contract, e.Status, rec.Code)
		got := decodeEnvelope(t, rec.Body.Bytes())
		checkBody(t, contract, e, got, rec.Code)
		checkHeaders(t, e, rec)
		given := message + "\x00" + param + "\x00" + paramMessage
		if bytes.Contains(rec.Body.Bytes(), []byte(causeMarker)) && !strings.Contains(given, causeMarker) {
			t.Fatalf("the internal cause leaked into the answer:\n%s", rec.Body.Bytes())
		}
	})
}

// statusEnum returns the slugs of the contract's Status schema, in its order.
func statusEnum(contract *spec.Spec) []gen.Status {
	var statuses []gen.Status
	for _, v := range contract.Doc.Components.Schemas["Status"].Value.Enum {
		statuses = append(statuses, gen.Status(fmt.Sprint(v)))
	}
	return statuses
}

func (c writerCase) error(status gen.Status) *envelope.Error {
	e := &envelope.Error{Status: status, Message: c.message, RetryAfter: c.retryAfter,
		Cause: errors.New(causeMarker + ": connection refused")}
	if c.param != "" || c.paramMessage != "" {
		e.Params = []gen.ParamError{{Param: c.param, Message: c.paramMessage}}
	}
	return e
}

func (c writerCase) returned(e *envelope.Error) error {
	if c.wrapped {
		return fmt.Errorf("handle request: %w", e)
	}
	return e
}

func write(contract *spec.Spec, err error) *httptest.ResponseRecorder {
	w := envelope.NewWriter(contract, slog.New(slog.DiscardHandler))
	r := httptest.NewRequest(http.MethodPost, "/api/v1/sessions/create", nil)
	r = r.WithContext(requestid.NewContext(r.Context(), testRequestID))
	rec := httptest.NewRecorder()
	w.Error(rec, r, err)
	return rec
}

// checkCode holds the HTTP code to the contract itself rather than to the map derived from it:
// some operation must list the slug under that code.
func checkCode(t *testing.T, contract *spec.Spec, status gen.Status, code int) {
	t.Helper()
	for _, op := range contract.Operations() {
		if slices.Contains(op.StatusesOf(code), status) {
			return
		}
	}
	t.Fatalf("%s was answered with %d, under which no operation lists it", status, code)
}

// decodeEnvelope decodes exactly one JSON envelope with no unknown fields.
func decodeEnvelope(t *testing.T, body []byte) gen.Envelope {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	var got gen.Envelope
	if err := d.Decode(&got); err != nil {
		t.Fatalf("body is not an envelope: %v\n%s", err, body)
	}
	if d.More() {
		t.Fatalf("body holds more than one JSON value:\n%s", body)
	}
	return got
}

func checkBody(t *testing.T, contract *spec.Spec, e *envelope.Error, got gen.Envelope, code int) {
	t.Helper()
	if got.Status != e.Status {
		t.Errorf("status = %q, want %q", got.Status, e.Status)
	}
	wantMessage := contract.Message(e.Status)
	if e.Message != "" {
		wantMessage = asJSONString(e.Message)
	}
	if got.Message != wantMessage {
		t.Errorf("message = %q, want %q", got.Message, wantMessage)
	}
	checkParams(t, e.Params, got.Errors)
	if wantID := code >= 500; (got.RequestId != nil) != wantID || wantID && *got.RequestId != testRequestID {
		t.Errorf("%d answer has request_id %v", code, got.RequestId)
	}
}

func checkParams(t *testing.T, want []gen.ParamError, got *[]gen.ParamError) {
	t.Helper()
	if len(want) == 0 {
		if got != nil {
			t.Errorf("errors = %v, want none", *got)
		}
		return
	}
	wantJSON := []gen.ParamError{{Param: asJSONString(want[0].Param), Message: asJSONString(want[0].Message)}}
	if got == nil || !slices.Equal(*got, wantJSON) {
		t.Errorf("errors = %v, want %v", got, wantJSON)
	}
}

func checkHeaders(t *testing.T, e *envelope.Error, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	got := rec.Header().Get("Retry-After")
	if e.RetryAfter <= 0 {
		if got != "" {
			t.Errorf("Retry-After = %q for a retry delay of %v", got, e.RetryAfter)
		}
		return
	}
	if !wholeSecondsRoundedUp(got, e.RetryAfter) {
		t.Errorf("Retry-After = %q for a retry delay of %v, want it in whole seconds, rounded up", got, e.RetryAfter)
	}
}

// wholeSecondsRoundedUp reports whether header is the least number of whole seconds that is not
// shorter than d. It counts in big integers, so that no delay can overflow the check itself.
func wholeSecondsRoundedUp(header string, d time.Duration) bool {
	n, ok := new(big.Int).SetString(header, 10)
	if !ok {
		return false
	}
	second, delay := big.NewInt(int64(time.Second)), big.NewInt(int64(d))
	atLeast := new(big.Int).Mul(n, second).Cmp(delay) >= 0
	oneLessIsShorter := new(big.Int).Mul(new(big.Int).Sub(n, big.NewInt(1)), second).Cmp(delay) < 0
	return atLeast && oneLessIsShorter
}

// asJSONString is s as it reads after a round trip through encoding/json, which replaces each
// byte of invalid UTF-8 with U+FFFD, as converting to runes does.
func asJSONString(s string) string { return string([]rune(s)) }

// TestAbandonedRequestIsNoError: a failure because the caller hung up (its context ended) is
// not one of ours: it is logged below the error level, while the same failure with the caller
// still waiting is an error.
func TestAbandonedRequestIsNoError(t *testing.T) {
	contract, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		hungUp    bool
		wantLevel string
	}{{"CallerWaiting", false, "ERROR"}, {"CallerHungUp", true, "INFO"}} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := envelope.NewWriter(contract, slog.New(slog.NewJSONHandler(&logs, nil)))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.hungUp {
				cancel()
			}
			r := httptest.NewRequest(http.MethodPost, "/api/v1/sessions/create", nil).WithContext(ctx)
			rec := httptest.NewRecorder()
			w.Error(rec, r, envelope.Internal("count login attempt: %w", context.Canceled))
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("answered %d, want 500", rec.Code)
			}
			if !strings.Contains(logs.String(), `"level":"`+tc.wantLevel+`"`) {
				t.Errorf("logged %s, want level %s", logs.String(), tc.wantLevel)
			}
		})
	}
}

// TestWriteJSONAsEncodingJSON: WriteJSON (a pooled buffer, reused) writes the bytes
// encoding/json writes (as the generated success answers do) for an envelope with every kind of
// field the answers carry, one after another.
func TestWriteJSONAsEncodingJSON(t *testing.T) {
	awkward := "<b>Ada & \"Bob\"</b>\u2028\u2029\x01\x7f\xff é 😀"
	at := time.Date(2026, 12, 1, 13, 14, 15, 123456789, time.FixedZone("", -5*3600))
	yes, n := true, int64(-9007199254740993)
	session := gen.Session{ClientAddress: &awkward, CreatedAt: &at, Current: &yes, Scopes: &[]string{awkward, ""},
		Application: &gen.Application{Name: &awkward, Slug: gen.ApplicationSlug(awkward)}}
	params := []gen.ParamError{{Param: awkward, Message: awkward}}
	for _, v := range []any{
		gen.Envelope{Status: gen.Status(awkward), Message: awkward, Session: &session, Errors: &params, RequestId: &awkward,
			Data: map[string]any{"b": 1.5e-7, "a<": []any{awkward, true, nil, n, 1e21, 100.0}, "": session}},
		gen.Envelope{},
		map[string]string{"status": "ok"},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		if err := envelope.WriteJSON(rec, http.StatusTeapot, v); err != nil {
			t.Fatal(err)
		}
		if got := rec.Body.String(); got != string(want)+"\n" || rec.Code != http.StatusTeapot {
			t.Errorf("WriteJSON wrote %d\n%s\nencoding/json\n%s", rec.Code, got, want)
		}
	}
}

// TestUnencodableErrorStillAnswers: an error whose Data JSON cannot carry (a bug of ours) still
// answers one envelope with its slug and documented code, without the data, and is logged.
func TestUnencodableErrorStillAnswers(t *testing.T) {
	contract, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []gen.Status{gen.StatusPermissionDenied, gen.StatusApplicationCrash} {
		var logs bytes.Buffer
		w := envelope.NewWriter(contract, slog.New(slog.NewJSONHandler(&logs, nil)))
		r := httptest.NewRequest(http.MethodGet, "/api/v1/sessions/read", nil)
		r = r.WithContext(requestid.NewContext(r.Context(), testRequestID))
		rec := httptest.NewRecorder()
		w.Error(rec, r, &envelope.Error{Status: status, Data: map[string]any{"nan": math.NaN()}})
		got := decodeEnvelope(t, rec.Body.Bytes())
		if code := contract.HTTPCode(status); rec.Code != code || got.Status != status || got.Data != nil ||
			got.Message != contract.Message(status) || (got.RequestId != nil) != (code >= 500) {
			t.Errorf("%s: answered %d %+v", status, rec.Code, got)
		}
		if !strings.Contains(logs.String(), "answer not encodable") {
			t.Errorf("%s: logged %s", status, logs.String())
		}
	}
}
