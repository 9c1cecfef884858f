package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// BackupStatus is where a backup is.
type BackupStatus string

// Backup statuses. A queued or running backup has no snapshots yet; a
// deleting one is having its snapshots removed from the repository.
const (
	BackupQueued    BackupStatus = "queued"
	BackupRunning   BackupStatus = "running"
	BackupSucceeded BackupStatus = "succeeded"
	BackupFailed    BackupStatus = "failed"
	BackupDeleting  BackupStatus = "deleting"
)

// BackupKind says who started a backup: a person, or a schedule.
type BackupKind string

// Backup kinds.
const (
	BackupManual    BackupKind = "manual"
	BackupScheduled BackupKind = "scheduled"
)

// Backup is urumi's record of one backup of a store: restic's snapshots of
// its database dump and its WordPress files, in the operator's repository.
// It never holds a credential. It outlives its store, by name and owner.
type Backup struct {
	ID     string       `json:"id"`
	Store  string       `json:"store"`
	Owner  string       `json:"owner"`
	Kind   BackupKind   `json:"kind"`
	Status BackupStatus `json:"status"`
	Actor  string       `json:"actor"`
	// JobID is the job that took (or deletes) the backup.
	JobID      int64     `json:"jobId,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Size is the bytes backed up (the dump's and the files'), 0 when
	// unknown.
	Size int64 `json:"size"`
	// DBSnapshot and FilesSnapshot are restic's snapshot IDs, empty when
	// the backup Job reported none.
	DBSnapshot    string `json:"dbSnapshot,omitempty"`
	FilesSnapshot string `json:"filesSnapshot,omitempty"`
	Error         string `json:"error,omitempty"`
}

// BackupFilter selects backups, newest first. Empty fields select all.
type BackupFilter struct {
	Store string
	Owner string
}

// Backups keeps the record of store backups.
type Backups interface {
	// CreateBackup records b with its ID, store, owner, kind, status,
	// actor and job; ErrNameTaken when the ID is in use.
	CreateBackup(ctx context.Context, b Backup) (Backup, error)
	GetBackup(ctx context.Context, id string) (Backup, error)
	ListBackups(ctx context.Context, f BackupFilter) ([]Backup, error)
	// UpdateBackup writes a backup's status, job, finish time, size,
	// snapshots and error.
	UpdateBackup(ctx context.Context, b Backup) error
	// RemoveBackup drops a backup's record once its snapshots are gone.
	RemoveBackup(ctx context.Context, id string) error
	// BackupStats are the figures of every store's backups.
	BackupStats(ctx context.Context) (BackupStats, error)
}

// BackupStats sum up the backups for the metrics.
type BackupStats struct {
	// LastSuccess is when the newest succeeded backup finished (zero:
	// none has).
	LastSuccess time.Time
	// StoresFailing counts live stores whose newest backup failed.
	StoresFailing int
}

const backupColumns = `id, store, owner, kind, status, actor, job_id, created_at, finished_at, size,
	db_snapshot, files_snapshot, error FROM backups`

func scanBackup(row scanner) (Backup, error) {
	var (
		b          Backup
		createdAt  int64
		finishedAt sql.NullInt64
	)
	if err := row.Scan(&b.ID, &b.Store, &b.Owner, &b.Kind, &b.Status, &b.Actor, &b.JobID, &createdAt, &finishedAt,
		&b.Size, &b.DBSnapshot, &b.FilesSnapshot, &b.Error); err != nil {
		return Backup{}, err
	}
	b.CreatedAt, b.FinishedAt = fromMicros(createdAt), fromNullMicros(finishedAt)
	return b, nil
}

func backupNotFound(id string) error {
	return fmt.Errorf("backup %q: %w", id, ErrNotFound)
}

func validBackup(b Backup) error {
	switch b.Status {
	case BackupQueued, BackupRunning, BackupSucceeded, BackupFailed, BackupDeleting:
	default:
		return fmt.Errorf("backup %q: unknown status %q", b.ID, b.Status)
	}
	switch b.Kind {
	case BackupManual, BackupScheduled:
	default:
		return fmt.Errorf("backup %q: unknown kind %q", b.ID, b.Kind)
	}
	if b.ID == "" || b.Store == "" || b.Owner == "" {
		return fmt.Errorf("backup %q: an ID, a store and an owner are required", b.ID)
	}
	return nil
}

func (d *sqlDB) CreateBackup(ctx context.Context, b Backup) (Backup, error) {
	if b.Kind == "" {
		b.Kind = BackupManual
	}
	if b.Status == "" {
		b.Status = BackupQueued
	}
	if err := validBackup(b); err != nil {
		return Backup{}, fmt.Errorf("create backup: %w", err)
	}
	if b.CreatedAt.IsZero() {
		b.CreatedAt = now()
	}
	b.CreatedAt = fromMicros(toMicros(b.CreatedAt))
	res, err := d.q().ExecContext(ctx, `INSERT INTO backups (id, store, owner, kind, status, actor, job_id, created_at,
		finished_at, size, db_snapshot, files_snapshot, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING`,
		b.ID, b.Store, b.Owner, b.Kind, b.Status, b.Actor, b.JobID, toMicros(b.CreatedAt), nullMicros(b.FinishedAt),
		b.Size, b.DBSnapshot, b.FilesSnapshot, b.Error)
	if err != nil {
		return Backup{}, fmt.Errorf("create backup %q: %w", b.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Backup{}, fmt.Errorf("create backup %q: %w", b.ID, err)
	} else if n == 0 {
		return Backup{}, fmt.Errorf("backup %q exists: %w", b.ID, ErrNameTaken)
	}
	return b, nil
}

func (d *sqlDB) GetBackup(ctx context.Context, id string) (Backup, error) {
	b, err := scanBackup(d.q().QueryRowContext(ctx, `SELECT `+backupColumns+` WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Backup{}, backupNotFound(id)
	}
	if err != nil {
		return Backup{}, fmt.Errorf("get backup %q: %w", id, err)
	}
	return b, nil
}

