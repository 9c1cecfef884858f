package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// Error codes of the API, one per kind of failure a client handles.
const (
	codeMalformed        = "malformed"              // 400: not JSON, unknown field, wrong type
	codeInvalid          = "invalid"                // 400: a value is not acceptable
	codeUnauthorized     = "unauthorized"           // 401: no, bad or revoked token
	codeForbidden        = "forbidden"              // 403: the token may not do this
	codeNotFound         = "not_found"              // 404: no such store (or not the caller's)
	codeMethodNotAllowed = "method_not_allowed"     // 405
	codeConflict         = "conflict"               // 409: name taken, nothing to retry
	codeQuotaExceeded    = "quota_exceeded"         // 409: the owner is at their store limit
	codeTooLarge         = "too_large"              // 413
	codeUnsupportedType  = "unsupported_media_type" // 415
	codeRateLimited      = "rate_limited"           // 429, with Retry-After
	codeInternal         = "internal"               // 500
	codeUnavailable      = "unavailable"            // 503
)

// apiError is an error with the status and code the client gets.
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON of every error response:
// {"error":{"code":"...","message":"..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiErrorOf maps any error to what the client sees. Errors of provision's
// kinds carry messages written for users; anything else is the server's
// fault, logged in full and reported without detail.
func apiErrorOf(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, provision.ErrInvalid):
		return errorf(http.StatusBadRequest, codeInvalid, "%s", err)
	case errors.Is(err, provision.ErrNotFound):
		return errorf(http.StatusNotFound, codeNotFound, "%s", err)
	case errors.Is(err, provision.ErrQuotaExceeded):
		return errorf(http.StatusConflict, codeQuotaExceeded, "%s", err)
	case errors.Is(err, provision.ErrConflict):
		return errorf(http.StatusConflict, codeConflict, "%s", err)
	case errors.Is(err, provision.ErrForbidden):
		return errorf(http.StatusForbidden, codeForbidden, "%s", err)
	case store.Unavailable(err):
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, retryAfter: 5 * time.Second,
			msg: "the server's state database is unreachable for the moment: try again shortly"}
	case errors.Is(err, store.ErrReadOnly), errors.Is(err, store.ErrDiskFull):
		return errorf(http.StatusServiceUnavailable, codeUnavailable,
			"the server cannot save changes: its state database is read-only or its disk is full (an operator must fix it; the server's log has the details)")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the request was interrupted: try again")
	default:
		return errorf(http.StatusInternalServerError, codeInternal,
			"internal error: the server's log has the details (look for this request's X-Request-ID)")
	}
}

// writeError answers with err in the API's error form and notes the cause
// for the request's log line.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := apiErrorOf(err)
	if info := requestInfoFrom(r.Context()); info != nil && ae.status >= 500 {
		info.err = err
	}
	if ae.retryAfter > 0 {
		secs := int((ae.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="urumi"`)
	}
	encode(w, ae.status, errorBody{Error: errorDetail{Code: ae.code, Message: ae.msg}})
}

// encode writes v as the JSON response body.
func encode(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here: the API's types all marshal.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error: the response could not be encoded"}}`)
	}
	writeJSON(w, status, b)
}

// writeJSON writes b, a JSON document, as the response; b is not changed.
func writeJSON(w http.ResponseWriter, status int, b []byte) {
	setJSONHeaders(w.Header(), len(b)+1)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

// writeGzippedJSON writes gz, a JSON body and its newline already
// gzip-compressed, for a client that accepts it (see acceptsGzip).
func writeGzippedJSON(w http.ResponseWriter, status int, gz []byte) {
	setJSONHeaders(w.Header(), len(gz))
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	_, _ = w.Write(gz)
}

// setJSONHeaders are the headers of a JSON body of n bytes as sent.
func setJSONHeaders(h http.Header, n int) {
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(n))
}

// acceptsGzip says whether the request's Accept-Encoding names gzip with
// a weight above zero ("*" is not taken for it).
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				k, q, ok := strings.Cut(p, "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
					return err == nil && f > 0
				}
			}
			return true
		}
	}
	return false
}

