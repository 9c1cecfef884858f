package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/urumi/urumi/internal/store"
)

// TestListPaging follows GET /v1/stores and GET /v1/audit page by page
// through the Urumi-Continue header, and refuses tokens that are not the
// list's own.
func TestListPaging(t *testing.T) {
	h := newHarness(t, unlimited())
	ctx := context.Background()
	if _, err := h.db.SetQuota(ctx, "alice", 50); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 11 {
		name := fmt.Sprintf("shop-%02d", 10-i)
		h.createStore("alice", name)
		names = append(names, name)
	}
	h.createStore("bob", "bob-shop")
	slices.Sort(names)

	follow := func(who, path string) (got []string, pages int, tokens []string) {
		t.Helper()
		next := path
		for {
			r := h.do("GET", next, who, nil)
			want(t, r, http.StatusOK, "")
			var page []store.Store
			r.decode(t, &page)
			pages++
			for _, s := range page {
				got = append(got, s.Name)
			}
			tok := r.header.Get(continueHeader)
			if tok == "" {
				return got, pages, tokens
			}
			tokens = append(tokens, tok)
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			next = path + sep + "continue=" + url.QueryEscape(tok)
		}
	}
	got, pages, tokens := follow("alice", "/v1/stores?limit=4")
	if !slices.Equal(got, names) || pages != 3 {
		t.Errorf("alice's pages of 4: %v in %d pages, want %v in 3", got, pages, names)
	}
	if got, pages, _ := follow("alice", "/v1/stores"); !slices.Equal(got, names) || pages != 1 {
		t.Errorf("alice's default page: %v in %d pages", got, pages)
	}
	got, _, _ = follow("admin", "/v1/stores?all=true&limit=5")
	if len(got) != 12 || !slices.IsSorted(got) {
		t.Errorf("admin's pages: %v", got)
	}

	for _, tc := range []struct{ name, who, path, msg string }{
		{"garbage token", "alice", "/v1/stores?continue=%25%25%25", "malformed"},
		{"token of another owner", "bob", "/v1/stores?continue=" + url.QueryEscape(tokens[0]), "another list"},
		{"token with another filter", "admin", "/v1/stores?all=true&continue=" + url.QueryEscape(tokens[0]), "another list"},
		{"store token on audit", "alice", "/v1/audit?continue=" + url.QueryEscape(tokens[0]), "another list"},
		{"limit too big", "alice", "/v1/stores?limit=1001", "limit="},
		{"limit zero", "alice", "/v1/stores?limit=0", "limit="},
	} {
		r := h.do("GET", tc.path, tc.who, nil)
		want(t, r, http.StatusBadRequest, codeInvalid)
		if !strings.Contains(string(r.body), tc.msg) {
			t.Errorf("%s: %s, want a message containing %q", tc.name, r.body, tc.msg)
		}
	}

	// Audit pages go back in time, each oldest first; together they are
	// the whole log, as one request for all of it returns it.
	var all []store.AuditEntry
	h.do("GET", "/v1/audit?limit=10000", "alice", nil).decode(t, &all)
	if len(all) < 11 {
		t.Fatalf("alice has %d audit entries, want at least 11", len(all))
	}
	var paged []store.AuditEntry
	next := "/v1/audit?limit=3"
	for {
		r := h.do("GET", next, "alice", nil)
		want(t, r, http.StatusOK, "")
		var page []store.AuditEntry
		r.decode(t, &page)
		paged = append(page, paged...)
		tok := r.header.Get(continueHeader)
		if tok == "" {
			break
		}
		next = "/v1/audit?limit=3&continue=" + url.QueryEscape(tok)
	}
	if len(paged) != len(all) {
		t.Fatalf("audit pages hold %d entries, the log %d", len(paged), len(all))
	}
	for i := range all {
		if paged[i].ID != all[i].ID {
			t.Fatalf("audit pages differ from the log at %d: %d, want %d", i, paged[i].ID, all[i].ID)
		}
	}
}

// BenchmarkListPage is the server's side of a page of every owner's stores
// (GET /v1/stores?all=true, 100 of 1,000): authentication, the query on
// SQLite, the response.
func BenchmarkListPage(b *testing.B) {
	h := newHarness(b, unlimited())
	ctx := context.Background()
	for o := range 10 {
		owner := fmt.Sprintf("owner-%d", o)
		if _, err := h.db.SetQuota(ctx, owner, 100); err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			st := store.Store{Name: fmt.Sprintf("s%d-%03d", o, i), Owner: owner, Plan: "small", Status: store.StatusReady,
				Namespace: fmt.Sprintf("store-s%d-%03d", o, i), URL: "http://shop.example.test",
				Phases: []store.Phase{{Name: "namespace", DurationMS: 40}, {Name: "quota", DurationMS: 30}, {Name: "network-policies", DurationMS: 200},
					{Name: "credentials", DurationMS: 20}, {Name: "helm-install", DurationMS: 21000}}}
			if _, _, err := h.db.CreateStore(ctx, st, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	}
	// plain: a client that takes no encoding; gzip: one that takes gzip
	// and keeps the bytes (the server's side alone); transparent: Go's
	// transport asking for gzip and decompressing.
	for _, c := range []struct{ name, acceptEncoding string }{{"plain", "identity"}, {"gzip", "gzip"}, {"transparent", ""}} {
		b.Run(c.name, func(b *testing.B) {
			client := &http.Client{}
			req, err := http.NewRequest("GET", h.url+"/v1/stores?all=true", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+h.tokens["admin"])
			if c.acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", c.acceptEncoding)
			}
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n < 1000 {
					b.Fatalf("%d, %d bytes", resp.StatusCode, n)
				}
			}
			b.ReportMetric(float64(n), "body-bytes")
		})
	}
}
