package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// spec is /openapi.json, with a JSON Schema compiler over it: responses the
// tests receive and the Go types the API marshals are validated against
// the document's own schemas (additionalProperties is false everywhere, so
// an undocumented field fails too).
type spec struct {
	raw      map[string]any
	compiler *jsonschema.Compiler

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
}

const specURL = "urumi:///openapi.json"

func loadSpec(t testing.TB) *spec {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapiJSON))
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(specURL, doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(openapiJSON, &raw); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &spec{raw: raw, compiler: c, schemas: map[string]*jsonschema.Schema{}}
}

// schema compiles the schema at JSON pointer ptr of the document.
func (s *spec) schema(t testing.TB, ptr string) *jsonschema.Schema {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch
	}
	sch, err := s.compiler.Compile(specURL + "#" + ptr)
	if err != nil {
		t.Fatalf("openapi.json: compile %s: %v", ptr, err)
	}
	s.schemas[ptr] = sch
	return sch
}

// validate checks a JSON document against the schema at ptr.
func (s *spec) validate(t testing.TB, ptr string, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w: %s", err, body)
	}
	return s.schema(t, ptr).Validate(v)
}

func escapePtr(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func (s *spec) paths() map[string]any { return s.raw["paths"].(map[string]any) }

// pathFor is the document's path template that matches a request path.
func (s *spec) pathFor(path string) (string, bool) {
	segs := strings.Split(path, "/")
	for tmpl := range s.paths() {
		tsegs := strings.Split(tmpl, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		ok := true
		for i := range tsegs {
			param := strings.HasPrefix(tsegs[i], "{")
			if param && segs[i] == "" || !param && tsegs[i] != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return tmpl, true
		}
	}
	return "", false
}

// checkResponse fails the test if the document does not describe r: its
// status (5xx may fall under "default") and, for JSON, its body.
func (s *spec) checkResponse(t testing.TB, method, path string, r response) {
	t.Helper()
	if r.status >= 300 && r.status < 400 && r.header.Get("Location") != "" {
		return // the mux redirecting an unclean path (/a/../b) to its clean form
	}
	if r.status == http.StatusNotFound && strings.Contains(string(r.body), "no such endpoint") {
		return // no route, whatever the document's templates would match (/v1/quotas/%2F)
	}
	tmpl, ok := s.pathFor(path)
	if !ok {
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s: undocumented path answered %d %s", method, path, r.status, r.body)
		}
		return
	}
	m := strings.ToLower(method)
	if m == "head" {
		m = "get"
	}
	op, ok := s.paths()[tmpl].(map[string]any)[m].(map[string]any)
	if !ok {
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
			t.Errorf("%s %s: undocumented method answered %d (Allow %q)", method, path, r.status, r.header.Get("Allow"))
		}
		return
	}
	responses := op["responses"].(map[string]any)
	code := strconv.Itoa(r.status)
	ptr := "/paths/" + escapePtr(tmpl) + "/" + m + "/responses/" + code
	resp, ok := responses[code].(map[string]any)
	if !ok && r.status >= 500 {
		resp, ok = responses["default"].(map[string]any)
		ptr = "/paths/" + escapePtr(tmpl) + "/" + m + "/responses/default"
	}
	if !ok {
		t.Errorf("%s %s: status %d is not documented (body %s)", method, path, r.status, r.body)
		return
	}
	if ref, ok := resp["$ref"].(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
		name := ptr[strings.LastIndex(ptr, "/")+1:]
		resp = s.raw["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any)
	}
	if method == "HEAD" || len(r.body) == 0 {
		return
	}
	ct, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	content, _ := resp["content"].(map[string]any)
	if _, ok := content[ct]; !ok {
		t.Errorf("%s %s: %d answered %s, documented %v", method, path, r.status, ct, slices.Collect(maps.Keys(content)))
		return
	}
	if ct != "application/json" {
		return
	}
	body := r.body
	if enc := r.header.Get("Content-Encoding"); enc != "" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if enc == "gzip" && err == nil {
			body, err = io.ReadAll(zr)
		}
		if enc != "gzip" || err != nil {
			t.Errorf("%s %s: %d body encoded %q: %v", method, path, r.status, enc, err)
			return
		}
	}
	if err := s.validate(t, ptr+"/content/application~1json/schema", body); err != nil {
		t.Errorf("%s %s: %d body does not match the document: %v\nbody: %s", method, path, r.status, err, body)
	}
}

