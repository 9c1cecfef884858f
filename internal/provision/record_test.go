package provision

import (
	"context"
	"errors"
	"testing"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// TestChangesAndAuditEntriesCommitTogether: when the audit log cannot be
// written, no operation's change is left behind without its entry.
func TestChangesAndAuditEntriesCommitTogether(t *testing.T) {
	onBothDSNs(t, func(t *testing.T, s *Service, dsn string) {
		ctx := context.Background()
		if _, _, err := s.Create(ctx, callerAlice, CreateRequest{Name: "kept", Plan: "small"}); err != nil {
			t.Fatal(err)
		}
		tok, err := s.IssueToken(ctx, callerAdmin, "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		storetest.FailAuditInserts(t, dsn)

		if _, _, err := s.Create(ctx, callerAlice, CreateRequest{Name: "lost", Plan: "small"}); err == nil {
			t.Error("create succeeded without its audit entry")
		}
		if _, err := s.DB.GetStore(ctx, "lost"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the store of a create whose entry failed: %v", err)
		}
		if _, _, err := s.Delete(ctx, callerAlice, "kept"); err == nil {
			t.Error("delete succeeded without its audit entry")
		}
		kept, err := s.DB.GetStore(ctx, "kept")
		if err != nil || kept.Status != store.StatusQueued {
			t.Errorf("store after a delete whose entry failed: %+v %v", kept, err)
		}
		if job, err := s.DB.ActiveJob(ctx, "kept"); err != nil || job.Kind != store.JobCreate {
			t.Errorf("active job after a delete whose entry failed: %+v %v", job, err)
		}
		set := []string{"site.title=New"}
		if _, _, err := s.Retry(ctx, callerAlice, "kept", RetryRequest{Set: &set}); err == nil {
			t.Error("retry succeeded without its audit entry")
		}
		if after, _ := s.DB.GetStore(ctx, "kept"); string(after.Options) != string(kept.Options) {
			t.Errorf("a retry whose entry failed changed the options")
		}
		if _, err := s.SetQuota(ctx, callerAdmin, "alice", 9); err == nil {
			t.Error("quota set succeeded without its audit entry")
		}
		if q, _ := s.DB.GetQuota(ctx, "alice"); q.MaxStores == 9 {
			t.Errorf("quota changed without its audit entry: %+v", q)
		}
		if _, err := s.IssueToken(ctx, callerAdmin, "bob", false); err == nil {
			t.Error("token issued without its audit entry")
		}
		if err := s.RevokeToken(ctx, callerAdmin, tok.ID); err == nil {
			t.Error("token revoked without its audit entry")
		}
		tokens, err := s.DB.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(tokens) != 1 || !tokens[0].RevokedAt.IsZero() {
			t.Errorf("tokens after failed entries: %+v", tokens)
		}
	})
}
