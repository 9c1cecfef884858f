package provision

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/urumi/urumi/internal/store"
)

func TestBootstrapToken(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		const (
			id     = "0a1b2c3d4e5f"
			secret = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0X2dhcnBseQ"
		)
		tok := FormatToken(id, secret)

		// Replicas starting together: one registers, the others find it.
		outcomes := make([]BootstrapOutcome, 4)
		var wg sync.WaitGroup
		for i := range outcomes {
			wg.Go(func() {
				_, o, err := s.BootstrapToken(ctx, tok+"\n", "ops")
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
				outcomes[i] = o
			})
		}
		wg.Wait()
		registered := 0
		for _, o := range outcomes {
			if o == BootstrapRegistered {
				registered++
			} else if o != BootstrapKnown {
				t.Errorf("outcome %q", o)
			}
		}
		if registered != 1 {
			t.Errorf("registered by %d replicas (%v), want 1", registered, outcomes)
		}
		rec, err := s.DB.GetToken(ctx, id)
		if err != nil || !rec.Admin || rec.Owner != "ops" || string(rec.SecretHash) != string(TokenSecretHash(secret)) {
			t.Fatalf("stored %+v %v", rec, err)
		}
		// A restart changes nothing.
		if _, o, err := s.BootstrapToken(ctx, tok, "ops"); err != nil || o != BootstrapKnown {
			t.Errorf("restart: %q %v", o, err)
		}
		entries, err := s.DB.ListAudit(ctx, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var boot []store.AuditEntry
		for _, e := range entries {
			if strings.Contains(e.Detail+e.Action, secret) {
				t.Errorf("audit entry holds the secret: %+v", e)
			}
			if e.Action == "token.bootstrap" {
				boot = append(boot, e)
			}
		}
		if len(boot) != 1 || boot[0].Actor != BootstrapActor || !strings.Contains(boot[0].Detail, "token "+id+" for owner ops (admin: true)") {
			t.Errorf("bootstrap audit entries %+v, want one", boot)
		}

		// The same id with another secret is someone else's token.
		other := FormatToken(id, strings.Repeat("x", 40))
		if _, _, err := s.BootstrapToken(ctx, other, "ops"); !errors.Is(err, ErrConflict) || strings.Contains(err.Error(), "xxxx") {
			t.Errorf("same id, other secret: %v", err)
		}
		// A non-admin token put in the Secret is refused, not promoted.
		plain, err := s.IssueToken(ctx, callerAdmin, "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.BootstrapToken(ctx, plain.Secret, "alice"); !errors.Is(err, ErrConflict) {
			t.Errorf("non-admin token: %v", err)
		}
		if rec, _ := s.DB.GetToken(ctx, plain.ID); rec.Admin {
			t.Error("a non-admin token became an admin's")
		}
		// A revoked bootstrap token stays revoked.
		if err := s.RevokeToken(ctx, callerAdmin, id); err != nil {
			t.Fatal(err)
		}
		if _, o, err := s.BootstrapToken(ctx, tok, "ops"); err != nil || o != BootstrapRevoked {
			t.Errorf("revoked: %q %v", o, err)
		}
		if rec, _ := s.DB.GetToken(ctx, id); rec.RevokedAt.IsZero() {
			t.Error("bootstrap brought a revoked token back")
		}

		for _, bad := range []struct{ tok, want string }{
			{"hunter2-hunter2-hunter2-hunter2-hunter2", "not an urumi API token"},
			{FormatToken("111111111111", "short-secret"), "at least 32"},
			{"", "not an urumi API token"},
		} {
			_, _, err := s.BootstrapToken(ctx, bad.tok, "ops")
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("token %q: %v, want %q", bad.tok, err, bad.want)
			}
			if bad.tok != "" && strings.Contains(err.Error(), bad.tok) {
				t.Errorf("error repeats the token: %v", err)
			}
		}
		if _, _, err := s.BootstrapToken(ctx, FormatToken("222222222222", secret), "no spaces"); !errors.Is(err, ErrInvalidOwner) {
			t.Errorf("bad owner: %v", err)
		}
	})
}
