package provision

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// readyStore makes a store of owner and marks it READY, as a finished
// create would, without a cluster.
func readyStore(t *testing.T, s *Service, name, owner string) {
	t.Helper()
	ctx := context.Background()
	st, job, err := s.Create(ctx, Caller{Name: owner}, CreateRequest{Name: name})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	claimed, err := s.DB.ClaimJobByID(ctx, job.ID, "w", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB.FinishJob(ctx, claimed.ID, "w", store.JobSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	st.Status, st.Options = store.StatusReady, nil
	if err := s.DB.UpdateStore(ctx, st); err != nil {
		t.Fatal(err)
	}
}

func TestBackupRules(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		readyStore(t, s, "shop", "alice")
		readyStore(t, s, "bobshop", "bob")

		if _, _, err := s.Backup(ctx, callerAlice, "shop"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "not configured") {
			t.Fatalf("Backup without a repository: %v, want it refused as not configured", err)
		}
		s.Settings.Backup = BackupRepository{URL: "rest:https://backup.example.test:8000/", Secret: "urumi/backup-repo", Endpoints: "192.0.2.10"}
		if _, _, err := s.Backup(ctx, callerAlice, "shop"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Backup with an endpoint without a port: %v, want ErrInvalid", err)
		}
		s.Settings.Backup.Endpoints = "192.0.2.10:8000"

		b, job, err := s.Backup(ctx, callerAlice, "shop")
		if err != nil {
			t.Fatalf("Backup: %v", err)
		}
		if job.Kind != store.JobBackup || b.Status != store.BackupQueued || b.Owner != "alice" || b.JobID != job.ID ||
			!strings.HasPrefix(b.ID, "shop-") || string(job.Params) != `{"operation":"backup","backupId":"`+b.ID+`"}` {
			t.Errorf("Backup queued %+v with job %+v", b, job)
		}
		if _, _, err := s.Backup(ctx, callerAlice, "shop"); !errors.Is(err, ErrConflict) {
			t.Errorf("a second Backup while one is queued: %v, want ErrConflict", err)
		}
		if _, _, err := s.Backup(ctx, callerBob, "shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Backup of another owner's store: %v, want ErrNotFound", err)
		}

		// Listing: owners see their own; another owner's store is not found.
		if list, err := s.Backups(ctx, callerAlice, "shop"); err != nil || len(list) != 1 || list[0].ID != b.ID {
			t.Errorf("Backups(alice, shop) = %+v, %v", list, err)
		}
		if list, err := s.Backups(ctx, callerBob, ""); err != nil || len(list) != 0 {
			t.Errorf("Backups(bob) = %+v, %v, want none", list, err)
		}
		if _, err := s.Backups(ctx, callerBob, "shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Backups(bob, shop): %v, want ErrNotFound", err)
		}
		if list, err := s.Backups(ctx, callerAdmin, ""); err != nil || len(list) != 1 {
			t.Errorf("Backups(admin) = %+v, %v", list, err)
		}
		for name, fn := range map[string]func() error{
			"GetBackup":    func() error { _, err := s.GetBackup(ctx, callerBob, b.ID); return err },
			"DeleteBackup": func() error { _, _, err := s.DeleteBackup(ctx, callerBob, b.ID); return err },
			"Restore":      func() error { _, _, err := s.Restore(ctx, callerBob, b.ID, ""); return err },
		} {
			if err := fn(); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s of another owner's backup: %v, want ErrNotFound", name, err)
			}
		}
		if _, _, err := s.DeleteBackup(ctx, callerAlice, b.ID); !errors.Is(err, ErrConflict) {
			t.Errorf("DeleteBackup of a queued backup: %v, want ErrConflict", err)
		}
		if _, _, err := s.Restore(ctx, callerAlice, b.ID, ""); !errors.Is(err, ErrConflict) {
			t.Errorf("Restore of a queued backup: %v, want ErrConflict", err)
		}

		// As the runner would leave it.
		claimed, err := s.DB.ClaimJobByID(ctx, job.ID, "w", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DB.FinishJob(ctx, claimed.ID, "w", store.JobSucceeded, ""); err != nil {
			t.Fatal(err)
		}
		b.Status = store.BackupSucceeded
		if err := s.DB.UpdateBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
		// Into a new store: the backup owner's, counted against their limit.
		if _, err := s.DB.SetQuota(ctx, "alice", 1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Restore(ctx, callerAlice, b.ID, "staging"); !errors.Is(err, ErrQuotaExceeded) {
			t.Errorf("Restore into a new store over the owner's limit: %v, want ErrQuotaExceeded", err)
		}
		if _, err := s.DB.GetStore(ctx, "staging"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused restore left store staging: %v", err)
		}
		if _, err := s.DB.SetQuota(ctx, "alice", 2); err != nil {
			t.Fatal(err)
		}
		for to, want := range map[string]error{"bobshop": ErrConflict, "Bad_Name": ErrInvalid} {
			if _, _, err := s.Restore(ctx, callerAlice, b.ID, to); !errors.Is(err, want) {
				t.Errorf("Restore into %q: %v, want %v", to, err, want)
			}
		}
		if _, _, err := s.Restore(ctx, callerBob, b.ID, "bobstaging"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Restore of another owner's backup into a new store: %v, want ErrNotFound", err)
		}
		// An admin restores it: the new store is still alice's.
		_, njob, err := s.Restore(ctx, callerAdmin, b.ID, "staging")
		if err != nil {
			t.Fatalf("Restore into a new store: %v", err)
		}
		staging, err := s.DB.GetStore(ctx, "staging")
		if err != nil || staging.Owner != "alice" || staging.Status != store.StatusQueued || staging.Plan != s.Plans.Default() ||
			njob.Kind != store.JobRestore || njob.Store != "staging" ||
			string(njob.Params) != `{"operation":"restore","backupId":"`+b.ID+`","newStore":true}` {
			t.Errorf("Restore into a new store made %+v (%v) with job %+v %s", staging, err, njob, njob.Params)
		}
		if q, err := s.DB.GetQuota(ctx, "alice"); err != nil || q.Used != 2 {
			t.Errorf("alice's quota after a restore into a new store: %+v, %v, want 2 used", q, err)
		}
		if _, _, err := s.Restore(ctx, callerAlice, b.ID, "staging2"); !errors.Is(err, ErrQuotaExceeded) {
			t.Errorf("a second restore into a new store at the limit: %v, want ErrQuotaExceeded", err)
		}
		if err := s.DB.CancelJob(ctx, njob.ID); err != nil {
			t.Fatal(err)
		}
		// The refusal over the limit and the request are audited.
		if entries, err := s.DB.ListAudit(ctx, store.AuditFilter{Store: "staging"}); err != nil || len(entries) != 2 ||
			entries[0].Outcome != "denied" || entries[1].Action != "backup.restore" || entries[1].Outcome != "requested" ||
			entries[1].Actor != callerAdmin.Name || !strings.Contains(entries[1].Detail, b.ID) {
			t.Errorf("audit of the restore into a new store: %+v, %v", entries, err)
		}
		_, rjob, err := s.Restore(ctx, callerAlice, b.ID, "")
		if err != nil || rjob.Kind != store.JobRestore {
			t.Fatalf("Restore: %+v, %v", rjob, err)
		}
		if err := s.DB.CancelJob(ctx, rjob.ID); err != nil {
			t.Fatal(err)
		}
		del, djob, err := s.DeleteBackup(ctx, callerAlice, b.ID)
		if err != nil || del.Status != store.BackupDeleting || djob.Kind != store.JobBackup ||
			string(djob.Params) != `{"operation":"delete","backupId":"`+b.ID+`"}` {
			t.Fatalf("DeleteBackup: %+v, %+v, %v", del, djob, err)
		}
		entries, err := s.DB.ListAudit(ctx, store.AuditFilter{Store: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			if strings.HasPrefix(e.Action, "backup.") {
				actions = append(actions, e.Action+":"+e.Outcome)
			}
		}
		if got := strings.Join(actions, " "); got != "backup.create:requested backup.restore:requested backup.delete:requested" {
			t.Errorf("audited %q", got)
		}
	})
}
