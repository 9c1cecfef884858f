package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

const auditColumns = `id, at, actor, action, store, outcome, detail, duration_ms, prev_hash, hash`

// auditFields is what an entry's hash covers besides the previous hash:
// JSON gives every field an unambiguous, deterministic encoding.
func auditFields(e AuditEntry) []byte {
	fields, err := json.Marshal([]any{e.ID, e.Time.UnixMicro(), e.Actor, e.Action, e.Store, e.Outcome, e.Detail, e.DurationMS})
	if err != nil {
		panic(err) // ints and strings always encode
	}
	return fields
}

// auditMAC chains e to the entry before it under the audit key:
//
//	hex(HMAC-SHA256(key, prevHash + JSON([id, unix microseconds, actor, action, store, outcome, detail, durationMs])))
func auditMAC(key []byte, prevHash string, e AuditEntry) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(prevHash))
	m.Write(auditFields(e))
	return hex.EncodeToString(m.Sum(nil))
}

// legacyAuditHash is the unkeyed chain of logs written before audit keys,
// hex(sha256(prevHash + the same JSON)); only converting such a log reads it.
func legacyAuditHash(prevHash string, e AuditEntry) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(auditFields(e))
	return hex.EncodeToString(h.Sum(nil))
}

// keyFingerprint names a key without revealing it. The audit head keeps the
// fingerprint of the key its chain is written with, so that a process with
// another key refuses to append instead of forking the chain.
func keyFingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("urumi audit key fingerprint v1"))
	return hex.EncodeToString(m.Sum(nil))[:16]
}

// errNoAuditKey is returned by audit writes and verification on a handle
// opened without the key.
var errNoAuditKey = errors.New("the audit key is needed: give urumi the key file the audit log is written with")

func scanAudit(row scanner) (AuditEntry, error) {
	var (
		e  AuditEntry
		at int64
	)
	if err := row.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Store, &e.Outcome, &e.Detail, &e.DurationMS,
		&e.PrevHash, &e.Hash); err != nil {
		return AuditEntry{}, err
	}
	e.Time = fromMicros(at)
	return e, nil
}

// auditHead is the audit_head row: the newest entry and the key the chain
// is written with ("" before the first keyed append).
type auditHead struct {
	lastID int64
	hash   string
	keyID  string
}

func readAuditHead(ctx context.Context, q querier, lock string) (auditHead, error) {
	var h auditHead
	err := q.QueryRowContext(ctx, `SELECT last_id, hash, key_id FROM audit_head WHERE id = 1`+lock).
		Scan(&h.lastID, &h.hash, &h.keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return h, errors.New("the audit head record is missing: the log was tampered with; run audit verification")
	}
	return h, err
}

// AppendAudit adds e after the newest entry. It sets ID, PrevHash and Hash,
// and Time if zero. Appends lock the head row, so concurrent writers on any
// number of processes take turns and the chain never forks; a process whose
// key is not the one the chain is written with is refused.
func (d *sqlDB) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if e.Action == "" {
		return AuditEntry{}, errors.New("append audit entry: action is required")
	}
	for _, s := range []string{e.Actor, e.Action, e.Store, e.Outcome, e.Detail} {
		if !utf8.ValidString(s) {
			return AuditEntry{}, fmt.Errorf("append audit entry %q: fields must be valid UTF-8", e.Action)
		}
	}
	if d.auditKey == nil {
		return AuditEntry{}, fmt.Errorf("append audit entry %q: %w", e.Action, errNoAuditKey)
	}
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond) // as stored
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = d.appendAudit(ctx, tx, e)
		return err
	})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("append audit entry %q: %w", e.Action, err)
	}
	return e, nil
}

