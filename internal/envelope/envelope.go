// Package envelope is the single writer of PlanoAuth's answers: one error type that carries a
// status slug, one function that turns any error into the documented envelope, with the HTTP
// code and message the contract gives that slug, and the headers every answer has (Success
// gives them to the typed success answers of the generated handlers).
package envelope

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/reqstate"
	"github.com/plano/planoauth/internal/requestid"
	"github.com/plano/planoauth/internal/spec"
)

// Error is any answer other than success. Cause is internal: it is logged for 5xx answers and
// never shown to the caller.
type Error struct {
	Status     gen.Status
	Message    string // empty: the slug's documented description
	Params     []gen.ParamError
	Session    *gen.Session // the caller's session, and the limited one of client-required
	Data       any
	RetryAfter time.Duration
	Cause      error
}

func (e *Error) Error() string {
	msg := string(e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an error answering status with its documented message.
func New(status gen.Status) *Error { return &Error{Status: status} }

// Param returns an error answering status for one failing parameter.
func Param(status gen.Status, param, message string) *Error {
	return &Error{Status: status, Params: []gen.ParamError{{Param: param, Message: message}}}
}

// Internal wraps an unexpected failure as application-crash; the cause is logged, not shown.
func Internal(format string, args ...any) *Error {
	return &Error{Status: gen.StatusApplicationCrash, Cause: fmt.Errorf(format, args...)}
}

// NewContextCallerSession returns a context carrying the caller's session, which every answer
// to a session token repeats in its `session` field.
func NewContextCallerSession(ctx context.Context, s *gen.Session) context.Context {
	return reqstate.Set(ctx, reqstate.CallerSession, s)
}

// CallerSession returns the caller's session, or nil when no session token was used.
func CallerSession(ctx context.Context) *gen.Session {
	return reqstate.Get[*gen.Session](ctx, reqstate.CallerSession)
}

// Writer writes envelopes with the contract's codes and messages.
type Writer struct {
	spec *spec.Spec
	log  *slog.Logger
}

// NewWriter returns a Writer for the contract s logging to log.
func NewWriter(s *spec.Spec, log *slog.Logger) *Writer { return &Writer{spec: s, log: log} }

// Message returns the documented description of a slug, for success answers built by handlers.
func (w *Writer) Message(status gen.Status) string { return w.spec.Message(status) }

// Error writes err as an envelope. An *Error anywhere in err's chain gives the slug; anything
// else is an application-crash. 5xx answers are logged with their cause and carry the request id.
func (w *Writer) Error(rw http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: gen.StatusApplicationCrash, Cause: err}
	}
	code := w.spec.HTTPCode(e.Status)
	body := gen.Envelope{Status: e.Status, Message: e.Message, Session: e.Session, Data: e.Data}
	if body.Session == nil {
		body.Session = CallerSession(r.Context())
	}
	if body.Message == "" {
		body.Message = w.spec.Message(e.Status)
	}
	if len(e.Params) > 0 {
		body.Errors = &e.Params
	}
	id := requestid.FromContext(r.Context())
	if code >= http.StatusInternalServerError {
		body.RequestId = &id
	}
	// Only failures of our own are errors to log (the access log has every answer). A 4xx is the
	// caller's, and its cause may quote what the caller sent; an unknown or undeployed route is
	// the caller's or the operator's.
	if ours(e.Status, code) {
		level, what := slog.LevelError, "request failed"
		if r.Context().Err() != nil {
			// The caller hung up, so the work it started was cut off: nothing of ours failed,
			// and nobody reads this answer.
			level, what = slog.LevelInfo, "request abandoned by the caller"
		}
		w.log.LogAttrs(r.Context(), level, what,
			slog.String("request_id", id), slog.String("status", string(e.Status)),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	if e.RetryAfter > 0 {
		rw.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(e.RetryAfter), 10))
	}
	if err := WriteJSON(rw, code, body); errors.Is(err, errEncode) {
		// Data or Session held something JSON cannot carry (a bug of ours): nothing was written
		// yet, so the caller still gets the slug, its code and (on a 5xx) the request id.
		w.log.LogAttrs(r.Context(), slog.LevelError, "answer not encodable", slog.String("request_id", id),
			slog.String("status", string(e.Status)), slog.String("path", r.URL.Path), slog.Any("error", err))
		_ = WriteJSON(rw, code, gen.Envelope{Status: body.Status, Message: body.Message, Errors: body.Errors, RequestId: body.RequestId})
	} // else written, or the caller hung up: nothing left to tell it
}

// ceilSeconds rounds d up to whole seconds without the overflow of adding a second first
// (FuzzWriterError found that a delay near the longest Duration turned negative).
func ceilSeconds(d time.Duration) int64 {
	seconds := int64(d / time.Second)
	if d%time.Second != 0 {
		seconds++
	}
	return seconds
}

func ours(status gen.Status, code int) bool {
	switch status {
	case gen.StatusRouteNonExistent, gen.StatusRouteNotFound, gen.StatusServiceNotFound:
		return false
	}
	return code >= http.StatusInternalServerError
}

// Status writes an envelope answering status with no detail.
func (w *Writer) Status(rw http.ResponseWriter, r *http.Request, status gen.Status) {
	w.Error(rw, r, New(status))
}

// WriteJSON writes v as the JSON body of an answer with the given code, with the headers every
// answer has: the one function through which the errors (Error), the health checks and the typed
// success answers of the hottest routes (impl's answers.go) are written; the other success
// answers are the generated code's, whose bytes are the same (impl's answers_test.go). v is
// encoded before anything is written, into a pooled buffer (the generated code allocates one per
// answer), so that a value that cannot be encoded is an error to answer, not half an answer.
// It encodes with goccy/go-json, which writes encoding/json's bytes (TestWriteJSONAsEncodingJSON)
// without its reflection per field: encoding/json took a quarter of a cached sessions/read's
// CPU in-process, goccy/go-json a tenth (README, "Speed notes, pass 5").
func WriteJSON(rw http.ResponseWriter, code int, v any) error {
	buf := buffers.Get().(*bytes.Buffer)
	defer putBuffer(buf)
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return fmt.Errorf("%w: %w", errEncode, err)
	}
	setHeaders(rw.Header())
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	if _, err := rw.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write the answer: %w", err)
	}
	return nil
}

// errEncode marks WriteJSON's failures to encode, which happen before anything is written.
var errEncode = errors.New("encode the answer")

// buffers holds the encoding buffers of WriteJSON; one larger than maxPooled (a long list) is
// left to the collector rather than kept.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooled = 64 << 10

func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() > maxPooled {
		return
	}
	buf.Reset()
	buffers.Put(buf)
}

// setHeaders gives an answer the headers every answer has, success or error: answers carry
// tokens and personal data, so no cache may keep them, and no browser may sniff another type.
// The values are shared, never modified slices (Header.Add appends past their capacity).
func setHeaders(h http.Header) {
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
}

var (
	noStore = []string{"no-store"}
	noSniff = []string{"nosniff"}
)

// Success is the strict handlers' middleware through which every success answer passes: the
// generated code encodes the typed answer, on a response whose headers this writer set.
// (Failures come back to Error as the strict handler's error.)
func (w *Writer) Success(f gen.StrictHandlerFunc, _ string) gen.StrictHandlerFunc {
	return func(ctx context.Context, rw http.ResponseWriter, r *http.Request, request any) (any, error) {
		setHeaders(rw.Header())
		return f(ctx, rw, r, request)
	}
}
