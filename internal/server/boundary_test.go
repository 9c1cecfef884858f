package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/urumi/urumi/internal/provision/hostiletest"
	"github.com/urumi/urumi/internal/store"
)

// TestTenantBoundary sends every hostile override of the shared table as a
// store owner, on create and on retry: each is refused with a 4xx and a
// message, and nothing is stored or changed.
func TestTenantBoundary(t *testing.T) {
	h := newHarness(t, unlimited())
	ctx := t.Context()
	if r := h.do("POST", "/v1/stores", "alice", `{"name":"mine","plan":"small"}`); r.status != http.StatusAccepted {
		t.Fatalf("create mine: %d %s", r.status, r.body)
	}
	before, err := h.db.GetStore(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range hostiletest.Overrides() {
		if tc.Name == "invalid UTF-8" {
			continue // JSON carries only valid UTF-8: the bad byte arrives as U+FFFD
		}
		t.Run(tc.Name, func(t *testing.T) {
			h := h.as(t)
			body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("evil-%d", i), "plan": "small", "set": tc.Set})
			r := h.do("POST", "/v1/stores", "alice", body)
			if r.status != http.StatusBadRequest && r.status != http.StatusForbidden {
				t.Fatalf("create: %d %s, want 400 or 403", r.status, r.body)
			}
			var e errorBody
			r.decode(t, &e)
			if e.Error.Message == "" || strings.ContainsAny(e.Error.Message, "\r\n") {
				t.Errorf("message %q", e.Error.Message)
			}
			body, _ = json.Marshal(map[string]any{"set": tc.Set})
			if r := h.do("POST", "/v1/stores/mine/retry", "alice", body); r.status != http.StatusBadRequest && r.status != http.StatusForbidden {
				t.Fatalf("retry: %d %s, want 400 or 403", r.status, r.body)
			}
		})
	}
	all, err := h.db.ListStores(ctx, store.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Name != "mine" {
		t.Errorf("stores after the hostile requests: %v", all)
	}
	after, err := h.db.GetStore(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	if string(after.Options) != string(before.Options) {
		t.Errorf("a refused retry changed the store's options:\n%s\n%s", before.Options, after.Options)
	}
}

// TestOwnerValues: a store owner may set what their plan allows and gets
// 403 for anything else, an admin may set a wider key, and the audit log
// records each with the keys set.
func TestOwnerValues(t *testing.T) {
	h := newHarness(t, unlimited())
	if r := h.do("POST", "/v1/stores", "alice", `{"name":"alice-shop","plan":"small","set":["woocommerce.version=10.1.2"]}`); r.status != http.StatusAccepted {
		t.Fatalf("allowed value: %d %s", r.status, r.body)
	}
	r := h.do("POST", "/v1/stores", "alice", `{"name":"alice-two","plan":"small","set":["ingress.className=other"]}`)
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "ingress.className") || !strings.Contains(string(r.body), "woocommerce.version") {
		t.Fatalf("forbidden value: %d %s", r.status, r.body)
	}
	if r := h.do("POST", "/v1/stores", "admin", `{"name":"ops-shop","plan":"small","set":["ingress.className=other"]}`); r.status != http.StatusAccepted {
		t.Fatalf("admin's value: %d %s", r.status, r.body)
	}
	if _, err := h.db.GetStore(t.Context(), "alice-two"); err == nil {
		t.Errorf("the refused store was stored")
	}
	var entries []store.AuditEntry
	h.do("GET", "/v1/audit?limit=100", "admin", nil).decode(t, &entries)
	want := map[string]string{
		"alice-shop": "woocommerce.version=10.1.2",
		"alice-two":  "ingress.className",
		"ops-shop":   "ingress.className=other",
	}
	for name, key := range want {
		found := false
		for _, e := range entries {
			found = found || e.Action == "create" && e.Store == name && strings.Contains(e.Detail, key)
		}
		if !found {
			t.Errorf("no create entry for %s naming %s in %+v", name, key, entries)
		}
	}
}

// TestIndexBomb: a small body of list indexes costs the server next to
// nothing (Helm's --set parser allocated about 1 GiB for 11 KB of them).
func TestIndexBomb(t *testing.T) {
	h := newHarness(t, unlimited())
	set := make([]string, 1000)
	for i := range set {
		set[i] = "aa[65536]="
	}
	body, _ := json.Marshal(map[string]any{"name": "bomb", "set": set})
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	r := h.do("POST", "/v1/stores", "alice", body)
	runtime.ReadMemStats(&m1)
	if r.status != http.StatusBadRequest {
		t.Fatalf("bomb: %d %s", r.status, r.body)
	}
	if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 64<<20 {
		t.Errorf("the server allocated %d MiB for a %d-byte body", grew>>20, len(body))
	}
}

// TestRetryCountsAsCreate: a retry runs provisioning again, so it counts
// against the token's create limit: a tenant cannot spin a failed store's
// provisioning in a loop.
func TestRetryCountsAsCreate(t *testing.T) {
	l := unlimited()
	l.CreatesPerMinute = 1
	h := newHarness(t, l)
	if r := h.do("POST", "/v1/stores", "alice", `{"name":"once","plan":"small"}`); r.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r := h.do("POST", "/v1/stores/once/retry", "alice", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("retry past the limit: %d %s", r.status, r.body)
	}
}
