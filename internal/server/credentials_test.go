package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

const firstAdminPassword = "FirstAdminPasswordFirstAdminPass"

// credentialsCluster is a fake cluster holding each store's credentials
// Secret and a deployed release of the embedded chart.
func credentialsCluster(t *testing.T, stores map[string]string) (*provision.Kube, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset()
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	for name, owner := range stores {
		ns := provision.Namespace(name)
		data := map[string][]byte{}
		for _, k := range charts.SecretKeys() {
			data[k] = []byte("secret-" + k)
		}
		data[charts.SecretKeyWordPressAdminPassword] = []byte(firstAdminPassword)
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "store-credentials", Namespace: ns, Labels: map[string]string{
			provision.LabelManagedBy: provision.ManagedBy, provision.LabelStore: name, provision.LabelOwner: owner,
		}}, Data: data}
		if _, err := client.CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rel := &release.Release{Name: "store", Namespace: ns, Version: 1, Chart: ch, Config: map[string]any{}, Info: &release.Info{Status: rcommon.StatusDeployed}}
		if err := driver.NewSecrets(client.CoreV1().Secrets(ns)).Create("sh.helm.release.v1.store.v1", rel); err != nil {
			t.Fatal(err)
		}
	}
	return &provision.Kube{Client: client, Log: slog.New(slog.DiscardHandler)}, client
}

// readyStore creates a store as who and marks it READY, as its create
// would.
func (h *harness) readyStore(who, name string) {
	h.t.Helper()
	h.createStore(who, name)
	ctx := context.Background()
	job, err := h.db.ActiveJob(ctx, name)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.db.ClaimJobByID(ctx, job.ID, "w", time.Minute); err != nil {
		h.t.Fatal(err)
	}
	if err := h.db.FinishJob(ctx, job.ID, "w", store.JobSucceeded, ""); err != nil {
		h.t.Fatal(err)
	}
	st, err := h.db.GetStore(ctx, name)
	if err != nil {
		h.t.Fatal(err)
	}
	st.Status, st.Options, st.URL = store.StatusReady, nil, "http://"+name+".example.test"
	if err := h.db.UpdateStore(ctx, st); err != nil {
		h.t.Fatal(err)
	}
}

