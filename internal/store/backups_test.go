package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestBackupRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		old := time.Now().Add(-time.Hour).UTC()
		a, err := db.CreateBackup(ctx, Backup{ID: "shop-1", Store: "shop", Owner: "alice", Actor: "alice", JobID: 7, CreatedAt: old})
		if err != nil {
			t.Fatalf("CreateBackup: %v", err)
		}
		if a.Status != BackupQueued || a.Kind != BackupManual {
			t.Errorf("created %+v, want a queued manual backup", a)
		}
		if _, err := db.CreateBackup(ctx, Backup{ID: "shop-1", Store: "shop", Owner: "alice", Actor: "alice"}); !errors.Is(err, ErrNameTaken) {
			t.Errorf("CreateBackup of a used ID: %v, want ErrNameTaken", err)
		}
		if _, err := db.CreateBackup(ctx, Backup{ID: "x", Store: "shop", Owner: "alice", Status: "lost"}); err == nil {
			t.Error("CreateBackup with an unknown status succeeded")
		}
		if _, err := db.CreateBackup(ctx, Backup{ID: "shop-2", Store: "shop", Owner: "alice", Actor: "cron", Kind: BackupScheduled}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateBackup(ctx, Backup{ID: "blog-1", Store: "blog", Owner: "bob", Actor: "bob"}); err != nil {
			t.Fatal(err)
		}

		done := time.Now().UTC().Truncate(time.Microsecond)
		a.Status, a.FinishedAt, a.Size, a.DBSnapshot, a.FilesSnapshot = BackupSucceeded, done, 4096, "0123abcd", "4567ef01"
		if err := db.UpdateBackup(ctx, a); err != nil {
			t.Fatalf("UpdateBackup: %v", err)
		}
		got, err := db.GetBackup(ctx, "shop-1")
		if err != nil {
			t.Fatalf("GetBackup: %v", err)
		}
		if got.Status != BackupSucceeded || !got.FinishedAt.Equal(done) || got.Size != 4096 || got.DBSnapshot != "0123abcd" ||
			got.FilesSnapshot != "4567ef01" || got.JobID != 7 || got.Owner != "alice" || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("read back %+v, want %+v", got, a)
		}
		if err := db.UpdateBackup(ctx, Backup{ID: "nope", Status: BackupFailed}); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateBackup of a missing backup: %v, want ErrNotFound", err)
		}

		ids := func(f BackupFilter) []string {
			t.Helper()
			list, err := db.ListBackups(ctx, f)
			if err != nil {
				t.Fatalf("ListBackups(%+v): %v", f, err)
			}
			var out []string
			for _, b := range list {
				out = append(out, b.ID)
			}
			return out
		}
		for _, tc := range []struct {
			f    BackupFilter
			want string
		}{
			{BackupFilter{}, "[blog-1 shop-2 shop-1]"},
			{BackupFilter{Store: "shop"}, "[shop-2 shop-1]"},
			{BackupFilter{Owner: "bob"}, "[blog-1]"},
			{BackupFilter{Owner: "bob", Store: "shop"}, "[]"},
		} {
			if got := ids(tc.f); fmtList(got) != tc.want {
				t.Errorf("ListBackups(%+v) = %v, want %s (newest first)", tc.f, got, tc.want)
			}
		}

		if err := db.RemoveBackup(ctx, "shop-1"); err != nil {
			t.Fatalf("RemoveBackup: %v", err)
		}
		if _, err := db.GetBackup(ctx, "shop-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetBackup after RemoveBackup: %v, want ErrNotFound", err)
		}
		if err := db.RemoveBackup(ctx, "shop-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("RemoveBackup twice: %v, want ErrNotFound", err)
		}

		// A backup and its job are recorded together or not at all.
		if _, _, err := db.CreateStore(ctx, Store{Name: "shop", Owner: "alice", Plan: "small"}, "alice"); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err = db.Atomic(ctx, func(tx DB) error {
			if _, err := tx.CreateBackup(ctx, Backup{ID: "shop-3", Store: "shop", Owner: "alice", Actor: "alice"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Atomic: %v", err)
		}
		if _, err := db.GetBackup(ctx, "shop-3"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a backup recorded in a rolled back transaction remains: %v", err)
		}
	})
}

func fmtList(s []string) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out + "]"
}

// TestClaimBackupSlotOnce: of several processes claiming the same due
// scheduled backup at once, exactly one gets it; the next is due at next.
func TestClaimBackupSlotOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		const handles = 4
		dbs := make([]DB, handles)
		for i := range dbs {
			dbs[i] = tdb.open(t, Options{})
		}
		if _, _, err := dbs[0].CreateStore(ctx, newStore("shop", "alice"), "alice"); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		next := now.Add(time.Hour)
		claimed := make([]bool, 3*handles)
		errs := make([]error, len(claimed))
		var wg sync.WaitGroup
		for i := range claimed {
			wg.Go(func() { claimed[i], errs[i] = dbs[i%handles].ClaimBackupSlot(ctx, "shop", now, next) })
		}
		wg.Wait()
		n := 0
		for i, ok := range claimed {
			if errs[i] != nil {
				t.Errorf("claim %d: %v", i, errs[i])
			}
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d of %d claims of one due backup won, want exactly 1", n, len(claimed))
		}
		if ok, err := dbs[1].ClaimBackupSlot(ctx, "shop", now.Add(59*time.Minute), next.Add(time.Hour)); err != nil || ok {
			t.Errorf("a claim before the next is due = %v, %v; want false", ok, err)
		}
		if ok, err := dbs[2].ClaimBackupSlot(ctx, "shop", next, next.Add(time.Hour)); err != nil || !ok {
			t.Errorf("a claim when the next is due = %v, %v; want true", ok, err)
		}
		if ok, err := dbs[2].ClaimBackupSlot(ctx, "nope", next, next.Add(time.Hour)); err != nil || ok {
			t.Errorf("a claim for a store that does not exist = %v, %v; want false", ok, err)
		}
	})
}
