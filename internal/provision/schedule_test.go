package provision

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

func TestBackupScheduleCheck(t *testing.T) {
	for _, tc := range []struct {
		s     BackupSchedule
		every time.Duration
		ok    bool
	}{
		{BackupSchedule{Every: "daily", Keep: 7}, 24 * time.Hour, true},
		{BackupSchedule{Every: "hourly", Keep: 1}, time.Hour, true},
		{BackupSchedule{Every: "weekly", Keep: 4}, 7 * 24 * time.Hour, true},
		{BackupSchedule{Every: "12h", Keep: 14}, 12 * time.Hour, true},
		{BackupSchedule{Every: "daily", Keep: 0}, 0, false},
		{BackupSchedule{Every: "sometimes", Keep: 3}, 0, false},
		{BackupSchedule{Every: "10ms", Keep: 3}, 0, false},
	} {
		err := tc.s.check()
		if (err == nil) != tc.ok {
			t.Errorf("%v: check() = %v, want ok %v", tc.s, err, tc.ok)
		}
		if d, err := tc.s.Interval(); tc.ok && (err != nil || d != tc.every) {
			t.Errorf("%v: Interval() = %s, %v", tc.s, d, err)
		}
	}
	p := BuiltinPlans()[0]
	p.Backup = &BackupSchedule{Every: "daily", Keep: 0}
	if _, err := NewPlans([]Plan{p}, p.Name); err == nil || !strings.Contains(err.Error(), "keep") {
		t.Errorf("a plan keeping no backups was accepted: %v", err)
	}
}

// TestBackupSchedulerOnce runs two replicas' schedulers on one database at
// once: each due scheduled backup is queued exactly once, a store with a
// job in flight stays due, and stores without a schedule or not READY are
// left alone.
func TestBackupSchedulerOnce(t *testing.T) {
	onBothDSNs(t, func(t *testing.T, s *Service, dsn string) {
		ctx := context.Background()
		scheduled := BuiltinPlans()[0]
		scheduled.Backup = &BackupSchedule{Every: "1h", Keep: 2}
		plain := BuiltinPlans()[1]
		plans, err := NewPlans([]Plan{scheduled, plain}, scheduled.Name)
		if err != nil {
			t.Fatal(err)
		}
		s.Plans = plans
		s.Settings.Backup = BackupRepository{URL: "rest:https://backup.example.test:8000/", Secret: "urumi/repo", Endpoints: "192.0.2.10:8000"}
		readyStore(t, s, "shop", "alice")
		if _, _, err := s.Create(ctx, callerAlice, CreateRequest{Name: "queued"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Create(ctx, callerBob, CreateRequest{Name: "plain", Plan: plain.Name}); err != nil {
			t.Fatal(err)
		}

		// A second replica: its own connection to the same database.
		db2, err := store.Open(ctx, dsn, store.Options{DefaultMaxStores: 5, AuditKey: storetest.AuditKey(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db2.Close() })
		s2 := &Service{DB: db2, Settings: s.Settings, Plans: plans}

		now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		replicas := []*BackupScheduler{{Service: s, Now: clock}, {Service: s2, Now: clock}}
		tick := func() int {
			t.Helper()
			var wg sync.WaitGroup
			counts := make([]int, 2*len(replicas))
			for i := range counts {
				wg.Go(func() {
					n, err := replicas[i%len(replicas)].Tick(ctx)
					if err != nil {
						t.Errorf("Tick: %v", err)
					}
					counts[i] = n
				})
			}
			wg.Wait()
			sum := 0
			for _, n := range counts {
				sum += n
			}
			return sum
		}
		finish := func() {
			t.Helper()
			job, err := s.DB.ActiveJob(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB.ClaimJobByID(ctx, job.ID, "w", time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.DB.FinishJob(ctx, job.ID, "w", store.JobSucceeded, ""); err != nil {
				t.Fatal(err)
			}
		}

		if n := tick(); n != 1 {
			t.Fatalf("four schedulers on two replicas queued %d backups of one due store, want 1", n)
		}
		list, err := s.DB.ListBackups(ctx, store.BackupFilter{})
		if err != nil || len(list) != 1 || list[0].Store != "shop" || list[0].Kind != store.BackupScheduled || list[0].Actor != SchedulerActor {
			t.Fatalf("backups after the first tick: %+v, %v", list, err)
		}
		job, err := s.DB.ActiveJob(ctx, "shop")
		if err != nil || string(job.Params) != `{"operation":"backup","backupId":"`+list[0].ID+`","keep":2}` {
			t.Errorf("the scheduled backup's job: %+v %s, %v", job, job.Params, err)
		}
		finish()
		now = now.Add(59 * time.Minute)
		if n := tick(); n != 0 {
			t.Errorf("%d backups queued before the next was due", n)
		}
		// Due, but the store has a job in flight: it stays due.
		now = now.Add(2 * time.Minute)
		if _, _, err := s.Backup(ctx, callerAlice, "shop"); err != nil {
			t.Fatal(err)
		}
		if n := tick(); n != 0 {
			t.Errorf("%d backups queued beside a job in flight", n)
		}
		finish()
		if n := tick(); n != 1 {
			t.Errorf("%d backups queued once the job ended, want the one still due", n)
		}
		if list, err := s.DB.ListBackups(ctx, store.BackupFilter{}); err != nil || len(list) != 3 {
			t.Errorf("backups in all: %d, %v; want 2 scheduled and 1 by hand", len(list), err)
		}
		entries, err := s.DB.ListAudit(ctx, store.AuditFilter{Store: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		scheduledEntries := 0
		for _, e := range entries {
			if e.Actor == SchedulerActor && e.Action == "backup.create" {
				scheduledEntries++
			}
		}
		if scheduledEntries != 2 {
			t.Errorf("%d audit entries by the scheduler, want 2", scheduledEntries)
		}
	})
}
