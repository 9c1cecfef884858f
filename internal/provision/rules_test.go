package provision

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// hostileOwners are owner names no rule may let through: they would
// become audit actors and namespace labels.
var hostileOwners = []string{
	"", "a b", "al\nice", "alice\r", "tab\there", "nul\x00", "esc\x1b[31m", "ali/ce", "ali:ce",
	"al'ice", `al"ice`, "ålice", "alice\u202e", "a=b", "a,b", "$(id)", strings.Repeat("a", MaxOwnerLen+1),
}

func TestValidateOwner(t *testing.T) {
	for _, ok := range []string{"alice", "Bob", "ops-team", "a_b", "a.b", "alice@example.com", "a+b", "x", strings.Repeat("a", MaxOwnerLen)} {
		if err := ValidateOwner(ok); err != nil {
			t.Errorf("ValidateOwner(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range hostileOwners {
		err := ValidateOwner(bad)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrInvalidOwner) {
			t.Errorf("ValidateOwner(%q) = %v, want ErrInvalid and ErrInvalidOwner", bad, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "owner ") || strings.ContainsAny(msg, "\n\r\x00\x1b") {
			t.Errorf("ValidateOwner(%q): message %q should be plain and quote the owner", bad, msg)
		}
	}
}

// onBothDBs runs fn on a fresh SQLite database and a fresh PostgreSQL
// schema.
func onBothDBs(t *testing.T, fn func(t *testing.T, s *Service)) {
	onBothDSNs(t, func(t *testing.T, s *Service, _ string) { fn(t, s) })
}

// onBothDSNs is onBothDBs for tests that also reach the database behind
// urumi's back.
func onBothDSNs(t *testing.T, fn func(t *testing.T, s *Service, dsn string)) {
	for _, b := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteDSN}, {"postgres", storetest.PostgresDSN}} {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			db, err := store.Open(context.Background(), dsn, store.Options{DefaultMaxStores: 5, AuditKey: storetest.AuditKey(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			fn(t, &Service{DB: db, Settings: Settings{BaseDomain: "example.test", IngressClass: "nginx"}}, dsn)
		})
	}
}

var (
	callerAdmin = Caller{Name: "root", Admin: true}
	callerAlice = Caller{Name: "alice"}
	callerBob   = Caller{Name: "bob"}
)

// TestOwnerRules: every core function that takes an owner refuses the
// hostile ones before touching the database, for admins too.
func TestOwnerRules(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		for _, owner := range hostileOwners {
			if owner == "" {
				continue // means "the caller" where an owner is optional
			}
			calls := map[string]error{
				"create": func() error {
					req := CreateRequest{Name: "shop", Owner: owner}
					return s.ValidateCreate(callerAdmin, &req)
				}(),
				"quota get": func() error { _, err := s.Quota(ctx, callerAdmin, owner); return err }(),
				"quota set": func() error { _, err := s.SetQuota(ctx, callerAdmin, owner, 3); return err }(),
				"token":     func() error { _, err := s.IssueToken(ctx, callerAdmin, owner, false); return err }(),
			}
			for op, err := range calls {
				if !errors.Is(err, ErrInvalidOwner) {
					t.Errorf("%s with owner %q: %v, want an invalid owner", op, owner, err)
				}
			}
		}
		// The empty owner: required where it is not the caller.
		if _, err := s.SetQuota(ctx, callerAdmin, "", 3); !errors.Is(err, ErrInvalidOwner) {
			t.Errorf("quota set without an owner: %v", err)
		}
		if _, err := s.IssueToken(ctx, callerAdmin, "", false); !errors.Is(err, ErrInvalidOwner) {
			t.Errorf("token without an owner: %v", err)
		}
		// Nothing was recorded.
		if qs, _ := s.DB.ListQuotas(ctx); len(qs) != 0 {
			t.Errorf("quotas recorded for invalid owners: %+v", qs)
		}
		if toks, _ := s.DB.ListTokens(ctx); len(toks) != 0 {
			t.Errorf("tokens issued for invalid owners: %+v", toks)
		}
	})
}

