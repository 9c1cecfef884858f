package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

const storeColumns = `name, owner, plan, status, namespace, url, error, phases, options, created_at, updated_at, release`

var statuses = []Status{StatusQueued, StatusProvisioning, StatusReady, StatusFailed, StatusDeleting, StatusUpgrading, StatusDegraded}

// Statuses lists every store status, in lifecycle order.
func Statuses() []Status { return slices.Clone(statuses) }

func validStatus(s Status) bool {
	for _, v := range statuses {
		if s == v {
			return true
		}
	}
	return false
}

type scanner interface {
	Scan(dest ...any) error
}

// storeScanner reads storeColumns rows into Stores. It keeps its scan
// destinations between rows so a long list allocates little beyond the
// Stores themselves.
type storeScanner struct {
	status               string
	phases, release      sql.NullString
	createdAt, updatedAt int64
}

// scan reads row into *s.
func (sc *storeScanner) scan(row scanner, s *Store) error {
	if err := row.Scan(&s.Name, &s.Owner, &s.Plan, &sc.status, &s.Namespace, &s.URL, &s.Error,
		&sc.phases, &s.Options, &sc.createdAt, &sc.updatedAt, &sc.release); err != nil {
		return err
	}
	s.Status, s.CreatedAt, s.UpdatedAt = Status(sc.status), fromMicros(sc.createdAt), fromMicros(sc.updatedAt)
	var err error
	if s.Phases, err = decodePhases(sc.phases.String); err != nil {
		return fmt.Errorf("store %q: decode phases: %w", s.Name, err)
	}
	s.Release = Release{}
	if sc.release.Valid && sc.release.String != "" {
		if err := json.Unmarshal([]byte(sc.release.String), &s.Release); err != nil {
			return fmt.Errorf("store %q: decode release: %w", s.Name, err)
		}
	}
	return nil
}

func (d *sqlDB) CreateStore(ctx context.Context, s Store, actor string) (Store, Job, error) {
	return d.CreateStoreJob(ctx, s, actor, JobCreate, nil)
}