// appendAudit appends e in tx under d's key.
func (d *sqlDB) appendAudit(ctx context.Context, tx querier, e AuditEntry) (AuditEntry, error) {
	head, err := readAuditHead(ctx, tx, d.forUpdate())
	if err != nil {
		return e, err
	}
	switch {
	case head.keyID == "" && head.lastID != 0:
		return e, fmt.Errorf("the audit head names no key but the log has %d entries: "+
			"the log was tampered with (downgraded to an unkeyed chain); run audit verification", head.lastID)
	case head.keyID != "" && head.keyID != d.keyID:
		return e, fmt.Errorf("the audit log is written with another audit key (fingerprint %s) than this "+
			"process has (fingerprint %s): give every urumi process the same key file; "+
			"a new key cannot continue the chain", head.keyID, d.keyID)
	}
	e.ID, e.PrevHash = head.lastID+1, head.hash
	e.Hash = auditMAC(d.auditKey, e.PrevHash, e)
	insert := `INSERT INTO audit_log (` + auditColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	args := []any{e.ID, toMicros(e.Time), e.Actor, e.Action, e.Store, e.Outcome, e.Detail, e.DurationMS, e.PrevHash, e.Hash}
	if d.dialect == dialectPostgres {
		// The entry and the head in one statement, one round trip to the
		// server instead of two (SQLite, in the process, takes no
		// INSERT in a WITH).
		_, err = tx.ExecContext(ctx, `WITH entry AS (`+insert+`)
			UPDATE audit_head SET last_id = $1, hash = $10, key_id = $11 WHERE id = 1`, append(args, d.keyID)...)
		return e, err
	}
	if _, err := tx.ExecContext(ctx, insert, args...); err != nil {
		return e, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE audit_head SET last_id = $1, hash = $2, key_id = $3 WHERE id = 1`,
		e.ID, e.Hash, d.keyID)
	return e, err
}

// ListAudit lists matching entries oldest first; with a Limit, the newest
// Limit of them; with Before, only those older than that ID.
func (d *sqlDB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	if f.Store != "" {
		args = append(args, f.Store)
		where = append(where, fmt.Sprintf("store = $%d", len(args)))
	}
	if f.Actor != "" {
		args = append(args, f.Actor)
		where = append(where, fmt.Sprintf("actor = $%d", len(args)))
	}
	if f.Before > 0 {
		args = append(args, f.Before)
		where = append(where, fmt.Sprintf("id < $%d", len(args)))
	}
	if !f.Since.IsZero() {
		args = append(args, toMicros(f.Since))
		where = append(where, fmt.Sprintf("at >= $%d", len(args)))
	}
	query := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Limit > 0 {
		args = append(args, f.Limit)
		query += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	} else {
		query += ` ORDER BY id`
	}
	rows, err := d.q().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	entries := []AuditEntry{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit log: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	if f.Limit > 0 {
		for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
			entries[i], entries[j] = entries[j], entries[i]
		}
	}
	return entries, nil
}

// VerifyAudit walks the chain from the first entry under the audit key and
// reports the first place it breaks. ids are gapless, so a missing id is a
// deleted entry; an entry whose MAC does not match its contents was edited
// (an unkeyed or otherwise keyed chain recomputed over edits fails here);
// the head record catches entries deleted from the end.
func (d *sqlDB) VerifyAudit(ctx context.Context) (VerifyResult, error) {
	if d.auditKey == nil {
		return VerifyResult{}, fmt.Errorf("verify audit log: %w", errNoAuditKey)
	}
	q := d.q()
	if d.tx == nil {
		opts := &sql.TxOptions{ReadOnly: true}
		if d.dialect == dialectPostgres {
			opts.Isolation = sql.LevelRepeatableRead // one snapshot for log and head
		}
		tx, err := d.db.BeginTx(ctx, opts)
		if err != nil {
			return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // read-only
		q = tx
	}
	// A missing head is reported by walkAuditChain.
	var keyID string
	err := q.QueryRowContext(ctx, `SELECT key_id FROM audit_head WHERE id = 1`).Scan(&keyID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return VerifyResult{}, fmt.Errorf("verify audit log: read head: %w", err)
	}
	if keyID != "" && keyID != d.keyID {
		return VerifyResult{}, fmt.Errorf("verify audit log: the log is written with another audit key (fingerprint %s) "+
			"than the one given (fingerprint %s), or its head record was altered: verify with the key the log is written with",
			keyID, d.keyID)
	}
	res, err := walkAuditChain(ctx, q, func(prev string, e AuditEntry) string { return auditMAC(d.auditKey, prev, e) })
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
	}
	if res.OK && res.Entries > 0 && keyID == "" {
		res.OK, res.BadID, res.Problem = false, int64(res.Entries),
			"the head record names no key although the log has entries: it was altered"
	}
	return res, nil
}

// walkAuditChain checks the chain and the head with sum, the chain's hash.
func walkAuditChain(ctx context.Context, q querier, sum func(prev string, e AuditEntry) string) (VerifyResult, error) {
	res := VerifyResult{OK: true}
	fail := func(id int64, problem string, args ...any) {
		if res.OK {
			res.OK, res.BadID, res.Problem = false, id, fmt.Sprintf(problem, args...)
		}
	}
	rows, err := q.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY id`)
	if err != nil {
		return VerifyResult{}, err
	}
	defer rows.Close()
	var (
		lastID   int64
		lastHash string
	)
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return VerifyResult{}, err
		}
		res.Entries++
		switch {
		case !res.OK:
		case e.ID != lastID+1:
			fail(lastID+1, "entry %d is missing (the next entry is %d): entries were deleted", lastID+1, e.ID)
		case !hmac.Equal([]byte(e.Hash), []byte(sum(e.PrevHash, e))):
			fail(e.ID, "entry %d does not match its hash: it was edited", e.ID)
		case e.PrevHash != lastHash:
			fail(e.ID, "entry %d does not chain to entry %d (prev hash mismatch): entry %d was replaced or entries were deleted",
				e.ID, lastID, lastID)
		}
		lastID, lastHash = e.ID, e.Hash
	}
	if err := rows.Err(); err != nil {
		return VerifyResult{}, err
	}
	var (
		headID   int64
		headHash string
	)
	err = q.QueryRowContext(ctx, `SELECT last_id, hash FROM audit_head WHERE id = 1`).Scan(&headID, &headHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		fail(lastID, "the head record is missing: it was deleted")
	case err != nil:
		return VerifyResult{}, fmt.Errorf("read head: %w", err)
	case headID > lastID:
		fail(lastID+1, "the log ends at entry %d but the head records entry %d: the log was truncated", lastID, headID)
	case headID < lastID:
		fail(headID+1, "the head records entry %d but the log goes on to entry %d: entries were added outside urumi",
			headID, lastID)
	case headHash != lastHash:
		fail(lastID, "entry %d does not match the head hash: it was replaced (head mismatch)", lastID)
	}
	return res, nil
}

