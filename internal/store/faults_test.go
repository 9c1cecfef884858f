package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

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

// TestPostgresRestart: PostgreSQL restarted under a handle that is in use.
// While it is down every error says the database is unavailable (so that
// job runners wait instead of failing stores); once it is back the handle
// reconnects by itself.
func TestPostgresRestart(t *testing.T) {
	ctx := context.Background()
	pg := storetest.StartPostgres(t)
	db := testDB{dsn: pg.DSN(), dialect: dialectPostgres, key: storetest.AuditKey(t)}.open(t, Options{})
	if _, _, err := db.CreateStore(ctx, Store{Name: "shop", Owner: "alice", Plan: "small"}, "alice"); err != nil {
		t.Fatal(err)
	}
	job, err := db.ClaimJob(ctx, "w1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Four users of the handle, as a serve's workers are.
	var (
		mu       sync.Mutex
		failures []error
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := db.RenewLease(ctx, job.ID, "w1", time.Minute)
				if err == nil {
					_, err = db.GetStore(ctx, "shop")
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	pg.Restart(2 * time.Second)
	// Back: every operation succeeds again, soon.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := db.RenewLease(ctx, job.ID, "w1", time.Minute)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the handle did not reconnect within 30 seconds of the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	n := len(failures)
	mu.Unlock()
	for range 50 {
		if err := db.RenewLease(ctx, job.ID, "w1", time.Minute); err != nil {
			t.Fatalf("after reconnecting: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	if n == 0 {
		t.Fatal("no operation failed while PostgreSQL was down: the restart did not happen under load")
	}
	for _, err := range failures[:n] {
		if !Unavailable(err) {
			t.Errorf("an error while PostgreSQL restarted does not say the database is unavailable: %v", err)
		}
	}
	t.Logf("%d operations failed during the restart, e.g. %v", n, failures[0])
	if err := db.FinishJob(ctx, job.ID, "w1", JobSucceeded, ""); err != nil {
		t.Fatal(err)
	}
}

// TestUnavailableIsPostgresOnly: only PostgreSQL's lost or refused
// connections count; a network error of anything else (the cluster) that
// travels through the same call does not, nor does a refused request.
func TestUnavailableIsPostgresOnly(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},
		{fmt.Errorf("renew lease: %w", &pgconn.PgError{Code: "08006"}), true},
		{fmt.Errorf("begin: %w", driver.ErrBadConn), true},
		{&pgconn.PgError{Code: "23505"}, false}, // unique violation
		{fmt.Errorf("helm install: %w", &url.Error{Op: "Get", URL: "https://10.0.0.1", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}), false},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false},
		{context.DeadlineExceeded, false},
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
