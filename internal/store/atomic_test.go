package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// failAuditInserts makes every audit insert fail, as a full disk or a
// crash between the state change and its entry would.
func failAuditInserts(t *testing.T, tdb testDB, db DB) {
	t.Helper()
	if tdb.dialect == dialectPostgres {
		tdb.mustExec(t, db, `CREATE FUNCTION audit_insert_fails() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'audit insert fails in this test'; END $$`)
		tdb.mustExec(t, db, `CREATE TRIGGER audit_insert_fails BEFORE INSERT ON audit_log
			FOR EACH ROW EXECUTE FUNCTION audit_insert_fails()`)
		return
	}
	tdb.mustExec(t, db, `CREATE TRIGGER audit_insert_fails BEFORE INSERT ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit insert fails in this test'); END`)
}

// countRows counts a table's rows behind the store's back.
func countRows(t *testing.T, db DB, table string) int {
	t.Helper()
	var n int
	if err := raw(db).QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAtomicRollsBackWhenTheAuditEntryFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		// A store whose create job a worker holds, for the outcome case.
		if _, _, err := db.CreateStore(ctx, newStore("held", "alice"), "alice"); err != nil {
			t.Fatal(err)
		}
		job, err := db.ClaimJob(ctx, "w1", longLease)
		if err != nil {
			t.Fatal(err)
		}
		failAuditInserts(t, tdb, db)

		err = db.Atomic(ctx, func(tx DB) error {
			if _, _, err := tx.CreateStore(ctx, newStore("shop", "alice"), "alice"); err != nil {
				return err
			}
			_, err := tx.AppendAudit(ctx, AuditEntry{Actor: "alice", Action: "create", Store: "shop", Outcome: "requested"})
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "audit insert fails") {
			t.Fatalf("Atomic(CreateStore, AppendAudit) = %v, want the audit insert's error", err)
		}
		if _, err := db.GetStore(ctx, "shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetStore after the rollback: %v, want ErrNotFound", err)
		}
		if n := countRows(t, db, "stores"); n != 1 {
			t.Errorf("%d store rows, want only the held one", n)
		}
		if n := countRows(t, db, "jobs"); n != 1 {
			t.Errorf("%d job rows, want only the held one's", n)
		}

		err = db.Atomic(ctx, func(tx DB) error {
			s, err := tx.GetStore(ctx, "held")
			if err != nil {
				return err
			}
			s.Status, s.URL = StatusReady, "http://held.example"
			if err := tx.UpdateStore(ctx, s); err != nil {
				return err
			}
			if _, err := tx.AppendAudit(ctx, AuditEntry{Actor: "alice", Action: "create", Store: "held", Outcome: "succeeded"}); err != nil {
				return err
			}
			return tx.FinishJob(ctx, job.ID, "w1", JobSucceeded, "")
		})
		if err == nil || !strings.Contains(err.Error(), "audit insert fails") {
			t.Fatalf("Atomic(UpdateStore, AppendAudit, FinishJob) = %v, want the audit insert's error", err)
		}
		s, err := db.GetStore(ctx, "held")
		if err != nil || s.Status != StatusQueued || s.URL != "" {
			t.Errorf("store after the rollback = %+v, %v; want it QUEUED as before", s, err)
		}
		if j, err := db.GetJob(ctx, job.ID); err != nil || j.State != JobRunning || j.LeaseOwner != "w1" {
			t.Errorf("job after the rollback = %+v, %v; want it still running for w1", j, err)
		}
		if n := countRows(t, db, "audit_log"); n != 0 {
			t.Errorf("%d audit entries, want none", n)
		}
	})
}