// decode reads the request body, a single JSON object of type T, at most
// limit bytes, rejecting unknown fields. An empty body is T's zero value if
// emptyOK, else an error. Field names must match exactly and appear once:
// encoding/json alone would take "NAME" for "name" and let the last of two
// win, so what a client meant and what urumi did could differ.
func decode[T any](w http.ResponseWriter, r *http.Request, limit int64, emptyOK bool) (T, error) {
	var v T
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return v, errorf(http.StatusUnsupportedMediaType, codeUnsupportedType,
				"content type %q is not supported: send application/json (with curl: -H 'Content-Type: application/json')", ct)
		}
	}
	if r.ContentLength > limit {
		return v, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return v, tooLarge(limit)
	case err != nil:
		// The connection's own error names addresses: say only what failed.
		return v, errorf(http.StatusBadRequest, codeMalformed, "request body could not be read to its end: send it again")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) && emptyOK {
			return v, nil
		}
		return v, decodeError(err, limit)
	}
	// Anything after the object, other than whitespace, is a mistake.
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return v, errorf(http.StatusBadRequest, codeMalformed, "request body must be a single JSON object, with nothing after it")
	}
	if err := checkFieldNames(json.NewDecoder(bytes.NewReader(body)), reflect.TypeFor[T](), ""); err != nil {
		return v, err
	}
	return v, nil
}

// checkFieldNames reads one JSON value from dec, already known to be valid
// and to decode into t, and refuses an object key that is not exactly one
// of t's JSON field names (inner objects are checked against their field's
// type, as far as t has structs), and any key given twice.
func checkFieldNames(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return decodeError(err, 0)
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return decodeError(err, 0)
			}
			key, _ := kt.(string)
			name := path + key
			if seen[key] {
				return errorf(http.StatusBadRequest, codeMalformed, "field %q appears more than once: send each field once", name)
			}
			seen[key] = true
			var ft reflect.Type
			if fields != nil {
				var ok bool
				if ft, ok = fields[key]; !ok {
					return errorf(http.StatusBadRequest, codeMalformed, "unknown field %q: field names are case-sensitive; this object takes %s",
						name, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
				}
			} else if t != nil && t.Kind() == reflect.Map {
				ft = t.Elem()
			}
			if err := checkFieldNames(dec, ft, name+"."); err != nil {
				return err
			}
		}
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkFieldNames(dec, et, fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i)); err != nil {
				return err
			}
		}
	default:
		return nil // a scalar
	}
	_, err = dec.Token() // the closing delimiter
	if err != nil {
		return decodeError(err, 0)
	}
	return nil
}

// jsonFields are the JSON names of a struct's fields, as encoding/json
// spells them (tag name, else the Go name; embedded structs' fields
// promoted), with their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, ok := fields[k]; !ok {
						fields[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = ft
	}
	return fields
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body is larger than %d bytes", limit)
}

// decodeError explains what is wrong with a body json could not decode.
func decodeError(err error, limit int64) *apiError {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return tooLarge(limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, codeMalformed, "request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, codeMalformed, "request body is not valid JSON: it ends too soon")
	case errors.As(err, &syntaxErr):
		return errorf(http.StatusBadRequest, codeMalformed, "request body is not valid JSON: %v (at byte %d)", syntaxErr, syntaxErr.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return errorf(http.StatusBadRequest, codeMalformed, "request body must be a JSON object, not %s", typeErr.Value)
		}
		return errorf(http.StatusBadRequest, codeMalformed, "field %q must be %s, not %s", typeErr.Field, jsonType(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, codeMalformed, "unknown field %s: see /openapi.json for the fields this request takes",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return errorf(http.StatusBadRequest, codeMalformed, "request body is not valid JSON: %v", err)
	}
}

// jsonType names a Go kind as JSON calls it.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "bool":
		return "true or false"
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		return "an integer"
	case "ptr":
		return "a value of another type"
	default:
		return "an object"
	}
}