func (d *sqlDB) CreateStoreJob(ctx context.Context, s Store, actor string, kind JobKind, params []byte) (Store, Job, error) {
	defer d.storesChanged()
	switch kind {
	case JobCreate, JobRestore:
	default:
		return Store{}, Job{}, fmt.Errorf("create store %q: a new store's first job is a create or a restore, not %q", s.Name, kind)
	}
	if len(params) > 0 && !json.Valid(params) {
		return Store{}, Job{}, fmt.Errorf("create store %q: job params are not valid JSON", s.Name)
	}
	var jobParams sql.NullString
	if len(params) > 0 {
		jobParams = sql.NullString{String: string(params), Valid: true}
	}
	if s.Name == "" || s.Owner == "" {
		return Store{}, Job{}, fmt.Errorf("create store %q: name and owner are required", s.Name)
	}
	var options sql.NullString
	if len(s.Options) > 0 {
		if !json.Valid(s.Options) {
			return Store{}, Job{}, fmt.Errorf("create store %q: options are not valid JSON", s.Name)
		}
		options = sql.NullString{String: string(s.Options), Valid: true}
	}
	t := now()
	s.Status, s.CreatedAt, s.UpdatedAt = StatusQueued, t, t
	phases, err := encodePhases(s.Phases)
	if err != nil {
		return Store{}, Job{}, err
	}
	if s.Phases, err = decodePhases(phases.String); err != nil { // as GetStore will return them
		return Store{}, Job{}, err
	}
	job := Job{Store: s.Name, Kind: kind, State: JobQueued, Actor: actor, CreatedAt: t, UpdatedAt: t, Params: params}
	err = d.inTx(ctx, func(tx *sql.Tx) error {
		if d.dialect == dialectPostgres {
			// Creates for one owner run one at a time on every process, so
			// the count below stays true until commit.
			if _, err := tx.ExecContext(ctx,
				`SELECT pg_advisory_xact_lock(hashtext('urumi.owner/' || COALESCE(current_schema(), '') || '/' || $1::text))`,
				s.Owner); err != nil {
				return fmt.Errorf("lock owner %q: %w", s.Owner, err)
			}
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM stores WHERE name = $1 AND deleted_at IS NULL`, s.Name).Scan(&one)
		if err == nil {
			return nameTaken(s.Name)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		q, err := getQuota(ctx, tx, s.Owner, d.defaultMax)
		if err != nil {
			return err
		}
		if q.Used >= q.MaxStores {
			return fmt.Errorf("owner %q has %d of %d stores: delete one or ask an admin to raise the limit: %w",
				s.Owner, q.Used, q.MaxStores, ErrQuotaExceeded)
		}
		// The name check above cannot see a create of the same name by
		// another owner that commits after it; the partial unique index
		// catches that one.
		var storeID int64
		err = tx.QueryRowContext(ctx, `INSERT INTO stores
			(name, owner, plan, status, namespace, url, error, phases, options, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
			ON CONFLICT (name) WHERE deleted_at IS NULL DO NOTHING
			RETURNING id`,
			s.Name, s.Owner, s.Plan, s.Status, s.Namespace, s.URL, s.Error, phases, options, toMicros(t),
		).Scan(&storeID)
		if errors.Is(err, sql.ErrNoRows) {
			return nameTaken(s.Name)
		}
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO jobs (store_id, kind, state, actor, created_at, updated_at, params)
			VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id`,
			storeID, job.Kind, job.State, actor, toMicros(t), jobParams).Scan(&job.ID)
	})
	if err != nil {
		if errors.Is(err, ErrNameTaken) || errors.Is(err, ErrQuotaExceeded) {
			return Store{}, Job{}, err
		}
		return Store{}, Job{}, fmt.Errorf("create store %q: %w", s.Name, err)
	}
	return s, job, nil
}

func nameTaken(name string) error {
	return fmt.Errorf("store %q already exists: choose another name or delete it first: %w", name, ErrNameTaken)
}

func storeNotFound(name string) error {
	return fmt.Errorf("store %q: %w", name, ErrNotFound)
}

func (d *sqlDB) GetStore(ctx context.Context, name string) (Store, error) {
	var s Store
	err := new(storeScanner).scan(d.q().QueryRowContext(ctx,
		`SELECT `+storeColumns+` FROM stores WHERE name = $1 AND deleted_at IS NULL`, name), &s)
	if errors.Is(err, sql.ErrNoRows) {
		return Store{}, storeNotFound(name)
	}
	if err != nil {
		return Store{}, fmt.Errorf("get store %q: %w", name, err)
	}
	return s, nil
}

// listColumns are storeColumns without options, which lists never need.
const listColumns = `name, owner, plan, status, namespace, url, error, phases, NULL, created_at, updated_at, release`

func (d *sqlDB) ListStores(ctx context.Context, f ListFilter) ([]Store, error) {
	// Keyset paging over the live-name indexes (stores_live_name and
	// stores_live_owner): each page is an index range scan, however deep.
	where := []string{"deleted_at IS NULL"}
	var args []any
	if f.Owner != "" {
		args = append(args, f.Owner)
		where = append(where, fmt.Sprintf("owner = $%d", len(args)))
	}
	if f.Status != "" {
		args = append(args, string(f.Status))
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if f.Plan != "" {
		args = append(args, f.Plan)
		where = append(where, fmt.Sprintf("plan = $%d", len(args)))
	}
	if f.After != "" {
		args = append(args, f.After)
		where = append(where, fmt.Sprintf("name > $%d", len(args)))
	}
	query := `SELECT ` + listColumns + ` FROM stores WHERE ` + strings.Join(where, " AND ") + ` ORDER BY name`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := d.q().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	defer rows.Close()
	var sc storeScanner
	stores := make([]Store, 0, 64)
	for rows.Next() {
		if len(stores) == cap(stores) {
			// Double: append grows big slices by a quarter, which for
			// thousands of stores copies them many times over.
			stores = append(make([]Store, 0, 2*cap(stores)), stores...)
		}
		stores = stores[:len(stores)+1]
		if err := sc.scan(rows, &stores[len(stores)-1]); err != nil {
			return nil, fmt.Errorf("list stores: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	return stores, nil
}

func (d *sqlDB) StoresGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := d.q().QueryRowContext(ctx, `SELECT n FROM store_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read the stores' generation: %w", err)
	}
	return n, nil
}

func (d *sqlDB) UpdateStore(ctx context.Context, s Store) error {
	defer d.storesChanged()
	if !validStatus(s.Status) {
		return fmt.Errorf("update store %q: unknown status %q", s.Name, s.Status)
	}
	phases, err := encodePhases(s.Phases)
	if err != nil {
		return fmt.Errorf("update store %q: %w", s.Name, err)
	}
	// One statement, atomic on its own: no transaction of its own (a
	// BEGIN and a COMMIT were two more round trips to the database for
	// each phase a job records) and, inside Atomic, no savepoint (a
	// failed statement fails the caller's transaction, which returns the
	// error).
	// Options (and the plan they hold) change only when given: a retry
	// with new overrides, an upgrade or rollback that ended.
	var opts, plan any
	if s.Options != nil {
		opts, plan = string(s.Options), s.Plan
	}
	res, err := d.q().ExecContext(ctx, `UPDATE stores SET status = $1, url = $2, error = $3, phases = $4, updated_at = $5,
		options = COALESCE($7, options), plan = COALESCE($8, plan)
		WHERE name = $6 AND deleted_at IS NULL`,
		s.Status, s.URL, s.Error, phases, toMicros(now()), s.Name, opts, plan)
	if err != nil {
		return d.explain(fmt.Errorf("update store %q: %w", s.Name, err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return storeNotFound(s.Name)
	}
	return nil
}

// MarkStore changes status and error in one conditional UPDATE: of two
// processes marking the same store, the second (which waits for the
// first's row lock on PostgreSQL, or for the database on SQLite) finds
// the status (or, DEGRADED to DEGRADED, the reason) changed and marks
// nothing.
func (d *sqlDB) MarkStore(ctx context.Context, name string, from, to Status, reason string) (bool, error) {
	defer d.storesChanged()
	if !validStatus(to) {
		return false, fmt.Errorf("mark store %q: unknown status %q", name, to)
	}
	res, err := d.q().ExecContext(ctx, `UPDATE stores SET status = $1, error = $2, updated_at = $3
		WHERE name = $4 AND status = $5 AND error <> $2 AND deleted_at IS NULL`, to, reason, toMicros(now()), name, from)
	if err != nil {
		return false, fmt.Errorf("mark store %q %s: %w", name, to, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark store %q %s: %w", name, to, err)
	}
	return n > 0, nil
}

func (d *sqlDB) ClaimBackupSlot(ctx context.Context, name string, now, next time.Time) (bool, error) {
	defer d.storesChanged()
	res, err := d.q().ExecContext(ctx, `UPDATE stores SET backup_due_at = $1
		WHERE name = $2 AND deleted_at IS NULL AND (backup_due_at IS NULL OR backup_due_at <= $3)`,
		toMicros(next), name, toMicros(now))
	if err != nil {
		return false, fmt.Errorf("claim the scheduled backup of store %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim the scheduled backup of store %q: %w", name, err)
	}
	return n > 0, nil
}

// RemoveStore soft-deletes the store, freeing its name, and cancels its
// queued jobs. A running job (usually the delete job calling this) is left
// to its worker to finish.
func (d *sqlDB) RemoveStore(ctx context.Context, name string) error {
	defer d.storesChanged()
	return d.inTx(ctx, func(tx *sql.Tx) error {
		t := toMicros(now())
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE stores SET deleted_at = $1, updated_at = $1
			WHERE name = $2 AND deleted_at IS NULL RETURNING id`, t, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return storeNotFound(name)
		}
		if err != nil {
			return fmt.Errorf("remove store %q: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = $1, last_error = $2, updated_at = $3
			WHERE store_id = $4 AND state = $5`,
			JobCanceled, "store removed", t, id, JobQueued); err != nil {
			return fmt.Errorf("remove store %q: cancel its queued jobs: %w", name, err)
		}
		return nil
	})
}

func (d *sqlDB) SetRelease(ctx context.Context, name string, r Release) error {
	defer d.storesChanged()
	r.UpgradeAvailable = "" // an answer of the moment, not a record
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("set release of store %q: %w", name, err)
	}
	res, err := d.q().ExecContext(ctx, `UPDATE stores SET release = $1, updated_at = $2
		WHERE name = $3 AND deleted_at IS NULL`, string(b), toMicros(now()), name)
	if err != nil {
		return d.explain(fmt.Errorf("set release of store %q: %w", name, err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return storeNotFound(name)
	}
	return nil
}

func (d *sqlDB) AddRevision(ctx context.Context, r Revision) error {
	if r.Revision <= 0 {
		return fmt.Errorf("record revision of store %q: revision %d is not positive", r.Store, r.Revision)
	}
	versions, err := json.Marshal(r.Versions)
	if err != nil {
		return fmt.Errorf("record revision %d of store %q: %w", r.Revision, r.Store, err)
	}
	var options sql.NullString
	if len(r.Options) > 0 {
		if !json.Valid(r.Options) {
			return fmt.Errorf("record revision %d of store %q: options are not valid JSON", r.Revision, r.Store)
		}
		options = sql.NullString{String: string(r.Options), Valid: true}
	}
	at := r.At
	if at.IsZero() {
		at = now()
	}
	// One statement (no transaction or savepoint of its own: each was one
	// more round trip to the database); a store that is not there
	// inserts nothing.
	res, err := d.q().ExecContext(ctx, `INSERT INTO store_revisions
		(store_id, revision, kind, job_id, actor, plan, versions, options, status, description, created_at)
		SELECT id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM stores WHERE name = $1 AND deleted_at IS NULL
		ON CONFLICT (store_id, revision) DO UPDATE SET
			kind = COALESCE(NULLIF($3, ''), store_revisions.kind),
			job_id = COALESCE(NULLIF($4, 0), store_revisions.job_id),
			actor = COALESCE(NULLIF($5, ''), store_revisions.actor),
			plan = COALESCE(NULLIF($6, ''), store_revisions.plan),
			versions = $7, options = COALESCE($8, store_revisions.options),
			status = $9, description = $10, created_at = $11`,
		r.Store, r.Revision, r.Kind, r.JobID, r.Actor, r.Plan, string(versions), options, r.Status, r.Description, toMicros(at))
	if err != nil {
		return d.explain(fmt.Errorf("record revision %d of store %q: %w", r.Revision, r.Store, err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return storeNotFound(r.Store)
	}
	return nil
}

func (d *sqlDB) Revisions(ctx context.Context, name string) ([]Revision, error) {
	id, err := liveStoreID(ctx, d.q(), name)
	if err != nil {
		return nil, err
	}
	rows, err := d.q().QueryContext(ctx, `SELECT revision, kind, job_id, actor, plan, versions, options, status, description, created_at
		FROM store_revisions WHERE store_id = $1 ORDER BY revision`, id)
	if err != nil {
		return nil, fmt.Errorf("list revisions of store %q: %w", name, err)
	}
	defer rows.Close()
	revs := []Revision{}
	for rows.Next() {
		var (
			r                 Revision
			versions, options sql.NullString
			at                int64
		)
		if err := rows.Scan(&r.Revision, &r.Kind, &r.JobID, &r.Actor, &r.Plan, &versions, &options, &r.Status, &r.Description, &at); err != nil {
			return nil, fmt.Errorf("list revisions of store %q: %w", name, err)
		}
		if versions.Valid && versions.String != "" {
			if err := json.Unmarshal([]byte(versions.String), &r.Versions); err != nil {
				return nil, fmt.Errorf("revision %d of store %q: decode versions: %w", r.Revision, name, err)
			}
		}
		if options.Valid {
			r.Options = []byte(options.String)
		}
		r.Store, r.At = name, fromMicros(at)
		revs = append(revs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list revisions of store %q: %w", name, err)
	}
	return revs, nil
}
