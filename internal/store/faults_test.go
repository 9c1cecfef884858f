package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urumi/urumi/internal/store/storetest"
)

// TestDiskFullMidTransaction: a long-running process (serve) whose SQLite
// disk fills up while it holds the database open meets the fault in the
// middle of a transaction. The change (a store, its job and its audit
// entry) rolls back whole, the error says what is wrong, and once there is
// space again the same handle works and the audit log verifies.
//
// (A disk that turns read-only is met when the database is opened: Linux
// refuses to remount read-only a file system with files open for writing,
// and a new connection opens through the read-only mount. The CLI's
// TestStateDiskFaults covers it.)
func TestDiskFullMidTransaction(t *testing.T) {
	ctx := context.Background()
	dir := storetest.SmallDisk(t, "4m")
	path := filepath.Join(dir, "urumi.db")
	db := testDB{dsn: path, dialect: dialectSQLite, key: storetest.AuditKey(t)}.open(t, Options{})
	if _, _, err := db.CreateStore(ctx, Store{Name: "kept", Owner: "alice", Plan: "small"}, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendAudit(ctx, AuditEntry{Actor: "alice", Action: "create", Store: "kept", Outcome: "requested"}); err != nil {
		t.Fatal(err)
	}

	undo := storetest.FillDisk(t, dir)
	// Larger than anything the journal holds yet: the
	// transaction must grow it, and cannot.
	detail := strings.Repeat("x", 1<<20)
	err := db.Atomic(ctx, func(tx DB) error {
		if _, _, err := tx.CreateStore(ctx, Store{Name: "lost", Owner: "alice", Plan: "small"}, "alice"); err != nil {
			return fmt.Errorf("create store: %w", err)
		}
		_, err := tx.AppendAudit(ctx, AuditEntry{Actor: "alice", Action: "create", Store: "lost", Outcome: "requested", Detail: detail})
		return err
	})
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "no space left on the device holding the state database "+path) {
		t.Fatalf("write on a full disk: %v; want ErrDiskFull naming %s", err, path)
	}
	t.Logf("write on a full disk: %v", err)
	undo()

	if _, err := db.GetStore(ctx, "lost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the store of the failed transaction: %v; want it not found", err)
	}
	if stats, err := db.QueueStats(ctx); err != nil || stats.ByState[JobQueued] != 1 {
		t.Errorf("jobs after the failed transaction: %+v, %v; want only the kept store's", stats.ByState, err)
	}
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK || v.Entries != 1 {
		t.Errorf("audit after the failed transaction: %+v, %v; want 1 intact entry", v, err)
	}
	// The same handle writes again.
	if _, _, err := db.CreateStore(ctx, Store{Name: "after", Owner: "alice", Plan: "small"}, "alice"); err != nil {
		t.Fatalf("write once the disk is writable again: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
