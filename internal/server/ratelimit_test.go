package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// replicas are three servers, each with its own database handle (as three
// processes would have), on one database.
func replicas(t *testing.T, dsn string, limits Limits) (urls []string, token string) {
	t.Helper()
	ctx := context.Background()
	key := storetest.AuditKey(t)
	for i := range 3 {
		db, err := store.Open(ctx, dsn, store.Options{DefaultMaxStores: 100, AuditKey: key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		svc := &provision.Service{DB: db, Settings: provision.Settings{
			BaseDomain: "example.test", IngressClass: "nginx", IngressNamespace: "ingress-nginx", Timeout: time.Minute,
		}}
		if i == 0 {
			tok, err := svc.IssueToken(ctx, testAdmin, "alice", false)
			if err != nil {
				t.Fatal(err)
			}
			token = tok.Secret
		}
		srv := httptest.NewServer(NewServer(Deps{Service: svc, Limits: limits}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return urls, token
}

// TestRateLimitsHoldAcrossReplicas sends 12 requests round-robin over
// three replicas: the per-token create limit (the default 5 a minute) and
// the per-IP limit of requests without a valid token each let exactly 5
// through, whichever replica they reach.
func TestRateLimitsHoldAcrossReplicas(t *testing.T) {
	backends := []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{"sqlite", storetest.SQLiteDSN},
		{"postgres", storetest.PostgresDSN},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			limits := DefaultLimits()
			limits.UnauthenticatedPerSecond, limits.UnauthenticatedBurst = 1.0/60, 5
			urls, token := replicas(t, b.dsn(t), limits)
			spec := loadSpec(t)
			send := func(i int, method, path, auth, body string) response {
				req, err := http.NewRequest(method, urls[i%3]+path, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				if auth != "" {
					req.Header.Set("Authorization", "Bearer "+auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				r := response{status: resp.StatusCode, header: resp.Header, body: b}
				spec.checkResponse(t, method, path, r)
				return r
			}
			tests := []struct {
				name     string
				send     func(i int) response
				passed   int    // the status of requests under the limit
				limitMsg string // in the 429's message
			}{
				{"creates of one token", func(i int) response {
					return send(i, "POST", "/v1/stores", token, fmt.Sprintf(`{"name":"shop-%02d"}`, i))
				}, http.StatusAccepted, "this token may create 5 stores per minute"},
				{"requests with a bad token from one IP", func(i int) response {
					return send(i, "GET", "/v1/stores", "urumi_nosuchtoken_0000", "")
				}, http.StatusUnauthorized, "too many requests without a valid token from 127.0.0.1"},
				{"probes after them from the same IP", func(i int) response {
					return send(i, "GET", "/openapi.json", "", "")
				}, http.StatusOK, "too many requests from 127.0.0.1"},
			}
			for _, tt := range tests {
				counts := map[int]int{}
				for i := range 12 {
					r := tt.send(i)
					counts[r.status]++
					if r.status == http.StatusTooManyRequests {
						if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
							t.Errorf("%s: 429 with Retry-After %q", tt.name, r.header.Get("Retry-After"))
						}
						if !strings.Contains(string(r.body), tt.limitMsg) || r.errorCode() != codeRateLimited {
							t.Errorf("%s: 429 body %s, want %q", tt.name, r.body, tt.limitMsg)
						}
					}
				}
				want := map[int]int{tt.passed: 5, http.StatusTooManyRequests: 7}
				if tt.name == "probes after them from the same IP" {
					// The bad-token requests spent the IP's budget.
					want = map[int]int{http.StatusTooManyRequests: 12}
				}
				if fmt.Sprint(counts) != fmt.Sprint(want) {
					t.Errorf("%s: 12 requests over 3 replicas answered %v, want %v", tt.name, counts, want)
				}
			}
		})
	}
}

// TestSharedLimiterWhenTheDatabaseFails: creates fail closed, requests
// without a token fall back to this process's own count.
func TestSharedLimiterWhenTheDatabaseFails(t *testing.T) {
	db, err := store.Open(context.Background(), storetest.SQLiteDSN(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // every question now fails
	ctx := context.Background()

	creates := newSharedLimiter(db, "create/", perMinute(5), 5, true, nil)
	if ok, _, err := creates.allow(ctx, "t1"); ok || err == nil {
		t.Errorf("create limit on a failed database = %v, %v; want refused with an error", ok, err)
	}
	// The refused create did not spend the local budget.
	if tokens := creates.local.bucket("t1", time.Now()).Tokens(); tokens < 5 {
		t.Errorf("local budget after a refused create = %g, want 5", tokens)
	}

	probes := newSharedLimiter(db, "ip/", rate.Limit(1.0/60), 2, false, nil)
	var allowed int
	for range 4 {
		ok, _, err := probes.allow(ctx, "127.0.0.1")
		if err != nil {
			t.Fatalf("probe limit on a failed database: %v", err)
		}
		if ok {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("probes allowed on a failed database: %d of 4, want the local burst of 2", allowed)
	}
}