func TestAtomic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		other := tdb.open(t, Options{})

		// Everything fn does commits together, and fn reads its own writes.
		err := db.Atomic(ctx, func(tx DB) error {
			_, job, err := tx.CreateStore(ctx, newStore("shop", "alice"), "alice")
			if err != nil {
				return err
			}
			if s, err := tx.GetStore(ctx, "shop"); err != nil || s.Owner != "alice" {
				t.Errorf("GetStore inside Atomic = %+v, %v", s, err)
			}
			if j, err := tx.ActiveJob(ctx, "shop"); err != nil || j.ID != job.ID {
				t.Errorf("ActiveJob inside Atomic = %+v, %v", j, err)
			}
			if _, err := tx.SetQuota(ctx, "alice", 7); err != nil {
				return err
			}
			_, err = tx.AppendAudit(ctx, AuditEntry{Actor: "alice", Action: "create", Store: "shop", Outcome: "requested"})
			return err
		})
		if err != nil {
			t.Fatalf("Atomic: %v", err)
		}
		if _, err := other.GetStore(ctx, "shop"); err != nil {
			t.Errorf("GetStore from another handle after commit: %v", err)
		}
		if q, err := other.GetQuota(ctx, "alice"); err != nil || q.MaxStores != 7 || q.Used != 1 {
			t.Errorf("GetQuota after commit = %+v, %v", q, err)
		}
		if res, err := other.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != 1 {
			t.Errorf("VerifyAudit after commit = %+v, %v", res, err)
		}

		// fn's error comes back as is, and undoes what fn did before it.
		err = db.Atomic(ctx, func(tx DB) error {
			if _, err := tx.SetQuota(ctx, "alice", 1); err != nil {
				return err
			}
			_, _, err := tx.CreateStore(ctx, newStore("shop", "bob"), "bob")
			return err
		})
		if !errors.Is(err, ErrNameTaken) {
			t.Errorf("Atomic(CreateStore of a taken name) = %v, want ErrNameTaken", err)
		}
		if q, _ := db.GetQuota(ctx, "alice"); q.MaxStores != 7 {
			t.Errorf("quota after the rollback = %d, want 7", q.MaxStores)
		}

		// A nested Atomic joins the transaction: its work rolls back with
		// the outer one...
		boom := errors.New("boom")
		err = db.Atomic(ctx, func(tx DB) error {
			if err := tx.Atomic(ctx, func(tx DB) error {
				_, _, err := tx.CreateStore(ctx, newStore("inner", "bob"), "bob")
				return err
			}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Atomic = %v, want boom", err)
		}
		if _, err := db.GetStore(ctx, "inner"); !errors.Is(err, ErrNotFound) {
			t.Errorf("store of a nested Atomic after the outer one failed: %v, want ErrNotFound", err)
		}
		// ...and a nested failure the caller handles undoes only its part.
		err = db.Atomic(ctx, func(tx DB) error {
			if _, _, err := tx.CreateStore(ctx, newStore("kept", "bob"), "bob"); err != nil {
				return err
			}
			err := tx.Atomic(ctx, func(tx DB) error {
				if _, _, err := tx.CreateStore(ctx, newStore("dropped", "bob"), "bob"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Errorf("nested Atomic = %v, want boom", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetStore(ctx, "kept"); err != nil {
			t.Errorf("GetStore(kept): %v", err)
		}
		if _, err := db.GetStore(ctx, "dropped"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetStore(dropped) = %v, want ErrNotFound", err)
		}

		// A failed statement inside does not doom the transaction
		// (PostgreSQL aborts a transaction on any error without savepoints).
		err = db.Atomic(ctx, func(tx DB) error {
			if err := tx.UpdateStore(ctx, Store{Name: "kept", Status: "BOGUS"}); err == nil {
				t.Error("UpdateStore with a bad status succeeded")
			}
			if _, err := tx.CreateToken(ctx, Token{ID: "t1", Owner: "bob", SecretHash: []byte{1}}); err != nil {
				return err
			}
			if _, err := tx.CreateToken(ctx, Token{ID: "t1", Owner: "bob", SecretHash: []byte{1}}); !errors.Is(err, ErrNameTaken) {
				t.Errorf("CreateToken of a taken id = %v, want ErrNameTaken", err)
			}
			return tx.RevokeToken(ctx, "t1")
		})
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := db.GetToken(ctx, "t1"); err != nil || tok.RevokedAt.IsZero() {
			t.Errorf("token after commit = %+v, %v", tok, err)
		}
	})
}