// keyAuditLog binds the audit log to the key when the migration that
// introduced audit keys runs, once per database, in its transaction. An
// empty log takes the key's fingerprint (or the first keyed append does);
// an unkeyed log written before is checked first (a broken one is refused:
// keying it would hide the damage), then every entry is chained anew under
// the key and an audit.rekey entry records the conversion.
func (d *sqlDB) keyAuditLog(ctx context.Context, tx querier) error {
	head, err := readAuditHead(ctx, tx, d.forUpdate())
	if err != nil {
		return err
	}
	if head.lastID == 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if d.auditKey == nil {
				return nil
			}
			_, err := tx.ExecContext(ctx, `UPDATE audit_head SET key_id = $1 WHERE id = 1`, d.keyID)
			return err
		}
	}
	if d.auditKey == nil {
		return fmt.Errorf("the audit log holds entries written before audit logs were keyed: "+
			"open the database once with the audit key to convert them: %w", errNoAuditKey)
	}
	res, err := walkAuditChain(ctx, tx, legacyAuditHash)
	if err != nil {
		return fmt.Errorf("check the unkeyed audit log: %w", err)
	}
	if !res.OK {
		return fmt.Errorf("the audit log, written before audit logs were keyed, is already broken at entry %d (%s): "+
			"it cannot be converted to a keyed chain, which would hide that; keep a copy of the database for "+
			"investigation and restore the database from a backup taken before the damage", res.BadID, res.Problem)
	}
	entries, err := d.allAudit(ctx, tx)
	if err != nil {
		return err
	}
	// The append-only trigger stops UPDATE; lift it for this transaction.
	if d.dialect == dialectPostgres {
		_, err = tx.ExecContext(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`)
	} else {
		_, err = tx.ExecContext(ctx, `DROP TRIGGER audit_log_no_update`)
	}
	if err != nil {
		return fmt.Errorf("lift the audit log's append-only trigger: %w", err)
	}
	prev := ""
	for _, e := range entries {
		e.PrevHash = prev
		e.Hash = auditMAC(d.auditKey, prev, e)
		if _, err := tx.ExecContext(ctx, `UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3`,
			e.PrevHash, e.Hash, e.ID); err != nil {
			return fmt.Errorf("key audit entry %d: %w", e.ID, err)
		}
		prev = e.Hash
	}
	if d.dialect == dialectPostgres {
		_, err = tx.ExecContext(ctx, `ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`)
	} else {
		_, err = tx.ExecContext(ctx, `CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END`)
	}
	if err != nil {
		return fmt.Errorf("restore the audit log's append-only trigger: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_head SET hash = $1, key_id = $2 WHERE id = 1`, prev, d.keyID); err != nil {
		return err
	}
	_, err = d.appendAudit(ctx, tx, AuditEntry{
		Time: now(), Actor: "urumi", Action: "audit.rekey", Outcome: "succeeded",
		Detail: fmt.Sprintf("entries 1-%d, written before audit logs were keyed, verified and chained anew under the audit key "+
			"(fingerprint %s); the unkeyed chain ended with hash %s", head.lastID, d.keyID, head.hash),
	})
	return err
}

func (d *sqlDB) allAudit(ctx context.Context, q querier) ([]AuditEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, rows.Err()
}
