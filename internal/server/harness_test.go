package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// harness is a real server on a real SQLite database with no workers, so
// stores stay QUEUED. Every response it sees is checked against
// /openapi.json.
type harness struct {
	t      testing.TB
	db     store.DB
	url    string
	tokens map[string]string // owner (or "admin") -> bearer token
	ids    map[string]string // owner -> token id
	spec   *spec
	wakes  *atomic.Int32
	svc    *provision.Service
}

// testAdmin issues the harness's tokens (the audit log's "test" actor).
var testAdmin = provision.Caller{Name: "test", Admin: true}

func newHarness(t testing.TB, limits Limits) *harness {
	t.Helper()
	return newHarnessKube(t, limits, nil)
}

// newHarnessKube is a harness whose server reaches the cluster through k.
func newHarnessKube(t testing.TB, limits Limits, k *provision.Kube) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "urumi.db"), store.Options{AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &harness{t: t, wakes: new(atomic.Int32), db: db, tokens: map[string]string{}, ids: map[string]string{}, spec: loadSpec(t)}
	svc := &provision.Service{DB: db, Settings: provision.Settings{
		BaseDomain: "example.test", IngressClass: "nginx", IngressNamespace: "ingress-nginx", Timeout: time.Minute,
	}}
	for _, owner := range []string{"alice", "bob", "admin"} {
		tok, err := svc.IssueToken(ctx, testAdmin, owner, owner == "admin")
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[owner], h.ids[owner] = tok.Secret, tok.ID
	}
	h.svc = svc
	srv := httptest.NewServer(NewServer(Deps{Service: svc, Kube: k, Limits: limits, Wake: func() { h.wakes.Add(1) }}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// unlimited are limits loose enough not to get in a test's way.
func unlimited() Limits {
	l := DefaultLimits()
	l.CreatesPerMinute = 0
	l.UnauthenticatedPerSecond = 1000
	l.UnauthenticatedBurst = 1000
	return l
}

// as is h reporting to t (a fuzz target's input, a subtest).
func (h *harness) as(t testing.TB) *harness {
	c := *h
	c.t = t
	return &c
}

// noRedirects shows the tests redirects (the mux's path cleaning) as they are.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode is the code of an error response ("" if it is not one).
func (r response) errorCode() string {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request as who ("" for no token); body is sent as is if it is
// a string or []byte, else as JSON.
func (h *harness) do(method, path, who string, body any, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		tok, ok := h.tokens[who]
		if !ok {
			tok = who // a raw token
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	h.spec.checkResponse(h.t, method, req.URL.EscapedPath(), r)
	return r
}

// want fails the test unless r has status (and, for errors, code).
func want(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.errorCode() != code) {
		t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
}

func (h *harness) createStore(who, name string) store.Store {
	h.t.Helper()
	r := h.do("POST", "/v1/stores", who, map[string]any{"name": name})
	want(h.t, r, http.StatusAccepted, "")
	var st store.Store
	r.decode(h.t, &st)
	return st
}