func secretPassword(t *testing.T, client *fake.Clientset, name string) string {
	t.Helper()
	sec, err := client.CoreV1().Secrets(provision.Namespace(name)).Get(context.Background(), "store-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(sec.Data[charts.SecretKeyWordPressAdminPassword])
}

// TestCredentialsRoutes: the owner and an admin reveal and reset the
// administrator's login, uncached and audited; another owner's store is
// 404 as for every store route; the password shows in no other answer.
func TestCredentialsRoutes(t *testing.T) {
	k, client := credentialsCluster(t, map[string]string{"alice-shop": "alice"})
	h := newHarnessKube(t, unlimited(), k)
	h.readyStore("alice", "alice-shop")
	h.readyStore("bob", "bob-shop")

	r := h.do("POST", "/v1/stores/alice-shop/credentials", "alice", nil)
	want(t, r, http.StatusOK, "")
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var fields map[string]string
	r.decode(t, &fields)
	wantFields := map[string]string{"store": "alice-shop", "username": "admin", "password": firstAdminPassword, "url": "http://alice-shop.example.test"}
	if len(fields) != len(wantFields) {
		t.Errorf("fields %v, want %v", fields, wantFields)
	}
	for k, v := range wantFields {
		if fields[k] != v {
			t.Errorf("%s = %q, want %q", k, fields[k], v)
		}
	}
	want(t, h.do("POST", "/v1/stores/alice-shop/credentials", "admin", nil), http.StatusOK, "")

	// Another owner: 404, as for the store itself, and uncached too.
	for _, path := range []string{"/v1/stores/alice-shop/credentials", "/v1/stores/alice-shop/reset-password", "/v1/stores/nosuch/credentials"} {
		r := h.do("POST", path, "bob", nil)
		want(t, r, http.StatusNotFound, codeNotFound)
		if r.header.Get("Cache-Control") != "no-store" || strings.Contains(string(r.body), firstAdminPassword) {
			t.Errorf("%s as bob: %v %s", path, r.header, r.body)
		}
	}
	want(t, h.do("GET", "/v1/stores/alice-shop/credentials", "alice", nil), http.StatusMethodNotAllowed, codeMethodNotAllowed)
	want(t, h.do("POST", "/v1/stores/alice-shop/credentials", "", nil), http.StatusUnauthorized, codeUnauthorized)
	// bob's store exists, but this cluster has no Secret for it.
	want(t, h.do("POST", "/v1/stores/bob-shop/credentials", "bob", nil), http.StatusConflict, codeConflict)

	r = h.do("POST", "/v1/stores/alice-shop/reset-password", "alice", nil)
	want(t, r, http.StatusOK, "")
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("reset Cache-Control %q", r.header.Get("Cache-Control"))
	}
	var reset map[string]string
	r.decode(t, &reset)
	if len(reset) != 4 || reset["store"] != "alice-shop" || reset["username"] != "admin" || len(reset["password"]) != 32 ||
		reset["password"] == firstAdminPassword || !strings.HasPrefix(reset["job"], "password-reset-") {
		t.Fatalf("reset answer %v", reset)
	}
	if got := secretPassword(t, client, "alice-shop"); got != reset["password"] {
		t.Fatalf("the Secret holds %q after the reset, the answer %q", got, reset["password"])
	}
	if _, err := client.BatchV1().Jobs("store-alice-shop").Get(context.Background(), reset["job"], metav1.GetOptions{}); err != nil {
		t.Fatalf("the reset job: %v", err)
	}
	// The reveal now shows the new one.
	r = h.do("POST", "/v1/stores/alice-shop/credentials", "alice", nil)
	r.decode(t, &fields)
	if fields["password"] != reset["password"] {
		t.Fatalf("reveal after reset: %q", fields["password"])
	}

	// Audited with the actor, never the password; no other answer holds it.
	var entries []store.AuditEntry
	h.do("GET", "/v1/audit?store=alice-shop", "alice", nil).decode(t, &entries)
	var actions []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "credentials.") {
			actions = append(actions, e.Actor+" "+e.Action+" "+e.Outcome)
		}
	}
	// The owner sees the admin's read of their store's password too.
	if strings.Join(actions, ",") != "alice credentials.read succeeded,admin credentials.read succeeded,alice credentials.reset succeeded,alice credentials.read succeeded" {
		t.Errorf("alice's credentials entries: %v", actions)
	}
	h.do("GET", "/v1/audit", "admin", nil).decode(t, &entries)
	if !slices.ContainsFunc(entries, func(e store.AuditEntry) bool {
		return e.Actor == "admin" && e.Action == provision.ActionCredentialsRead && e.Store == "alice-shop"
	}) {
		t.Error("the admin's read is not audited")
	}
	for _, path := range []string{"/v1/audit", "/v1/stores/alice-shop", "/v1/stores", "/v1/quotas/alice", "/v1/stores/alice-shop/history"} {
		r := h.do("GET", path, "admin", nil)
		for _, pw := range []string{firstAdminPassword, reset["password"]} {
			if strings.Contains(string(r.body), pw) {
				t.Errorf("GET %s shows a password", path)
			}
		}
	}

	// Not READY: a reset is refused with what to do.
	st, _ := h.db.GetStore(context.Background(), "alice-shop")
	st.Status, st.Options = store.StatusFailed, nil
	if err := h.db.UpdateStore(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	r = h.do("POST", "/v1/stores/alice-shop/reset-password", "alice", nil)
	want(t, r, http.StatusConflict, codeConflict)
	if !strings.Contains(string(r.body), "READY") {
		t.Errorf("refusal does not say why: %s", r.body)
	}
}

// TestCredentialsRateLimit: reads and resets count together per token;
// beyond the limit, 429 with Retry-After; other tokens go on.
func TestCredentialsRateLimit(t *testing.T) {
	k, _ := credentialsCluster(t, map[string]string{"alice-shop": "alice", "bob-shop": "bob"})
	l := unlimited()
	l.CredentialsPerMinute = 2
	h := newHarnessKube(t, l, k)
	h.readyStore("alice", "alice-shop")
	h.readyStore("bob", "bob-shop")
	want(t, h.do("POST", "/v1/stores/alice-shop/credentials", "alice", nil), http.StatusOK, "")
	want(t, h.do("POST", "/v1/stores/alice-shop/reset-password", "alice", nil), http.StatusOK, "")
	r := h.do("POST", "/v1/stores/alice-shop/credentials", "alice", nil)
	want(t, r, http.StatusTooManyRequests, codeRateLimited)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After %q, want 1-60 seconds", r.header.Get("Retry-After"))
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("a refusal is cacheable")
	}
	want(t, h.do("POST", "/v1/stores/alice-shop/reset-password", "alice", nil), http.StatusTooManyRequests, codeRateLimited)
	// Other tokens, and alice's other requests, are not held back.
	want(t, h.do("POST", "/v1/stores/bob-shop/credentials", "bob", nil), http.StatusOK, "")
	want(t, h.do("GET", "/v1/stores/alice-shop", "alice", nil), http.StatusOK, "")
	// Only the two allowed reads and resets were audited.
	var entries []store.AuditEntry
	h.do("GET", "/v1/audit?store=alice-shop", "alice", nil).decode(t, &entries)
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "credentials.") {
			n++
		}
	}
	if n != 2 {
		b, _ := json.Marshal(entries)
		t.Errorf("%d credentials entries, want 2: %s", n, b)
	}
}

