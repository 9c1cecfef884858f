package server

import (
	"net/http"
	"slices"
	"testing"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// TestDashboardAPI: the routes the dashboard's views read: who a token is,
// the owners' quotas, the audit log's verification, the fleet's figures
// and the store list's filters, each an admin's where it should be.
func TestDashboardAPI(t *testing.T) {
	h := newHarness(t, unlimited())
	h.createStore("alice", "alice-a")
	h.createStore("alice", "alice-b")
	h.createStore("bob", "bob-a")

	var who whoami
	r := h.do("GET", "/v1/whoami", "alice", nil)
	want(t, r, http.StatusOK, "")
	r.decode(t, &who)
	if who != (whoami{Name: "alice"}) {
		t.Errorf("alice's whoami: %+v", who)
	}
	h.do("GET", "/v1/whoami", "admin", nil).decode(t, &who)
	if who != (whoami{Name: "admin", Admin: true}) {
		t.Errorf("admin's whoami: %+v", who)
	}
	want(t, h.do("GET", "/v1/whoami", "", nil), http.StatusUnauthorized, codeUnauthorized)

	// Quotas: every owner for an admin, one's own for an owner.
	var qs []store.Quota
	r = h.do("GET", "/v1/quotas", "admin", nil)
	want(t, r, http.StatusOK, "")
	r.decode(t, &qs)
	used := map[string]int{}
	for _, q := range qs {
		used[q.Owner] = q.Used
	}
	if used["alice"] != 2 || used["bob"] != 1 {
		t.Errorf("admin's quotas: %+v", qs)
	}
	r = h.do("GET", "/v1/quotas", "bob", nil)
	want(t, r, http.StatusOK, "")
	r.decode(t, &qs)
	if len(qs) != 1 || qs[0].Owner != "bob" || qs[0].Used != 1 {
		t.Errorf("bob's quotas: %+v", qs)
	}

	// The audit log's verification.
	var v store.VerifyResult
	r = h.do("GET", "/v1/audit/verify", "admin", nil)
	want(t, r, http.StatusOK, "")
	r.decode(t, &v)
	if !v.OK || v.Entries < 3 {
		t.Errorf("verify: %+v", v)
	}
	want(t, h.do("GET", "/v1/audit/verify", "alice", nil), http.StatusForbidden, codeForbidden)

	// The fleet's figures.
	var st provision.Stats
	r = h.do("GET", "/v1/stats", "admin", nil)
	want(t, r, http.StatusOK, "")
	r.decode(t, &st)
	if st.StoresByStatus[store.StatusQueued] != 3 || st.QueueDepth != 3 || st.OldestQueuedSeconds <= 0 {
		t.Errorf("stats: %+v", st)
	}
	want(t, h.do("GET", "/v1/stats", "alice", nil), http.StatusForbidden, codeForbidden)

	// The list's filters, and who may use them on whose stores.
	names := func(who, path string) []string {
		t.Helper()
		r := h.do("GET", path, who, nil)
		want(t, r, http.StatusOK, "")
		var page []store.Store
		r.decode(t, &page)
		var out []string
		for _, s := range page {
			out = append(out, s.Name)
		}
		return out
	}
	if got := names("admin", "/v1/stores?all=true&status=QUEUED&plan=medium"); !slices.Equal(got, []string{"alice-a", "alice-b", "bob-a"}) {
		t.Errorf("every QUEUED medium store: %v", got)
	}
	if got := names("admin", "/v1/stores?owner=bob&status=QUEUED"); !slices.Equal(got, []string{"bob-a"}) {
		t.Errorf("bob's QUEUED stores: %v", got)
	}
	if got := names("alice", "/v1/stores?status=QUEUED"); !slices.Equal(got, []string{"alice-a", "alice-b"}) {
		t.Errorf("alice's QUEUED stores: %v", got)
	}
	if got := names("admin", "/v1/stores?all=true&status=READY"); len(got) != 0 {
		t.Errorf("READY stores: %v", got)
	}
	want(t, h.do("GET", "/v1/stores?owner=bob&status=QUEUED", "alice", nil), http.StatusForbidden, codeForbidden)
	want(t, h.do("GET", "/v1/stores?all=true&status=ready", "admin", nil), http.StatusBadRequest, codeInvalid)
	want(t, h.do("GET", "/v1/stores?all=true&plan=%00", "admin", nil), http.StatusBadRequest, codeInvalid)
}
