package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// appendEntries appends n entries: store shop-<i%2>, actor alice or bob.
func appendEntries(t *testing.T, db DB, n int) []AuditEntry {
	t.Helper()
	var out []AuditEntry
	for i := range n {
		actor := []string{"alice", "bob"}[i%2]
		e, err := db.AppendAudit(context.Background(), AuditEntry{
			Actor: actor, Action: "create", Store: fmt.Sprintf("shop-%d", i%2),
			Outcome: "requested", Detail: fmt.Sprintf("entry %d", i+1), DurationMS: int64(i),
		})
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func TestAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		if res, err := db.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != 0 {
			t.Errorf("VerifyAudit of an empty log = %+v, %v", res, err)
		}

		at := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))
		first, err := db.AppendAudit(ctx, AuditEntry{Time: at, Actor: "alice", Action: "quota.set", Outcome: "succeeded"})
		if err != nil {
			t.Fatal(err)
		}
		if first.ID != 1 || first.PrevHash != "" || len(first.Hash) != 64 ||
			!first.Time.Equal(at.Truncate(time.Microsecond)) || first.Time.Location() != time.UTC {
			t.Errorf("first entry = %+v", first)
		}
		rest := appendEntries(t, db, 5)
		if rest[0].PrevHash != first.Hash || rest[1].PrevHash != rest[0].Hash {
			t.Error("entries do not chain")
		}
		all := append([]AuditEntry{first}, rest...)

		tests := []struct {
			name   string
			filter AuditFilter
			want   []int64
		}{
			{"all", AuditFilter{}, []int64{1, 2, 3, 4, 5, 6}},
			{"store", AuditFilter{Store: "shop-0"}, []int64{2, 4, 6}},
			{"actor", AuditFilter{Actor: "bob"}, []int64{3, 5}},
			{"store and actor", AuditFilter{Store: "shop-0", Actor: "alice"}, []int64{2, 4, 6}},
			{"limit keeps the newest", AuditFilter{Limit: 2}, []int64{5, 6}},
			{"limit with store", AuditFilter{Store: "shop-1", Limit: 1}, []int64{5}},
			{"limit above count", AuditFilter{Limit: 100}, []int64{1, 2, 3, 4, 5, 6}},
			{"no match", AuditFilter{Actor: "carol"}, []int64{}},
			{"since", AuditFilter{Since: at.Add(time.Second)}, []int64{2, 3, 4, 5, 6}},
			{"since is inclusive, with store", AuditFilter{Store: "shop-0", Since: rest[2].Time}, []int64{4, 6}},
		}
		for _, tt := range tests {
			got, err := db.ListAudit(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			ids := []int64{}
			for _, e := range got {
				ids = append(ids, e.ID)
				if !reflect.DeepEqual(e, all[e.ID-1]) {
					t.Errorf("%s: entry %d = %+v\nappended as %+v", tt.name, e.ID, e, all[e.ID-1])
				}
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("%s: ListAudit = %v, want %v", tt.name, ids, tt.want)
			}
		}
		if res, err := db.VerifyAudit(ctx); err != nil || res != (VerifyResult{Entries: 6, OK: true}) {
			t.Errorf("VerifyAudit = %+v, %v", res, err)
		}
	})
}

// TestAuditConcurrentAppend appends from several handles at once; the
// chain must not fork.
func TestAuditConcurrentAppend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		const handles, perHandle = 4, 10
		var wg sync.WaitGroup
		for range handles {
			db := tdb.open(t, Options{})
			wg.Go(func() {
				for range perHandle {
					if _, err := db.AppendAudit(ctx, AuditEntry{Actor: "alice", Action: "create", Outcome: "requested"}); err != nil {
						t.Errorf("AppendAudit: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		res, err := tdb.open(t, Options{}).VerifyAudit(ctx)
		if err != nil || res != (VerifyResult{Entries: handles * perHandle, OK: true}) {
			t.Errorf("VerifyAudit = %+v, %v", res, err)
		}
	})
}

func TestAuditAppendOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		db := tdb.open(t, Options{})
		appendEntries(t, db, 3)
		statements := []string{
			`UPDATE audit_log SET detail = 'forged' WHERE id = 2`,
			`DELETE FROM audit_log WHERE id = 3`,
			`DELETE FROM audit_log`,
			`DELETE FROM audit_head`,
		}
		if tdb.dialect == dialectPostgres {
			statements = append(statements, `TRUNCATE audit_log`)
		}
		for _, stmt := range statements {
			err := tdb.exec(t, db, stmt)
			if err == nil || !strings.Contains(err.Error(), "audit log is append-only") {
				t.Errorf("%s: err = %v, want it rejected as append-only", stmt, err)
			}
		}
		if res, err := db.VerifyAudit(context.Background()); err != nil || !res.OK || res.Entries != 3 {
			t.Errorf("VerifyAudit = %+v, %v", res, err)
		}
	})
}

// TestAuditTamper drops the triggers, as someone with database access
// could, changes the log behind urumi's back and expects VerifyAudit to
// name the first bad entry.
func TestAuditTamper(t *testing.T) {
	tests := []struct {
		name    string
		tamper  []string
		badID   int64
		problem string
	}{
		{"edited entry", []string{`UPDATE audit_log SET detail = 'nothing happened' WHERE id = 3`}, 3, "edited"},
		{"edited time", []string{`UPDATE audit_log SET at = at + 1 WHERE id = 2`}, 2, "edited"},
		{"deleted middle entry", []string{`DELETE FROM audit_log WHERE id = 3`}, 3, "deleted"},
		{"deleted first entry", []string{`DELETE FROM audit_log WHERE id = 1`}, 1, "deleted"},
		{"deleted last entry", []string{`DELETE FROM audit_log WHERE id = 5`}, 5, "truncated"},
		{"deleted last two", []string{`DELETE FROM audit_log WHERE id >= 4`}, 4, "truncated"},
		{"deleted everything", []string{`DELETE FROM audit_log`}, 1, "truncated"},
		{"rehashed entry", []string{`UPDATE audit_log SET prev_hash = '', hash = 'x' WHERE id = 2`}, 2, "edited"},
		{"replaced entry with valid hash", nil, 4, "prev hash mismatch"}, // set up below
		{"deleted middle entry and renumbered", []string{
			`DELETE FROM audit_log WHERE id = 3`,
			`UPDATE audit_log SET id = 3 WHERE id = 4`,
		}, 3, "edited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, tdb testDB) {
				ctx := context.Background()
				db := tdb.open(t, Options{})
				entries := appendEntries(t, db, 5)
				tdb.dropTrigger(t, db, "audit_log_no_update")
				tdb.dropTrigger(t, db, "audit_log_no_delete")
				for _, stmt := range tt.tamper {
					tdb.mustExec(t, db, stmt)
				}
				if tt.tamper == nil {
					// Rewrite entry 3 and give it a correct hash of its own:
					// only entry 4's link to it shows the change.
					e := entries[2]
					e.Detail = "nothing happened"
					tdb.mustExec(t, db, `UPDATE audit_log SET detail = $1, hash = $2 WHERE id = 3`,
						e.Detail, auditMAC(tdb.key, e.PrevHash, e))
				}
				res, err := db.VerifyAudit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if res.OK || res.BadID != tt.badID || !strings.Contains(res.Problem, tt.problem) {
					t.Errorf("VerifyAudit = %+v, want bad id %d and a problem mentioning %q", res, tt.badID, tt.problem)
				}
			})
		})
	}
}
