package server

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// TestBackupMetrics: backups counted by kind and outcome as the runner
// reports them, and from the database at scrape time when the newest
// backup succeeded and how many stores' newest backup failed.
func TestBackupMetrics(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "urumi.db"), store.Options{AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := NewMetrics(db, nil)
	scrape := func() string { t.Helper(); return scrapeMetrics(t, m) }
	if got := scrape(); !strings.Contains(got, "urumi_backup_last_success_timestamp_seconds 0\n") || !strings.Contains(got, "urumi_stores_backup_failing 0\n") {
		t.Errorf("metrics before any backup:\n%s", grepLines(got, "backup"))
	}

	for _, name := range []string{"shop", "blog"} {
		if _, _, err := db.CreateStore(ctx, store.Store{Name: name, Owner: "alice", Plan: "small", Namespace: "store-" + name}, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	done := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	for _, b := range []store.Backup{
		{ID: "shop-1", Store: "shop", Status: store.BackupSucceeded, FinishedAt: done, CreatedAt: done.Add(-time.Minute)},
		{ID: "shop-2", Store: "shop", Status: store.BackupFailed, Kind: store.BackupScheduled, CreatedAt: done.Add(time.Hour)},
		{ID: "blog-1", Store: "blog", Status: store.BackupFailed, CreatedAt: done.Add(-time.Hour)},
		{ID: "blog-2", Store: "blog", Status: store.BackupSucceeded, FinishedAt: done.Add(-time.Minute), CreatedAt: done.Add(-2 * time.Minute)},
	} {
		b.Owner, b.Actor = "alice", "alice"
		if _, err := db.CreateBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	m.BackupFinished(store.BackupScheduled, "failed")
	m.BackupFinished(store.BackupScheduled, "succeeded")
	m.BackupFinished(store.BackupScheduled, "succeeded")
	got := scrape()
	for _, want := range []string{
		`urumi_backups_total{kind="scheduled",outcome="failed"} 1`,
		`urumi_backups_total{kind="scheduled",outcome="succeeded"} 2`,
		fmt.Sprintf("urumi_backup_last_success_timestamp_seconds %g\n", float64(done.Unix())),
		// shop's newest backup failed; blog's failed one is older than
		// its newest, which succeeded.
		"urumi_stores_backup_failing 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(got, "backup"))
		}
	}
}

func grepLines(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// scrapeMetrics is what /metrics answers now.
func scrapeMetrics(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
