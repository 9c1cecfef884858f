package store

import (
	"context"
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

// auditHash chains e to the entry before it:
//
//	hex(sha256(prevHash + JSON([id, unix microseconds, actor, action, store, outcome, detail, durationMs])))
//
// JSON gives every field an unambiguous, deterministic encoding.
func auditHash(prevHash string, e AuditEntry) string {
	fields, err := json.Marshal([]any{e.ID, e.Time.UnixMicro(), e.Actor, e.Action, e.Store, e.Outcome, e.Detail, e.DurationMS})
	if err != nil {
		panic(err) // ints and strings always encode
	}
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(fields)
	return hex.EncodeToString(h.Sum(nil))
}

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

// AppendAudit adds e after the newest entry. It sets ID, PrevHash and Hash,
// and Time if zero. Appends lock the head row, so concurrent writers on any
// number of processes take turns and the chain never forks.
func (d *sqlDB) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if e.Action == "" {
		return AuditEntry{}, errors.New("append audit entry: action is required")
	}
	for _, s := range []string{e.Actor, e.Action, e.Store, e.Outcome, e.Detail} {
		if !utf8.ValidString(s) {
			return AuditEntry{}, fmt.Errorf("append audit entry %q: fields must be valid UTF-8", e.Action)
		}
	}
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond) // as stored
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var lastID int64
		err := tx.QueryRowContext(ctx, `SELECT last_id, hash FROM audit_head WHERE id = 1`+d.forUpdate()).
			Scan(&lastID, &e.PrevHash)
		if errors.Is(err, sql.ErrNoRows) {
			return errors.New("the audit head record is missing: the log was tampered with; run audit verification")
		}
		if err != nil {
			return err
		}
		e.ID = lastID + 1
		e.Hash = auditHash(e.PrevHash, e)
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+auditColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.ID, toMicros(e.Time), e.Actor, e.Action, e.Store, e.Outcome, e.Detail, e.DurationMS,
			e.PrevHash, e.Hash); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE audit_head SET last_id = $1, hash = $2 WHERE id = 1`, e.ID, e.Hash)
		return err
	})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("append audit entry %q: %w", e.Action, err)
	}
	return e, nil
}

// ListAudit lists matching entries oldest first; with a Limit, the newest
// Limit of them.
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
	rows, err := d.db.QueryContext(ctx, query, args...)
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

// VerifyAudit walks the chain from the first entry and reports the first
// place it breaks. ids are gapless, so a missing id is a deleted entry; an
// entry whose hash does not match its contents was edited; the head record
// catches entries deleted from the end.
func (d *sqlDB) VerifyAudit(ctx context.Context) (VerifyResult, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if d.dialect == dialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead // one snapshot for log and head
	}
	tx, err := d.db.BeginTx(ctx, opts)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	res := VerifyResult{OK: true}
	fail := func(id int64, problem string, args ...any) {
		if res.OK {
			res.OK, res.BadID, res.Problem = false, id, fmt.Sprintf(problem, args...)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY id`)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
	}
	defer rows.Close()
	var (
		lastID   int64
		lastHash string
	)
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
		}
		res.Entries++
		switch {
		case !res.OK:
		case e.ID != lastID+1:
			fail(lastID+1, "entry %d is missing (the next entry is %d): entries were deleted", lastID+1, e.ID)
		case e.Hash != auditHash(e.PrevHash, e):
			fail(e.ID, "entry %d does not match its hash: it was edited", e.ID)
		case e.PrevHash != lastHash:
			fail(e.ID, "entry %d does not chain to entry %d (prev hash mismatch): entry %d was replaced or entries were deleted",
				e.ID, lastID, lastID)
		}
		lastID, lastHash = e.ID, e.Hash
	}
	if err := rows.Err(); err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit log: %w", err)
	}
	var (
		headID   int64
		headHash string
	)
	err = tx.QueryRowContext(ctx, `SELECT last_id, hash FROM audit_head WHERE id = 1`).Scan(&headID, &headHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		fail(lastID, "the head record is missing: it was deleted")
	case err != nil:
		return VerifyResult{}, fmt.Errorf("verify audit log: read head: %w", err)
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