// TestCredentialsWithoutCluster: a server with no cluster connection says
// so to the store's owner, and 404 to anyone else.
func TestCredentialsWithoutCluster(t *testing.T) {
	h := newHarness(t, unlimited())
	h.readyStore("alice", "alice-shop")
	want(t, h.do("POST", "/v1/stores/alice-shop/credentials", "alice", nil), http.StatusServiceUnavailable, codeUnavailable)
	want(t, h.do("POST", "/v1/stores/alice-shop/reset-password", "bob", nil), http.StatusNotFound, codeNotFound)
}

// TestOwnerAuditOfStore: an owner asking for one of their stores reads its
// every entry since it was created, whoever wrote it (an admin, the
// reconciler); not an earlier same-name store's, and not another owner's
// store's entries: there they read only their own. Their quota says how
// many stores they use of how many allowed.
func TestOwnerAuditOfStore(t *testing.T) {
	h := newHarness(t, unlimited())
	ctx := context.Background()
	// An earlier store of the same name, bob's, long gone.
	if _, err := h.db.AppendAudit(ctx, store.AuditEntry{Actor: "bob", Action: "delete", Store: "shop", Outcome: "succeeded", Detail: "bob's old shop"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	h.readyStore("alice", "shop")
	h.readyStore("bob", "bob-shop")
	if _, err := h.db.AppendAudit(ctx, store.AuditEntry{Actor: "urumi-reconciler", Action: "drift", Store: "shop", Outcome: "found", Detail: "policy deleted"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.AppendAudit(ctx, store.AuditEntry{Actor: "urumi-reconciler", Action: "drift", Store: "bob-shop", Outcome: "found", Detail: "bob's drift"}); err != nil {
		t.Fatal(err)
	}
	actors := func(who, query string) []string {
		var entries []store.AuditEntry
		r := h.do("GET", "/v1/audit"+query, who, nil)
		want(t, r, http.StatusOK, "")
		r.decode(t, &entries)
		var out []string
		for _, e := range entries {
			out = append(out, e.Actor+" "+e.Action+" "+e.Store)
		}
		return out
	}
	if got := actors("alice", "?store=shop"); !slices.Contains(got, "urumi-reconciler drift shop") || !slices.Contains(got, "alice create shop") ||
		slices.Contains(got, "bob delete shop") {
		t.Errorf("alice's store's entries: %v", got)
	}
	if got := actors("alice", ""); slices.Contains(got, "urumi-reconciler drift shop") || slices.ContainsFunc(got, func(s string) bool { return !strings.HasPrefix(s, "alice ") }) {
		t.Errorf("alice's own entries: %v", got)
	}
	if got := actors("alice", "?store=bob-shop"); len(got) != 0 {
		t.Errorf("alice reading bob's store's entries: %v", got)
	}
	if got := actors("bob", "?store=shop"); len(got) != 1 || got[0] != "bob delete shop" {
		t.Errorf("bob reading alice's store's entries: %v", got)
	}
	want(t, h.do("GET", "/v1/audit?store=shop&actor=urumi-reconciler", "alice", nil), http.StatusForbidden, codeForbidden)

	var q store.Quota
	h.do("GET", "/v1/quotas/alice", "alice", nil).decode(t, &q)
	if q.Owner != "alice" || q.Used != 1 || q.MaxStores < 1 {
		t.Errorf("alice's quota: %+v", q)
	}
	want(t, h.do("GET", "/v1/quotas/bob", "alice", nil), http.StatusForbidden, codeForbidden)
}