func TestQuotaRules(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		if _, err := s.SetQuota(ctx, callerAlice, "alice", 50); !errors.Is(err, ErrForbidden) {
			t.Errorf("non-admin quota set: %v", err)
		}
		if _, err := s.SetQuota(ctx, callerAdmin, "alice", -1); !errors.Is(err, ErrInvalid) {
			t.Errorf("negative quota: %v", err)
		}
		for _, owner := range []string{"alice", "bob"} {
			if _, err := s.SetQuota(ctx, callerAdmin, owner, 3); err != nil {
				t.Fatal(err)
			}
		}
		if q, err := s.Quota(ctx, callerAlice, ""); err != nil || q.Owner != "alice" || q.MaxStores != 3 {
			t.Errorf("alice's own quota: %+v %v", q, err)
		}
		if _, err := s.Quota(ctx, callerAlice, "bob"); !errors.Is(err, ErrForbidden) {
			t.Errorf("alice reading bob's quota: %v", err)
		}
		all, err := s.ListQuotas(ctx, callerAdmin)
		if err != nil || len(all) != 2 {
			t.Errorf("admin's quota list: %+v %v", all, err)
		}
		own, err := s.ListQuotas(ctx, callerAlice)
		if err != nil || len(own) != 1 || own[0].Owner != "alice" {
			t.Errorf("alice's quota list: %+v %v", own, err)
		}
		// A caller without a quota row of their own sees the default.
		if own, err := s.ListQuotas(ctx, Caller{Name: "carol"}); err != nil || len(own) != 1 || !own[0].Default || own[0].MaxStores != 5 {
			t.Errorf("carol's quota list: %+v %v", own, err)
		}
		entries, _ := s.DB.ListAudit(ctx, store.AuditFilter{Actor: "root"})
		if len(entries) != 2 || entries[0].Action != "quota.set" || !strings.Contains(entries[0].Detail, "owner alice max-stores 3") {
			t.Errorf("quota.set audit: %+v", entries)
		}
	})
}

func TestTokenRules(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		if _, err := s.IssueToken(ctx, callerAlice, "alice", false); !errors.Is(err, ErrForbidden) {
			t.Errorf("non-admin issuing a token: %v", err)
		}
		tok, err := s.IssueToken(ctx, callerAdmin, "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		id, secret, ok := ParseToken(tok.Secret)
		if !ok || id != tok.ID || FormatToken(id, secret) != tok.Secret {
			t.Fatalf("issued token %q does not parse back to id %s", tok.Secret, tok.ID)
		}
		rec, err := s.DB.GetToken(ctx, id)
		if err != nil || string(rec.SecretHash) != string(TokenSecretHash(secret)) || rec.Owner != "alice" || rec.Admin {
			t.Fatalf("stored token %+v %v", rec, err)
		}
		if _, err := s.IssueToken(ctx, callerAdmin, "bob", true); err != nil {
			t.Fatal(err)
		}

		if all, _ := s.ListTokens(ctx, callerAdmin); len(all) != 2 {
			t.Errorf("admin lists %d tokens, want 2", len(all))
		}
		if own, _ := s.ListTokens(ctx, callerAlice); len(own) != 1 || own[0].ID != id {
			t.Errorf("alice lists %+v, want only her token", own)
		}
		if own, err := s.ListTokens(ctx, Caller{Name: "carol"}); err != nil || own == nil || len(own) != 0 {
			t.Errorf("carol lists %+v %v, want an empty list", own, err)
		}

		// Another owner's token is not found, as a missing one is.
		if err := s.RevokeToken(ctx, callerBob, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("bob revoking alice's token: %v", err)
		}
		if err := s.RevokeToken(ctx, callerAdmin, "000000000000"); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoking a missing token: %v", err)
		}
		if err := s.RevokeToken(ctx, callerAlice, id); err != nil {
			t.Errorf("alice revoking her own token: %v", err)
		}
		if rec, _ := s.DB.GetToken(ctx, id); rec.RevokedAt.IsZero() {
			t.Error("token not revoked")
		}

		entries, _ := s.DB.ListAudit(ctx, store.AuditFilter{})
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Actor+" "+e.Action+" "+e.Detail)
		}
		want := []string{
			"root token.create token " + id + " for owner alice (admin: false)",
			"alice token.revoke token " + id,
		}
		got := strings.Join(actions, "\n")
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("audit log lacks %q:\n%s", w, got)
			}
		}
	})
}

