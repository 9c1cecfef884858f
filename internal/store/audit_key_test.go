package store

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urumi/urumi/internal/store/storetest"
)

// rechain rewrites entry 3's detail as an attacker with write access to the
// database would, then recomputes the chain from entry `from` on with sum
// and points the head at the new end; keyID, if not nil, replaces the
// head's key fingerprint.
func rechain(t *testing.T, tdb testDB, db DB, from int64, sum func(prev string, e AuditEntry) string, keyID *string) {
	t.Helper()
	tdb.dropTrigger(t, db, "audit_log_no_update")
	tdb.mustExec(t, db, `UPDATE audit_log SET detail = 'nothing happened' WHERE id = 3`)
	entries, err := db.(*sqlDB).allAudit(context.Background(), raw(db))
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	if from > 1 {
		prev = entries[from-2].Hash
	}
	for _, e := range entries[from-1:] {
		e.PrevHash, e.Hash = prev, sum(prev, e)
		tdb.mustExec(t, db, `UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3`, e.PrevHash, e.Hash, e.ID)
		prev = e.Hash
	}
	tdb.mustExec(t, db, `UPDATE audit_head SET hash = $1 WHERE id = 1`, prev)
	if keyID != nil {
		tdb.mustExec(t, db, `UPDATE audit_head SET key_id = $1 WHERE id = 1`, *keyID)
	}
}

func TestAuditForgedChain(t *testing.T) {
	otherKey := []byte("another key of thirty-two bytes!!")
	unkeyed, blank := legacyAuditHash, ""
	withOther := func(prev string, e AuditEntry) string { return auditMAC(otherKey, prev, e) }
	tests := []struct {
		name  string
		from  int64
		sum   func(prev string, e AuditEntry) string
		keyID *string
		badID int64
	}{
		{"plain SHA-256 from the edit", 3, unkeyed, nil, 3},
		{"plain SHA-256, whole chain", 1, unkeyed, nil, 1},
		{"plain SHA-256, head downgraded to unkeyed", 3, unkeyed, &blank, 3},
		{"another key from the edit", 3, withOther, nil, 3},
		{"another key, whole chain", 1, withOther, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, tdb testDB) {
				ctx := context.Background()
				db := tdb.open(t, Options{})
				appendEntries(t, db, 5)
				rechain(t, tdb, db, tt.from, tt.sum, tt.keyID)
				res, err := db.VerifyAudit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if res.OK || res.BadID != tt.badID || !strings.Contains(res.Problem, "edited") {
					t.Errorf("VerifyAudit = %+v, want entry %d reported edited", res, tt.badID)
				}
				if tt.keyID != nil {
					_, err := db.AppendAudit(ctx, AuditEntry{Action: "create"})
					if err == nil || !strings.Contains(err.Error(), "downgraded") {
						t.Errorf("AppendAudit on a downgraded head = %v, want it refused", err)
					}
				}
			})
		})
	}

	// An attacker who also writes their key's fingerprint in the head
	// makes verification fail too, as a wrong key.
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		db := tdb.open(t, Options{})
		appendEntries(t, db, 5)
		other := keyFingerprint(otherKey)
		rechain(t, tdb, db, 1, withOther, &other)
		if res, err := db.VerifyAudit(context.Background()); err == nil || !strings.Contains(err.Error(), "another audit key") {
			t.Errorf("VerifyAudit = %+v, %v; want an error naming another key", res, err)
		}
	})
}

func TestAuditWrongKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		appendEntries(t, db, 2)
		wrong := tdb.open(t, Options{AuditKey: storetest.AuditKey(t)})
		if _, err := wrong.AppendAudit(ctx, AuditEntry{Action: "create"}); err == nil ||
			!strings.Contains(err.Error(), "another audit key") {
			t.Errorf("AppendAudit with another key = %v, want it refused", err)
		}
		if _, err := wrong.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "another audit key") {
			t.Errorf("VerifyAudit with another key = %v, want it refused", err)
		}
		if res, err := db.VerifyAudit(ctx); err != nil || res != (VerifyResult{Entries: 2, OK: true}) {
			t.Errorf("VerifyAudit with the right key = %+v, %v", res, err)
		}
	})
}

func TestAuditWithoutKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		keyless := tdb.openRaw(t, Options{})
		if _, err := keyless.AppendAudit(ctx, AuditEntry{Action: "create"}); err == nil ||
			!strings.Contains(err.Error(), "audit key is needed") {
			t.Errorf("AppendAudit without a key = %v, want the key asked for", err)
		}
		if _, err := keyless.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "audit key is needed") {
			t.Errorf("VerifyAudit without a key = %v, want the key asked for", err)
		}
		// The first keyed append binds the log to its key.
		appendEntries(t, tdb.open(t, Options{}), 1)
		if got, err := keyless.ListAudit(ctx, AuditFilter{}); err != nil || len(got) != 1 {
			t.Errorf("ListAudit without a key = %d entries, %v", len(got), err)
		}
		if _, err := Open(ctx, tdb.dsn, Options{AuditKey: []byte("short")}); err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("Open with a 5-byte key = %v, want it refused", err)
		}
	})
}

// legacyLog turns db into a database of urumi before audit keys, holding n
// entries chained with plain SHA-256.
func legacyLog(t *testing.T, tdb testDB, db DB, n int) []AuditEntry {
	t.Helper()
	tdb.mustExec(t, db, `DELETE FROM schema_migrations WHERE version >= 2`)
	if tdb.dialect == dialectPostgres {
		tdb.mustExec(t, db, `DROP TRIGGER stores_generation ON stores`)
		tdb.mustExec(t, db, `DROP FUNCTION store_generation_next()`)
		tdb.mustExec(t, db, `DROP TRIGGER store_generation_notify ON store_generation`)
		tdb.mustExec(t, db, `DROP FUNCTION urumi_notify_generation()`)
		tdb.mustExec(t, db, `DROP TRIGGER tokens_notify_update ON tokens`)
		tdb.mustExec(t, db, `DROP TRIGGER tokens_notify_delete ON tokens`)
		tdb.mustExec(t, db, `DROP FUNCTION urumi_notify_token()`)
	} else {
		for _, op := range []string{"insert", "update", "delete"} {
			tdb.mustExec(t, db, `DROP TRIGGER stores_generation_`+op)
		}
	}
	tdb.mustExec(t, db, `DROP TABLE store_generation`)
	tdb.mustExec(t, db, `DROP TABLE rate_limits`)
	tdb.mustExec(t, db, `DROP TABLE store_revisions`)
	tdb.mustExec(t, db, `DROP TABLE rollout_stores`)
	tdb.mustExec(t, db, `DROP TABLE rollouts`)
	tdb.mustExec(t, db, `DROP TABLE backups`)
	tdb.mustExec(t, db, `ALTER TABLE stores DROP COLUMN backup_due_at`)
	tdb.mustExec(t, db, `ALTER TABLE stores DROP COLUMN release`)
	tdb.mustExec(t, db, `ALTER TABLE jobs DROP COLUMN params`)
	tdb.mustExec(t, db, `ALTER TABLE audit_head DROP COLUMN key_id`)
	var entries []AuditEntry
	prev := ""
	for i := range n {
		e := AuditEntry{ID: int64(i + 1), Time: now(), Actor: "alice", Action: "create", Store: "shop",
			Outcome: "succeeded", Detail: "legacy", DurationMS: int64(i), PrevHash: prev}
		e.Hash = legacyAuditHash(prev, e)
		tdb.mustExec(t, db, `INSERT INTO audit_log (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.ID, toMicros(e.Time), e.Actor, e.Action, e.Store, e.Outcome, e.Detail, e.DurationMS, e.PrevHash, e.Hash)
		tdb.mustExec(t, db, `UPDATE audit_head SET last_id = $1, hash = $2 WHERE id = 1`, e.ID, e.Hash)
		entries = append(entries, e)
		prev = e.Hash
	}
	return entries
}

func TestAuditLegacyConversion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		legacy := legacyLog(t, tdb, tdb.openRaw(t, Options{}), 3)

		if _, err := Open(ctx, tdb.dsn, Options{}); err == nil || !strings.Contains(err.Error(), "audit key is needed") {
			t.Errorf("Open of an unkeyed log without a key = %v, want the key asked for", err)
		}
		db := tdb.open(t, Options{})
		res, err := db.VerifyAudit(ctx)
		if err != nil || res != (VerifyResult{Entries: 4, OK: true}) {
			t.Fatalf("VerifyAudit after conversion = %+v, %v", res, err)
		}
		got, err := db.ListAudit(ctx, AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range legacy {
			g := got[i]
			if g.ID != e.ID || g.Detail != e.Detail || !g.Time.Equal(e.Time) || g.Hash == e.Hash {
				t.Errorf("converted entry %d = %+v, want %+v with a new hash", e.ID, g, e)
			}
		}
		if rekey := got[3]; rekey.Action != "audit.rekey" || !strings.Contains(rekey.Detail, "entries 1-3") {
			t.Errorf("last entry = %+v, want the audit.rekey entry", rekey)
		}
		// Converted once: opening again changes nothing.
		again := tdb.open(t, Options{})
		if res, err := again.VerifyAudit(ctx); err != nil || res.Entries != 4 || !res.OK {
			t.Errorf("VerifyAudit after reopening = %+v, %v", res, err)
		}
		// The append-only trigger is back.
		if err := tdb.exec(t, db, `UPDATE audit_log SET detail = 'x' WHERE id = 1`); err == nil ||
			!strings.Contains(err.Error(), "append-only") {
			t.Errorf("UPDATE after conversion = %v, want it refused as append-only", err)
		}
	})
}

func TestAuditLegacyBrokenIsNotConverted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		db := tdb.openRaw(t, Options{})
		legacyLog(t, tdb, db, 3)
		tdb.dropTrigger(t, db, "audit_log_no_update")
		tdb.mustExec(t, db, `UPDATE audit_log SET detail = 'forged' WHERE id = 2`)
		_, err := Open(context.Background(), tdb.dsn, Options{AuditKey: tdb.key})
		if err == nil || !strings.Contains(err.Error(), "already broken at entry 2") {
			t.Errorf("Open of a broken unkeyed log = %v, want it refused naming entry 2", err)
		}
	})
}

func TestLoadAuditKey(t *testing.T) {
	hexKey := hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	tests := []struct {
		name    string
		content string // "" : no file
		mode    os.FileMode
		owner   int // -1: this user
		create  bool
		wantErr string
		mode2   os.FileMode // the mode after loading, 0: unchecked
	}{
		{"hex key", hexKey + "\n", 0o600, -1, false, "", 0o600},
		{"longer key", hexKey + hexKey, 0o400, -1, false, "", 0o400},
		{"missing", "", 0, -1, false, "does not exist", 0},
		{"created", "", 0, -1, true, "", 0o600},
		{"readable by others, ours", hexKey, 0o644, -1, false, "", 0o600},
		{"readable by others, not ours", hexKey, 0o644, 65534, false, "run `chmod 600 ", 0o644},
		{"short", hex.EncodeToString([]byte("short")), 0o600, -1, false, "at least 32", 0},
		{"not hex", strings.Repeat("z", 64), 0o600, -1, false, "does not hold a key", 0},
		{"empty", "\n", 0o600, -1, false, "does not hold a key", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys", "audit.key")
			if tt.content != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
				if tt.owner >= 0 {
					if os.Geteuid() != 0 {
						t.Skip("giving a file to another user needs root")
					}
					if err := os.Chown(path, tt.owner, tt.owner); err != nil {
						t.Fatal(err)
					}
				}
			}
			key, err := LoadAuditKey(path, tt.create)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadAuditKey = %v, want an error with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), strings.TrimSpace(tt.content)) && strings.TrimSpace(tt.content) != "" {
					t.Errorf("the error quotes the file's content: %v", err)
				}
			} else if err != nil || len(key) < MinAuditKeyLen {
				t.Fatalf("LoadAuditKey = %d bytes, %v", len(key), err)
			}
			if tt.mode2 != 0 {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != tt.mode2 {
					t.Errorf("mode after loading = %04o, want %04o", fi.Mode().Perm(), tt.mode2)
				}
			}
			if tt.create {
				dir, err := os.Stat(filepath.Dir(path))
				if err != nil || dir.Mode().Perm() != 0o700 {
					t.Errorf("key directory mode = %v, %v; want 0700", dir.Mode().Perm(), err)
				}
				again, err := LoadAuditKey(path, true)
				if err != nil || !hmac.Equal(again, key) {
					t.Errorf("loading the created key again = %x, %v; want the same key", again, err)
				}
			}
		})
	}

	// A Secret as kubelet mounts it: the path is a symlink into a
	// timestamped directory.
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_12_01_00_00_00.1")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "audit.key"), []byte(hexKey), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/audit.key", filepath.Join(dir, "audit.key")); err != nil {
		t.Fatal(err)
	}
	key, err := LoadAuditKey(filepath.Join(dir, "audit.key"), false)
	if err != nil || hex.EncodeToString(key) != hexKey {
		t.Errorf("LoadAuditKey through symlinks = %x, %v", key, err)
	}
}