func (d *sqlDB) ListBackups(ctx context.Context, f BackupFilter) ([]Backup, error) {
	rows, err := d.q().QueryContext(ctx, `SELECT `+backupColumns+`
		WHERE ($1 = '' OR store = $1) AND ($2 = '' OR owner = $2)
		ORDER BY created_at DESC, id DESC`, f.Store, f.Owner)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	defer rows.Close()
	list := []Backup{}
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			return nil, fmt.Errorf("list backups: %w", err)
		}
		list = append(list, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	return list, nil
}

func (d *sqlDB) UpdateBackup(ctx context.Context, b Backup) error {
	if err := validBackup(Backup{ID: b.ID, Store: "-", Owner: "-", Kind: BackupManual, Status: b.Status}); err != nil {
		return fmt.Errorf("update backup: %w", err)
	}
	res, err := d.q().ExecContext(ctx, `UPDATE backups SET status = $2, job_id = $3, finished_at = $4, size = $5,
		db_snapshot = $6, files_snapshot = $7, error = $8 WHERE id = $1`,
		b.ID, b.Status, b.JobID, nullMicros(b.FinishedAt), b.Size, b.DBSnapshot, b.FilesSnapshot, b.Error)
	if err != nil {
		return fmt.Errorf("update backup %q: %w", b.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update backup %q: %w", b.ID, err)
	} else if n == 0 {
		return backupNotFound(b.ID)
	}
	return nil
}

func (d *sqlDB) RemoveBackup(ctx context.Context, id string) error {
	res, err := d.q().ExecContext(ctx, `DELETE FROM backups WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("remove backup %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("remove backup %q: %w", id, err)
	} else if n == 0 {
		return backupNotFound(id)
	}
	return nil
}

func (d *sqlDB) BackupStats(ctx context.Context) (BackupStats, error) {
	var (
		st   BackupStats
		last sql.NullInt64
	)
	err := d.q().QueryRowContext(ctx, `SELECT
		(SELECT MAX(finished_at) FROM backups WHERE status = 'succeeded'),
		(SELECT COUNT(*) FROM backups b JOIN stores s ON s.name = b.store AND s.deleted_at IS NULL
			WHERE b.status = 'failed' AND b.created_at = (SELECT MAX(c.created_at) FROM backups c WHERE c.store = b.store))`,
	).Scan(&last, &st.StoresFailing)
	if err != nil {
		return BackupStats{}, fmt.Errorf("read backup stats: %w", err)
	}
	st.LastSuccess = fromNullMicros(last)
	return st, nil
}