// TestOpenAPIDocumentsEveryRoute holds the document's paths and methods
// to the routes the server registers, both ways.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	s := loadSpec(t)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "urumi.db"),
		store.Options{AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rt := newRouter()
	addRoutes(rt, Deps{Service: &provision.Service{DB: db}, Metrics: NewMetrics(db, nil), Limits: DefaultLimits(), Wake: func() {}})
	var routes []string
	for _, p := range rt.patterns {
		method, path, _ := strings.Cut(p, " ")
		routes = append(routes, method+" "+strings.ReplaceAll(path, "{$}", ""))
	}
	var documented []string
	for path, item := range s.paths() {
		for m := range item.(map[string]any) {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options":
				documented = append(documented, strings.ToUpper(m)+" "+path)
			}
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	if !slices.Equal(routes, documented) {
		t.Errorf("routes and /openapi.json differ:\nroutes:     %q\ndocumented: %q", routes, documented)
	}
}

// TestOpenAPISchemasMatchTypes marshals the values the API really sends
// and accepts, fully populated and zero, against the document's schemas:
// every field the Go type writes is documented (additionalProperties is
// false), every documented property exists, and the required ones are
// exactly those a zero value still writes.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	s := loadSpec(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	set := []string{"a=b"}
	maxStores := 3
	versions := store.Versions{Chart: "0.2.0", WordPress: "7.1.2-php8.3-apache", MariaDB: "11.8.9", WPCLI: "cli-2.12.0-php8.3", WooCommerce: "latest"}
	change := store.Change{Kind: store.JobUpgrade, Outcome: store.ChangeRolledBack, From: 1, To: 3, Reason: "quota", Actor: "alice", At: now}
	cases := []struct {
		schema string
		full   any
		zero   any
	}{
		{"Store", store.Store{
			Name: "shop", Owner: "alice", Plan: "medium", Status: store.StatusFailed, Namespace: "store-shop",
			URL: "http://shop.example", CreatedAt: now, UpdatedAt: now, Error: "boom", Options: []byte(`{"x":1}`),
			Phases:  []store.Phase{{Name: "namespace", StartedAt: now, DurationMS: 12}},
			Release: store.Release{Revision: 1, Versions: versions},
			LastBackup: &store.Backup{ID: "shop-1", Store: "shop", Owner: "alice", Kind: store.BackupScheduled, Status: store.BackupFailed,
				Actor: "urumi-scheduler", CreatedAt: now, Error: "e"},
		}, store.Store{Name: "shop", Status: store.StatusQueued}},
		{"Phase", store.Phase{Name: "quota", StartedAt: now, DurationMS: 1}, store.Phase{}},
		{"Quota", store.Quota{Owner: "alice", MaxStores: 5, Used: 2, Default: true}, store.Quota{}},
		{"AuditEntry", store.AuditEntry{ID: 1, Time: now, Actor: "alice", Action: "create", Store: "shop",
			Outcome: "requested", Detail: "plan medium", DurationMS: 3, PrevHash: "00", Hash: "ff"}, store.AuditEntry{}},
		{"Error", errorBody{Error: errorDetail{Code: codeQuotaExceeded, Message: "m"}}, nil},
		{"CreateStoreRequest", provision.CreateRequest{Name: "shop", Owner: "bob", Plan: "small", Set: set}, provision.CreateRequest{Name: "shop"}},
		{"RetryRequest", provision.RetryRequest{Set: &set}, provision.RetryRequest{}},
		{"SetQuotaRequest", setQuotaRequest{MaxStores: &maxStores}, nil},
		{"UpgradeRequest", provision.UpgradeRequest{Plan: "large", Set: set, Timeout: "10m"}, provision.UpgradeRequest{}},
		{"RollbackRequest", provision.RollbackRequest{Revision: 1, Timeout: "10m"}, provision.RollbackRequest{}},
		{"RolloutRequest", provision.RolloutRequest{Owner: "alice", Plan: "small", Canary: 1, BatchSize: 5, MaxFailures: 1, Set: set, Timeout: "10m"}, provision.RolloutRequest{}},
		{"Rollout", store.Rollout{ID: 3, State: store.RolloutHalted, Actor: "root", Reason: "1 of its stores failed",
			Params:     store.RolloutParams{Owner: "alice", Plan: "small", Canary: 1, BatchSize: 5, MaxFailures: 0, Set: set, Timeout: "10m", Chart: "0.2.0"},
			LeaseOwner: "serve-w0", LeaseExpiresAt: now, CreatedAt: now, UpdatedAt: now,
			Stores: []store.RolloutStore{{Store: "shop", Wave: 1, State: store.RolloutStoreRolledBack, JobID: 9, FromRevision: 1, ToRevision: 3, Reason: "pods", UpdatedAt: now}}},
			store.Rollout{State: store.RolloutRunning, Actor: "root"}},
		{"Release", store.Release{Revision: 2, Versions: versions, LastChange: &change, UpgradeAvailable: "0.3.0"}, store.Release{}},
		{"Versions", versions, store.Versions{}},
		{"Change", change, nil},
		{"Revision", store.Revision{Store: "shop", Revision: 2, Kind: store.JobUpgrade, JobID: 4, Actor: "alice", Plan: "small",
			Versions: versions, Status: "deployed", Description: "Upgrade complete", Options: []byte(`{}`), At: now}, store.Revision{Store: "shop"}},
		{"Health", health{Status: "ok"}, nil},
		{"Credentials", provision.Credentials{Store: "shop", Username: "admin", Password: "pw", URL: "https://shop.example"}, provision.Credentials{}},
		{"PasswordReset", provision.PasswordReset{Store: "shop", Username: "admin", Password: "pw", Job: "password-reset-x"}, provision.PasswordReset{}},
		{"Whoami", whoami{Name: "alice", Admin: true}, whoami{}},
		{"AuditVerification", store.VerifyResult{Entries: 3, OK: false, BadID: 2, Problem: "hash"}, store.VerifyResult{}},
		{"Stats", provision.Stats{At: now, Since: now, StoresByStatus: map[store.Status]int{store.StatusReady: 1}, QueueDepth: 1, Running: 1, OldestQueuedSeconds: 1.5,
			Ended:    []provision.JobCount{{Kind: store.JobCreate, State: store.JobSucceeded, Count: 2}},
			Phases:   []provision.PhaseStats{{Phase: "helm", Count: 2, P50MS: 1, P95MS: 2, MaxMS: 3}},
			Failures: []provision.Failure{{Store: "shop", Kind: store.JobCreate, At: now, Error: "e"}}}, nil},
		{"Backup", store.Backup{ID: "shop-1", Store: "shop", Owner: "alice", Kind: store.BackupScheduled, Status: store.BackupSucceeded,
			Actor: "alice", JobID: 4, CreatedAt: now, FinishedAt: now, Size: 10, DBSnapshot: "ab", FilesSnapshot: "cd", Error: "e"},
			store.Backup{Kind: store.BackupManual, Status: store.BackupQueued}},
		{"BackupJob", backupJobReply{Backup: store.Backup{ID: "shop-1", Kind: store.BackupManual, Status: store.BackupDeleting}, JobID: 3}, nil},
		{"RestoreRequest", restoreBody{To: "shop"}, restoreBody{}},
		{"CheckReport", provision.CheckReport{Status: provision.CheckFail, CheckedAt: now,
			Stores:  []provision.StoreCheck{{Store: "shop", Namespace: "store-shop", Status: provision.CheckFail, Findings: []provision.Finding{}}},
			Orphans: []provision.Finding{{Kind: provision.FindingOrphanNS, Status: provision.CheckFail, Message: "m"}}}, nil},
		{"StoreCheck", provision.StoreCheck{Store: "shop", Namespace: "store-shop", Status: provision.CheckPass, Findings: []provision.Finding{}}, nil},
		{"Finding", provision.Finding{Kind: provision.FindingIsolation, Status: provision.CheckFail, Object: "NetworkPolicy/x", Message: "m", Fix: "f", Managed: true,
			Isolation: []provision.IsolationRow{{From: "a", To: "b", Port: "TCP 1", Expected: "denied", Got: "allowed"}}, Table: "t"}, nil},
		{"IsolationRow", provision.IsolationRow{From: "a", To: "b", Port: "TCP 1", Expected: "allowed", Got: "denied"}, nil},
		{"Readiness", readiness{Ready: false, Checks: []checkResult{{Name: "database", Error: "down"}}}, readiness{Checks: []checkResult{}}},
	}
	schemas := s.raw["components"].(map[string]any)["schemas"].(map[string]any)
	for _, c := range cases {
		t.Run(c.schema, func(t *testing.T) {
			ptr := "/components/schemas/" + c.schema
			full, err := json.Marshal(c.full)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.validate(t, ptr, full); err != nil {
				t.Errorf("populated %T does not match schema %s: %v\n%s", c.full, c.schema, err, full)
			}
			sch := schemas[c.schema].(map[string]any)
			props := sch["properties"].(map[string]any)
			var fullKeys map[string]any
			_ = json.Unmarshal(full, &fullKeys)
			if got, want := sortedKeys(fullKeys), sortedKeys(props); !slices.Equal(got, want) {
				t.Errorf("%T writes fields %q, schema %s documents %q", c.full, got, c.schema, want)
			}
			if c.zero == nil {
				return
			}
			zero, _ := json.Marshal(c.zero)
			if err := s.validate(t, ptr, zero); err != nil {
				t.Errorf("zero %T does not match schema %s: %v\n%s", c.zero, c.schema, err, zero)
			}
			var zeroKeys map[string]any
			_ = json.Unmarshal(zero, &zeroKeys)
			required := []string{}
			reqs, _ := sch["required"].([]any)
			for _, r := range reqs {
				required = append(required, r.(string))
			}
			slices.Sort(required)
			if c.schema == "CreateStoreRequest" {
				return // name is required by the API, not by the Go type
			}
			if got := sortedKeys(zeroKeys); !slices.Equal(got, required) && (len(got) > 0 || len(required) > 0) {
				t.Errorf("%T always writes %q, schema %s requires %q", c.zero, got, c.schema, required)
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// TestOpenAPIErrorCodes documents every error code the server can send.
func TestOpenAPIErrorCodes(t *testing.T) {
	s := loadSpec(t)
	codes := []string{codeMalformed, codeInvalid, codeUnauthorized, codeForbidden, codeNotFound, codeMethodNotAllowed,
		codeConflict, codeQuotaExceeded, codeTooLarge, codeUnsupportedType, codeRateLimited, codeInternal, codeUnavailable}
	for _, code := range codes {
		b, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: "m"}})
		if err := s.validate(t, "/components/schemas/Error", b); err != nil {
			t.Errorf("code %s: %v", code, err)
		}
	}
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: "made_up", Message: "m"}})
	if err := s.validate(t, "/components/schemas/Error", b); err == nil {
		t.Error("an undocumented error code passes the schema: is the enum checked?")
	}
}

// TestOpenAPIStatuses documents every store status, and only those.
func TestOpenAPIStatuses(t *testing.T) {
	s := loadSpec(t)
	for _, st := range store.Statuses() {
		b, _ := json.Marshal(st)
		if err := s.validate(t, "/components/schemas/Status", b); err != nil {
			t.Errorf("status %s: %v", st, err)
		}
	}
	if err := s.validate(t, "/components/schemas/Status", []byte(`"MADE_UP"`)); err == nil {
		t.Error("an undocumented status passes the schema: is the enum checked?")
	}
}
