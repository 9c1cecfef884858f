package provision

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// TestRunnerOutcomeIsAtomic fails a create before it reaches the cluster
// (its plan is unknown) and checks that the store's FAILED state, its audit
// entry and the job's end are written together: all of them, or, when the
// audit insert fails, none.
func TestRunnerOutcomeIsAtomic(t *testing.T) {
	tests := []struct {
		name       string
		auditFails bool
	}{
		{"recorded", false},
		{"audit insert fails", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := storetest.SQLiteDSN(t)
			db, err := store.Open(ctx, path, store.Options{AuditKey: storetest.AuditKey(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if tt.auditFails {
				rawDB, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				defer rawDB.Close()
				if _, err := rawDB.Exec(`CREATE TRIGGER audit_insert_fails BEFORE INSERT ON audit_log
					BEGIN SELECT RAISE(ABORT, 'audit insert fails in this test'); END`); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := db.CreateStore(ctx, store.Store{Name: "shop", Owner: "alice", Plan: "no-such-plan"}, "alice"); err != nil {
				t.Fatal(err)
			}
			r := &Runner{DB: db, Worker: "w1", Lease: time.Minute, Log: slog.New(slog.DiscardHandler)}
			job, err := db.ClaimJob(ctx, r.Worker, r.Lease)
			if err != nil {
				t.Fatal(err)
			}
			runErr := r.RunJob(ctx, job, nil)
			if runErr == nil {
				t.Fatal("RunJob of a store with an unknown plan succeeded")
			}
			s, err := db.GetStore(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			j, err := db.GetJob(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := db.ListAudit(ctx, store.AuditFilter{Store: "shop"})
			if err != nil {
				t.Fatal(err)
			}
			if tt.auditFails {
				if !strings.Contains(runErr.Error(), "audit insert fails") {
					t.Errorf("RunJob = %v, want the audit insert's error", runErr)
				}
				if s.Status != store.StatusQueued || j.State != store.JobRunning || len(entries) != 0 {
					t.Errorf("after a failed audit insert: store %s, job %s, %d entries; want QUEUED, running, none",
						s.Status, j.State, len(entries))
				}
				return
			}
			if s.Status != store.StatusFailed || !strings.Contains(s.Error, "no-such-plan") || j.State != store.JobFailed {
				t.Errorf("store %s (%q), job %s; want FAILED naming the plan, failed", s.Status, s.Error, j.State)
			}
			if len(entries) != 1 || entries[0].Action != "create" || entries[0].Outcome != "failed" {
				t.Errorf("audit entries = %+v, want one failed create", entries)
			}
			if errors.Is(runErr, ErrLeaseLost) {
				t.Errorf("RunJob = %v, not a lost lease", runErr)
			}
		})
	}
}