func TestParseToken(t *testing.T) {
	for _, tc := range []struct {
		tok    string
		id, ok string
	}{
		{"urumi_0123456789ab_secret", "0123456789ab", "ok"},
		{"urumi_0123456789ab_sec_ret", "0123456789ab", "ok"}, // base64url has '_'
		{"urumi_0123456789ab_", "", ""},
		{"urumi_0123456789a_secret", "", ""},
		{"urumi_zzzzzzzzzzzz_secret", "", ""},
		{"URUMI_0123456789ab_secret", "", ""},
		{"0123456789ab_secret", "", ""},
		{"urumi_0123456789ab_" + strings.Repeat("s", 129), "", ""},
		{"", "", ""},
	} {
		id, _, ok := ParseToken(tc.tok)
		if ok != (tc.ok == "ok") || id != tc.id {
			t.Errorf("ParseToken(%q) = %q, %v", tc.tok, id, ok)
		}
	}
}

func TestAuditRules(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		for _, c := range []Caller{callerAlice, callerBob, callerAdmin} {
			if err := s.record(ctx, c, "test", "", "succeeded", "", time.Now(), func(store.DB) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name   string
			c      Caller
			actor  string
			want   []string
			reject bool
		}{
			{"own by default", callerAlice, "", []string{"alice"}, false},
			{"own by name", callerAlice, "alice", []string{"alice"}, false},
			{"another's", callerAlice, "bob", nil, true},
			{"admin, all", callerAdmin, "", []string{"alice", "bob", "root"}, false},
			{"admin, one", callerAdmin, "bob", []string{"bob"}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				entries, err := s.Audit(ctx, tc.c, store.AuditFilter{Actor: tc.actor})
				if tc.reject {
					if !errors.Is(err, ErrForbidden) {
						t.Errorf("got %v, want forbidden", err)
					}
					return
				}
				var actors []string
				for _, e := range entries {
					actors = append(actors, e.Actor)
				}
				if err != nil || strings.Join(actors, ",") != strings.Join(tc.want, ",") {
					t.Errorf("actors %v %v, want %v", actors, err, tc.want)
				}
			})
		}
		if _, err := s.VerifyAudit(ctx, callerAlice); !errors.Is(err, ErrForbidden) {
			t.Errorf("non-admin verify: %v", err)
		}
		if res, err := s.VerifyAudit(ctx, callerAdmin); err != nil || !res.OK || res.Entries != 3 {
			t.Errorf("admin verify: %+v %v", res, err)
		}
	})
}

// TestCoreMessagesNameNoCommands: what the core says reaches API clients
// too, so it names no CLI command or flag; the CLI adds its own hints.
func TestCoreMessagesNameNoCommands(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		if _, err := s.SetQuota(ctx, callerAdmin, "alice", 0); err != nil {
			t.Fatal(err)
		}
		errs := map[string]error{
			"quota set without owner": func() error { _, err := s.SetQuota(ctx, callerAdmin, "", 1); return err }(),
			"get missing store":       func() error { _, err := s.Get(ctx, callerAlice, "nope"); return err }(),
			"revoke missing token":    s.RevokeToken(ctx, callerAdmin, "000000000000"),
			"quota exceeded":          s.quotaExceeded(ctx, "alice"),
			"invalid owner":           ValidateOwner("a b"),
		}
		for what, err := range errs {
			if err == nil {
				t.Errorf("%s: no error", what)
				continue
			}
			if msg := err.Error(); strings.Contains(msg, "urumi ") || strings.Contains(msg, "--") || strings.Contains(msg, "`") {
				t.Errorf("%s: %q names a CLI command or flag", what, msg)
			}
		}
		if err := errs["quota exceeded"]; !errors.Is(err, ErrQuotaExceeded) || !strings.Contains(err.Error(), `owner "alice" has 0 of 0 stores`) {
			t.Errorf("quota exceeded: %v", err)
		}
	})
}
