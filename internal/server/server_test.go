package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

func TestUnauthorized(t *testing.T) {
	h := newHarness(t, unlimited())
	revoked, err := h.svc.IssueToken(context.Background(), testAdmin, "carol", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.RevokeToken(context.Background(), testAdmin, revoked.ID); err != nil {
		t.Fatal(err)
	}
	id, _, _ := provision.ParseToken(h.tokens["alice"])
	cases := []struct {
		name, header string
	}{
		{"no header", ""},
		{"basic auth", "Basic YWxpY2U6cGFzcw=="},
		{"no token", "Bearer "},
		{"not a urumi token", "Bearer abc"},
		{"unknown id", "Bearer urumi_000000000000_secret"},
		{"wrong secret", "Bearer urumi_" + id + "_wrong"},
		{"id not hex", "Bearer urumi_zzzzzzzzzzzz_secret"},
		{"revoked", "Bearer " + revoked.Secret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, ep := range [][2]string{{"GET", "/v1/stores"}, {"POST", "/v1/stores"}, {"GET", "/v1/stores/shop"},
				{"DELETE", "/v1/stores/shop"}, {"GET", "/v1/audit"}, {"PUT", "/v1/quotas/alice"}} {
				r := h.do(ep[0], ep[1], "", `{"name":"shop"}`, "Authorization", c.header)
				want(t, r, http.StatusUnauthorized, codeUnauthorized)
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: WWW-Authenticate %q", ep[0], ep[1], r.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	// Lower-case scheme is accepted (RFC 7235: case-insensitive).
	want(t, h.do("GET", "/v1/stores", "", nil, "Authorization", "bearer "+h.tokens["alice"]), http.StatusOK, "")
}

func TestOwnersSeeOnlyTheirStores(t *testing.T) {
	h := newHarness(t, unlimited())
	st := h.createStore("alice", "alice-shop")
	if st.Status != store.StatusQueued || st.Owner != "alice" || st.Namespace != "store-alice-shop" {
		t.Fatalf("created %+v", st)
	}
	h.createStore("bob", "bob-shop")

	// Bob cannot tell alice's store from one that does not exist.
	for _, name := range []string{"alice-shop", "no-such-shop"} {
		for _, req := range [][2]string{{"GET", "/v1/stores/" + name}, {"DELETE", "/v1/stores/" + name}, {"POST", "/v1/stores/" + name + "/retry"}, {"GET", "/v1/stores/" + name + "/check"}} {
			r := h.do(req[0], req[1], "bob", nil)
			want(t, r, http.StatusNotFound, codeNotFound)
			if !strings.Contains(string(r.body), name) {
				t.Errorf("%s %s: %s", req[0], req[1], r.body)
			}
		}
	}
	var bobs []store.Store
	h.do("GET", "/v1/stores", "bob", nil).decode(t, &bobs)
	if len(bobs) != 1 || bobs[0].Name != "bob-shop" {
		t.Fatalf("bob lists %+v", bobs)
	}
	want(t, h.do("GET", "/v1/stores?all=true", "bob", nil), http.StatusForbidden, codeForbidden)
	want(t, h.do("GET", "/v1/stores?owner=alice", "bob", nil), http.StatusForbidden, codeForbidden)
	want(t, h.do("GET", "/v1/stores?owner=bob", "bob", nil), http.StatusOK, "")
	want(t, h.do("POST", "/v1/stores", "bob", map[string]any{"name": "for-alice", "owner": "alice"}), http.StatusForbidden, codeForbidden)

	// The owner and admins see it, the same JSON as `store get -o json`.
	var got store.Store
	h.do("GET", "/v1/stores/alice-shop", "alice", nil).decode(t, &got)
	if got.Name != "alice-shop" || !got.CreatedAt.Equal(st.CreatedAt) {
		t.Fatalf("alice gets %+v", got)
	}
	want(t, h.do("GET", "/v1/stores/alice-shop", "admin", nil), http.StatusOK, "")
	// This server has no cluster: the owner hears why the check cannot run.
	want(t, h.do("GET", "/v1/stores/alice-shop/check", "alice", nil), http.StatusServiceUnavailable, codeUnavailable)
	var all []store.Store
	h.do("GET", "/v1/stores?all=true", "admin", nil).decode(t, &all)
	if len(all) != 2 {
		t.Fatalf("admin lists %+v", all)
	}
	var alices []store.Store
	h.do("GET", "/v1/stores?owner=alice", "admin", nil).decode(t, &alices)
	if len(alices) != 1 || alices[0].Owner != "alice" {
		t.Fatalf("admin lists alice's: %+v", alices)
	}
	r := h.do("POST", "/v1/stores", "admin", map[string]any{"name": "made-for-bob", "owner": "bob", "plan": "small"})
	want(t, r, http.StatusAccepted, "")
	if loc := r.header.Get("Location"); loc != "/v1/stores/made-for-bob" {
		t.Errorf("Location %q", loc)
	}

	// Delete goes DELETING; the store is the caller's to delete.
	var del store.Store
	r = h.do("DELETE", "/v1/stores/alice-shop", "alice", nil)
	want(t, r, http.StatusAccepted, "")
	r.decode(t, &del)
	if del.Status != store.StatusDeleting {
		t.Fatalf("after delete: %+v", del)
	}
	// A store still in flight: retry answers with it, and queues nothing new.
	want(t, h.do("POST", "/v1/stores/bob-shop/retry", "bob", nil), http.StatusAccepted, "")
	want(t, h.do("POST", "/v1/stores/bob-shop/retry", "bob", map[string]any{"set": []string{"site.title=Bob's"}}), http.StatusAccepted, "")
	if n := h.wakes.Load(); n != 6 {
		t.Errorf("workers woken %d times, want 6 (3 creates, 1 delete, 2 retries)", n)
	}
}

func TestBadRequests(t *testing.T) {
	h := newHarness(t, unlimited())
	h.createStore("alice", "taken")
	big := `{"name":"` + strings.Repeat("a", 70<<10) + `"}`
	cases := []struct {
		name         string
		method, path string
		body         any
		headers      []string
		status       int
		code         string
		says         string
	}{
		{"malformed json", "POST", "/v1/stores", `{"name":`, nil, 400, codeMalformed, "ends too soon"},
		{"syntax error", "POST", "/v1/stores", `{"name" "x"}`, nil, 400, codeMalformed, "not valid JSON"},
		{"unknown field", "POST", "/v1/stores", `{"name":"shop","size":"xl"}`, nil, 400, codeMalformed, `unknown field "size"`},
		{"wrong type", "POST", "/v1/stores", `{"name":42}`, nil, 400, codeMalformed, `field "name" must be a string`},
		{"set not array", "POST", "/v1/stores", `{"name":"shop","set":"a=b"}`, nil, 400, codeMalformed, `"set" must be an array`},
		{"array body", "POST", "/v1/stores", `[{"name":"shop"}]`, nil, 400, codeMalformed, "must be a JSON object"},
		{"two objects", "POST", "/v1/stores", `{"name":"shop"}{"name":"shop2"}`, nil, 400, codeMalformed, "single JSON object"},
		{"empty body", "POST", "/v1/stores", "", nil, 400, codeMalformed, "empty"},
		{"null body", "POST", "/v1/stores", "null", nil, 400, codeInvalid, "store name"},
		{"invalid name", "POST", "/v1/stores", `{"name":"Shop_1"}`, nil, 400, codeInvalid, `store name "Shop_1" is invalid`},
		{"short name", "POST", "/v1/stores", `{"name":"ab"}`, nil, 400, codeInvalid, "3-40"},
		{"unknown plan", "POST", "/v1/stores", `{"name":"shop","plan":"huge"}`, nil, 400, codeInvalid, "huge"},
		{"reserved set", "POST", "/v1/stores", `{"name":"shop","set":["host=evil.example"]}`, nil, 403, codeForbidden, "host"},
		{"bad owner", "POST", "/v1/stores", `{"name":"shop","owner":"a b"}`, nil, 400, codeInvalid, "owner"},
		{"newline owner", "POST", "/v1/stores", `{"name":"shop","owner":"al\nice"}`, nil, 400, codeInvalid, `owner "al\nice" is invalid`},
		{"field case", "POST", "/v1/stores", `{"name":"abc","NAME":"zzz"}`, nil, 400, codeMalformed, `unknown field "NAME": field names are case-sensitive`},
		{"field case alone", "POST", "/v1/stores", `{"Name":"abc"}`, nil, 400, codeMalformed, `unknown field "Name"`},
		{"duplicate field", "POST", "/v1/stores", `{"name":"abc","name":"zzz"}`, nil, 400, codeMalformed, `field "name" appears more than once`},
		{"duplicate set", "POST", "/v1/stores", `{"name":"abc","set":[],"set":["a=b"]}`, nil, 400, codeMalformed, `field "set" appears more than once`},
		{"escaped field name", "POST", "/v1/stores", `{"name":"abc","n\u0061me":"zzz"}`, nil, 400, codeMalformed, `field "name" appears more than once`},
		{"retry field case", "POST", "/v1/stores/taken/retry", `{"Set":[]}`, nil, 400, codeMalformed, `unknown field "Set"`},
		{"quota field case", "PUT", "/v1/quotas/alice", `{"maxstores":3}`, nil, 400, codeMalformed, `unknown field "maxstores"`},
		{"quota duplicate", "PUT", "/v1/quotas/alice", `{"maxStores":1,"maxStores":1000}`, nil, 400, codeMalformed, `"maxStores" appears more than once`},
		{"too large", "POST", "/v1/stores", big, nil, 413, codeTooLarge, "larger than"},
		{"too large unknown length", "POST", "/v1/stores", big, []string{"Transfer-Encoding", "chunked"}, 413, codeTooLarge, "larger than"},
		{"form content type", "POST", "/v1/stores", `{"name":"shop"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, codeUnsupportedType, "application/json"},
		{"json with charset", "POST", "/v1/stores", `{"name":"charset-ok"}`, []string{"Content-Type", "application/json; charset=utf-8"}, 202, "", ""},
		{"no content type", "POST", "/v1/stores", `{"name":"no-ct"}`, []string{"Content-Type", ""}, 202, "", ""},
		{"name taken", "POST", "/v1/stores", `{"name":"taken"}`, nil, 409, codeConflict, "already exists"},
		{"bad path name", "GET", "/v1/stores/Bad_Name", nil, nil, 400, codeInvalid, "invalid"},
		{"nul in path name", "GET", "/v1/stores/a%00b", nil, nil, 400, codeInvalid, "invalid"},
		{"retry unknown field", "POST", "/v1/stores/taken/retry", `{"sets":[]}`, nil, 400, codeMalformed, "unknown field"},
		{"all not bool", "GET", "/v1/stores?all=maybe", nil, nil, 400, codeInvalid, "all="},
		{"owner and all", "GET", "/v1/stores?all=true&owner=bob", nil, nil, 400, codeInvalid, "together"},
		{"control char owner", "GET", "/v1/stores?owner=%01", nil, nil, 400, codeInvalid, "owner="},
		{"audit limit", "GET", "/v1/audit?limit=0", nil, nil, 400, codeInvalid, "limit"},
		{"audit store bad utf8", "GET", "/v1/audit?store=%ff", nil, nil, 400, codeInvalid, "store="},
		{"quota bad owner", "GET", "/v1/quotas/a%20b", nil, nil, 400, codeInvalid, "owner"},
		{"wrong method", "DELETE", "/v1/stores", nil, nil, 405, codeMethodNotAllowed, "GET, HEAD, POST"},
		{"wrong method on store", "PUT", "/v1/stores/taken", `{}`, nil, 405, codeMethodNotAllowed, "DELETE, GET, HEAD"},
		{"unknown path", "GET", "/v1/nope", nil, nil, 404, codeNotFound, "/openapi.json"},
		{"trailing slash", "GET", "/v1/stores/", nil, nil, 404, codeNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(c.method, c.path, "alice", c.body, c.headers...)
			want(t, r, c.status, c.code)
			var e errorBody
			_ = json.Unmarshal(r.body, &e)
			if c.code != "" && !strings.Contains(e.Error.Message, c.says) {
				t.Errorf("message %q does not say %q", e.Error.Message, c.says)
			}
			if c.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	// Neither spelling of a refused body made a store.
	for _, name := range []string{"abc", "zzz"} {
		want(t, h.do("GET", "/v1/stores/"+name, "alice", nil), http.StatusNotFound, codeNotFound)
	}
}

func TestQuotaExceeded(t *testing.T) {
	h := newHarness(t, unlimited())
	for i := range 5 {
		h.createStore("alice", fmt.Sprintf("shop-%d", i))
	}
	r := h.do("POST", "/v1/stores", "alice", map[string]any{"name": "shop-5"})
	want(t, r, http.StatusConflict, codeQuotaExceeded)
	if !strings.Contains(string(r.body), "quota") {
		t.Errorf("message: %s", r.body)
	}
	var q store.Quota
	h.do("GET", "/v1/quotas/alice", "alice", nil).decode(t, &q)
	if q.Used != 5 || q.MaxStores != 5 || !q.Default {
		t.Fatalf("quota %+v", q)
	}
	want(t, h.do("GET", "/v1/quotas/bob", "alice", nil), http.StatusForbidden, codeForbidden)
	want(t, h.do("PUT", "/v1/quotas/alice", "alice", map[string]any{"maxStores": 10}), http.StatusForbidden, codeForbidden)
	want(t, h.do("PUT", "/v1/quotas/alice", "admin", map[string]any{}), http.StatusBadRequest, codeInvalid)
	want(t, h.do("PUT", "/v1/quotas/alice", "admin", map[string]any{"maxStores": -1}), http.StatusBadRequest, codeInvalid)
	want(t, h.do("PUT", "/v1/quotas/alice", "admin", map[string]any{"maxStores": "6"}), http.StatusBadRequest, codeMalformed)
	r = h.do("PUT", "/v1/quotas/alice", "admin", map[string]any{"maxStores": 6})
	want(t, r, http.StatusOK, "")
	r.decode(t, &q)
	if q.MaxStores != 6 || q.Default {
		t.Fatalf("quota after set %+v", q)
	}
	h.createStore("alice", "shop-5")
	want(t, h.do("POST", "/v1/stores", "alice", map[string]any{"name": "shop-6"}), http.StatusConflict, codeQuotaExceeded)
}

func TestCreateRateLimit(t *testing.T) {
	l := unlimited()
	l.CreatesPerMinute = 2
	h := newHarness(t, l)
	h.createStore("alice", "one")
	// Rejected creates count too: the limit is on attempts.
	want(t, h.do("POST", "/v1/stores", "alice", map[string]any{"name": "Bad"}), http.StatusBadRequest, codeInvalid)
	r := h.do("POST", "/v1/stores", "alice", map[string]any{"name": "three"})
	want(t, r, http.StatusTooManyRequests, codeRateLimited)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 30 {
		t.Fatalf("Retry-After %q, want 1-30 seconds", r.header.Get("Retry-After"))
	}
	// Other tokens and other requests are not held back.
	h.createStore("bob", "bobs")
	want(t, h.do("GET", "/v1/stores", "alice", nil), http.StatusOK, "")
}

func TestUnauthenticatedLimitPerIP(t *testing.T) {
	l := unlimited()
	l.UnauthenticatedPerSecond, l.UnauthenticatedBurst = 0.1, 3
	h := newHarness(t, l)
	for range 3 {
		want(t, h.do("GET", "/v1/stores", "urumi_000000000000_guess", nil), http.StatusUnauthorized, codeUnauthorized)
	}
	r := h.do("GET", "/v1/stores", "urumi_000000000000_guess", nil)
	want(t, r, http.StatusTooManyRequests, codeRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	want(t, h.do("GET", "/readyz", "", nil), http.StatusTooManyRequests, codeRateLimited)
	// A valid token is never held back by its address's failures, and
	// liveness probes are never limited.
	want(t, h.do("GET", "/v1/stores", "alice", nil), http.StatusOK, "")
	want(t, h.do("GET", "/healthz", "", nil), http.StatusOK, "")
}

func TestAudit(t *testing.T) {
	h := newHarness(t, unlimited())
	h.createStore("alice", "alice-shop")
	h.createStore("bob", "bob-shop")
	want(t, h.do("POST", "/v1/stores", "alice", map[string]any{"name": "bob-shop"}), http.StatusConflict, codeConflict)

	var entries []store.AuditEntry
	h.do("GET", "/v1/audit", "alice", nil).decode(t, &entries)
	if len(entries) != 2 {
		t.Fatalf("alice's audit: %+v", entries)
	}
	for _, e := range entries {
		if e.Actor != "alice" || e.Action != "create" {
			t.Errorf("alice sees %+v", e)
		}
	}
	if entries[0].Outcome != "requested" || entries[1].Outcome != "denied" {
		t.Errorf("outcomes %q %q", entries[0].Outcome, entries[1].Outcome)
	}
	want(t, h.do("GET", "/v1/audit?actor=bob", "alice", nil), http.StatusForbidden, codeForbidden)

	h.do("GET", "/v1/audit?store=bob-shop", "admin", nil).decode(t, &entries)
	actors := map[string]bool{}
	for _, e := range entries {
		actors[e.Actor] = true
		if e.Store != "bob-shop" {
			t.Errorf("store filter let through %+v", e)
		}
	}
	if !actors["alice"] || !actors["bob"] {
		t.Errorf("admin's audit of bob-shop has actors %v", actors)
	}
	h.do("GET", "/v1/audit?limit=1", "admin", nil).decode(t, &entries)
	if len(entries) != 1 {
		t.Errorf("limit=1 gave %d entries", len(entries))
	}
	// Token creation is audited with who created it.
	h.do("GET", "/v1/audit?actor=test", "admin", nil).decode(t, &entries)
	if len(entries) < 3 || entries[0].Action != "token.create" || strings.Contains(entries[0].Detail, h.tokens["alice"]) {
		t.Errorf("token audit: %+v", entries)
	}
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, unlimited())
	r := h.do("GET", "/healthz", "", nil, "X-Request-ID", "abc-123")
	if got := r.header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("echoed %q", got)
	}
	r = h.do("GET", "/healthz", "", nil, "X-Request-ID", "bad id\twith spaces")
	if got := r.header.Get("X-Request-ID"); got == "" || strings.Contains(got, " ") {
		t.Errorf("replaced with %q", got)
	}
	r = h.do("GET", "/v1/nothing", "", nil)
	if len(r.header.Get("X-Request-ID")) != 16 {
		t.Errorf("generated %q", r.header.Get("X-Request-ID"))
	}
}

func TestOpsEndpoints(t *testing.T) {
	h := newHarness(t, unlimited())
	want(t, h.do("GET", "/healthz", "", nil), http.StatusOK, "")
	r := h.do("GET", "/", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "/openapi.json") {
		t.Errorf("index: %d %s", r.status, r.body)
	}
	r = h.do("GET", "/openapi.json", "", nil)
	if r.status != 200 || !json.Valid(r.body) {
		t.Errorf("openapi: %d", r.status)
	}
	var rd readiness
	r = h.do("GET", "/readyz", "", nil)
	want(t, r, http.StatusOK, "")
	r.decode(t, &rd)
	if !rd.Ready || len(rd.Checks) != 1 || rd.Checks[0].Name != "database" {
		t.Errorf("readyz %+v", rd)
	}
	h.createStore("alice", "metered")
	r = h.do("GET", "/metrics", "", nil)
	for _, s := range []string{
		`urumi_http_requests_total{code="202",route="POST /v1/stores"} 1`,
		`urumi_jobs{state="queued"} 1`,
		`urumi_job_queue_depth 1`,
		`urumi_stores{status="QUEUED"} 1`,
		`urumi_job_queue_oldest_age_seconds `,
		`go_goroutines `,
	} {
		if !strings.Contains(string(r.body), s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
}

func TestReadyzFailsWithTheDatabase(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "urumi.db"), store.Options{AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	clusterDown := errors.New("dial tcp 10.0.0.1:6443: connect: connection refused")
	var mu sync.Mutex
	clusterErr := error(nil)
	var logs syncBuffer
	srv := httptest.NewServer(NewServer(Deps{
		Service: &provision.Service{DB: db},
		Limits:  unlimited(),
		Log:     slog.New(slog.NewTextHandler(&logs, nil)),
		Checks: []Check{{Name: "cluster", Check: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return clusterErr
		}}},
	}))
	defer srv.Close()
	spec := loadSpec(t)
	get := func() readiness {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rd readiness
		if err := json.NewDecoder(resp.Body).Decode(&rd); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rd)
		spec.checkResponse(t, "GET", "/readyz", response{status: resp.StatusCode, header: resp.Header, body: b})
		if rd.Ready != (resp.StatusCode == http.StatusOK) {
			t.Errorf("status %d with ready=%v", resp.StatusCode, rd.Ready)
		}
		return rd
	}
	if rd := get(); !rd.Ready {
		t.Fatalf("not ready: %+v", rd)
	}
	mu.Lock()
	clusterErr = clusterDown
	mu.Unlock()
	rd := get()
	// Anyone may ask: the answer says what failed, never the address.
	if rd.Ready || rd.Checks[1].OK || rd.Checks[1].Error != "not reachable" || !rd.Checks[0].OK {
		t.Fatalf("cluster down: %+v", rd)
	}
	// The operator's log has the detail.
	if !strings.Contains(logs.String(), "readiness check cluster: dial tcp 10.0.0.1:6443: connect: connection refused") {
		t.Errorf("the request log lacks the failed check's detail:\n%s", logs.String())
	}
	mu.Lock()
	clusterErr = fmt.Errorf("get https://10.0.0.1:6443/version: %w", context.DeadlineExceeded)
	mu.Unlock()
	if rd := get(); rd.Checks[1].Error != "timed out" {
		t.Fatalf("cluster timing out: %+v", rd)
	}
	db.Close()
	rd = get()
	if rd.Ready || rd.Checks[0].OK || rd.Checks[0].Error != "not reachable" {
		t.Fatalf("database closed: %+v", rd)
	}
}

func TestMetricsFromEvents(t *testing.T) {
	m := NewMetrics(nil, nil)
	m.Event(provision.Event{Kind: store.JobCreate, Phase: "helm-install", State: provision.PhaseDone, Elapsed: 1500 * time.Millisecond})
	m.Event(provision.Event{Kind: store.JobCreate, Phase: "quota", State: provision.PhaseFailed, Elapsed: time.Millisecond})
	m.Event(provision.Event{Kind: store.JobCreate, State: provision.JobSucceeded})
	m.Event(provision.Event{Kind: store.JobDelete, State: provision.JobReleased})
	fams, err := m.reg.Gather()
	// The queue collector has no database here: its error is expected,
	// the other metrics are still gathered.
	if err == nil {
		t.Log("gather without a database reported no error")
	}
	found := map[string]bool{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			labels := []string{}
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(labels)
			found[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = true
		}
	}
	for _, k := range []string{
		"urumi_provision_phase_duration_seconds{kind=create,phase=helm-install,result=done}",
		"urumi_provision_phase_duration_seconds{kind=create,phase=quota,result=failed}",
		"urumi_jobs_finished_total{kind=create,outcome=succeeded}",
		"urumi_jobs_finished_total{kind=delete,outcome=released}",
	} {
		if !found[k] {
			t.Errorf("missing %s", k)
		}
	}
}

// TestDashboardFiles: the page lists every plan with the default chosen,
// it and its files carry a strict CSP and an ETag that answers 304, and an
// unknown file is the API's 404.
func TestDashboardFiles(t *testing.T) {
	h := newHarness(t, unlimited())
	page := h.do("GET", "/", "", nil)
	if page.status != http.StatusOK || page.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %q", page.status, page.header.Get("Content-Type"))
	}
	for _, p := range provision.BuiltinPlans() {
		opt := `<option value="` + p.Name + `" data-description="` + p.Description + `"`
		if p.Name == provision.DefaultPlan {
			opt += " selected"
		}
		if !strings.Contains(string(page.body), opt+">"+p.Name+": "+p.Description+"<") {
			t.Errorf("page lacks %s", opt)
		}
	}
	for path, ctype := range map[string]string{
		"/":           "text/html; charset=utf-8",
		"/ui/app.js":  "text/javascript; charset=utf-8",
		"/ui/app.css": "text/css; charset=utf-8",
	} {
		r := h.do("GET", path, "", nil)
		csp := r.header.Get("Content-Security-Policy")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != ctype || len(r.body) == 0 ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %v", path, r.status, r.header)
		}
		etag := r.header.Get("ETag")
		if again := h.do("GET", path, "", nil, "If-None-Match", etag); etag == "" || again.status != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %q: %d, want 304", path, etag, again.status)
		}
	}
	want(t, h.do("GET", "/ui/secrets.txt", "", nil), http.StatusNotFound, codeNotFound)
}

// TestDashboardShowsOperatorPlans: plans from the operator's config are the
// ones the page offers, by their operator-written descriptions, with the
// operator's default chosen, in the create form and the fleet's filter.
func TestDashboardShowsOperatorPlans(t *testing.T) {
	tiny := provision.BuiltinPlans()[0]
	tiny.Name, tiny.Description = "tiny", "A tiny shop with no outside connections."
	tiny.Egress = provision.Egress{}
	plans, err := provision.NewPlans([]provision.Plan{provision.BuiltinPlans()[0], tiny}, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handleIndex(plans))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`<option value="tiny" data-description="A tiny shop with no outside connections." selected>tiny: A tiny shop with no outside connections.</option>`,
		`<option value="small" data-description="A new or quiet shop`, `<option value="small">small</option>`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(string(body), `value="medium"`) {
		t.Errorf("page offers a built-in plan the operator replaced")
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRepairRoute: owners may not repair, admins may once the store is READY
// or DEGRADED, and a repair in flight is returned again.
func TestRepairRoute(t *testing.T) {
	h := newHarness(t, unlimited())
	h.createStore("alice", "alice-shop")
	want(t, h.do("POST", "/v1/stores/alice-shop/repair", "alice", nil), http.StatusForbidden, codeForbidden)
	want(t, h.do("POST", "/v1/stores/no-such-shop/repair", "admin", nil), http.StatusNotFound, codeNotFound)
	// QUEUED, its create job in flight: not now.
	want(t, h.do("POST", "/v1/stores/alice-shop/repair", "admin", nil), http.StatusConflict, codeConflict)

	ctx := context.Background()
	job, err := h.db.ActiveJob(ctx, "alice-shop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.ClaimJobByID(ctx, job.ID, "w", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := h.db.FinishJob(ctx, job.ID, "w", store.JobSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	st, err := h.db.GetStore(ctx, "alice-shop")
	if err != nil {
		t.Fatal(err)
	}
	st.Status, st.Error, st.Options = store.StatusDegraded, "network-policy NetworkPolicy/default-deny: deleted", nil
	if err := h.db.UpdateStore(ctx, st); err != nil {
		t.Fatal(err)
	}
	want(t, h.do("POST", "/v1/stores/alice-shop/repair", "admin", nil), http.StatusAccepted, "")
	repair, err := h.db.ActiveJob(ctx, "alice-shop")
	if err != nil || repair.Kind != store.JobRepair {
		t.Fatalf("active job after the repair request: %+v, %v", repair, err)
	}
	// Asked again while it is in flight: the same job.
	want(t, h.do("POST", "/v1/stores/alice-shop/repair", "admin", nil), http.StatusAccepted, "")
	if again, _ := h.db.ActiveJob(ctx, "alice-shop"); again.ID != repair.ID {
		t.Errorf("a second repair job %d beside %d", again.ID, repair.ID)
	}
	entries, err := h.db.ListAudit(ctx, store.AuditFilter{Store: "alice-shop"})
	if err != nil {
		t.Fatal(err)
	}
	denied := slices.ContainsFunc(entries, func(a store.AuditEntry) bool {
		return a.Action == "repair" && a.Outcome == "denied" && a.Actor == "alice"
	})
	requested := slices.ContainsFunc(entries, func(a store.AuditEntry) bool { return a.Action == "repair" && a.Outcome == "requested" })
	if !denied || !requested {
		t.Errorf("audit lacks the denied or requested repair: %+v", entries)
	}
}
