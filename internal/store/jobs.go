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

const jobColumns = `j.id, s.name, j.kind, j.state, j.lease_owner, j.lease_expires_at, j.attempts,
	j.last_error, j.actor, j.created_at, j.updated_at, j.params
	FROM jobs j JOIN stores s ON s.id = j.store_id`

// claimable is the condition under which a job may be claimed at $1 (now).
// The redundant IN term lets both databases use the jobs_claimable index.
const claimable = `j.state IN ('queued', 'running')
	AND (j.state = 'queued' OR j.lease_expires_at < $1)`

var jobStates = []JobState{JobQueued, JobRunning, JobSucceeded, JobFailed, JobCanceled}

func scanJob(row scanner) (Job, error) {
	var (
		j                    Job
		leaseExpiresAt       sql.NullInt64
		createdAt, updatedAt int64
		params               sql.NullString
	)
	if err := row.Scan(&j.ID, &j.Store, &j.Kind, &j.State, &j.LeaseOwner, &leaseExpiresAt, &j.Attempts,
		&j.LastError, &j.Actor, &createdAt, &updatedAt, &params); err != nil {
		return Job{}, err
	}
	if params.Valid {
		j.Params = []byte(params.String)
	}
	j.LeaseExpiresAt = fromNullMicros(leaseExpiresAt)
	j.CreatedAt, j.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
	return j, nil
}

func queryJobs(ctx context.Context, q querier, query string, args ...any) ([]Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	jobs := []Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func jobNotFound(id int64) error {
	return fmt.Errorf("job %d: %w", id, ErrNotFound)
}

// jobByID reads one job; a missing one is ErrNotFound.
func jobByID(ctx context.Context, q querier, id int64) (Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+jobColumns+` WHERE j.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, jobNotFound(id)
	}
	return j, err
}

// liveStoreID is the internal id of the live store called name.
func liveStoreID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM stores WHERE name = $1 AND deleted_at IS NULL`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, storeNotFound(name)
	}
	return id, err
}

func activeJob(ctx context.Context, q querier, storeID int64) (Job, error) {
	return scanJob(q.QueryRowContext(ctx, `SELECT `+jobColumns+`
		WHERE j.store_id = $1 AND j.state IN ('queued', 'running')`, storeID))
}

func (d *sqlDB) EnqueueJob(ctx context.Context, store string, kind JobKind, actor string, params []byte) (Job, error) {
	switch kind {
	case JobCreate, JobDelete, JobUpgrade, JobRollback, JobRepair, JobBackup, JobRestore:
	default:
		return Job{}, fmt.Errorf("enqueue job for store %q: unknown kind %q", store, kind)
	}
	var p sql.NullString
	if len(params) > 0 {
		if !json.Valid(params) {
			return Job{}, fmt.Errorf("enqueue %s job for store %q: params are not valid JSON", kind, store)
		}
		p = sql.NullString{String: string(params), Valid: true}
	}
	t := now()
	job := Job{Store: store, Kind: kind, State: JobQueued, Actor: actor, CreatedAt: t, UpdatedAt: t, Params: params}
	var active Job
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		storeID, err := liveStoreID(ctx, tx, store)
		if err != nil {
			return err
		}
		// The partial unique index allows one active job per store; a
		// conflict means there is one already.
		err = tx.QueryRowContext(ctx, `INSERT INTO jobs (store_id, kind, state, actor, created_at, updated_at, params)
			VALUES ($1, $2, $3, $4, $5, $5, $6)
			ON CONFLICT (store_id) WHERE state IN ('queued', 'running') DO NOTHING
			RETURNING id`,
			storeID, kind, JobQueued, actor, toMicros(t), p).Scan(&job.ID)
		if errors.Is(err, sql.ErrNoRows) {
			active, err = activeJob(ctx, tx, storeID)
			if err != nil {
				return err
			}
			return fmt.Errorf("store %q already has %s job %d (%s): wait for it to finish: %w",
				store, active.Kind, active.ID, active.State, ErrJobActive)
		}
		return err
	})
	switch {
	case errors.Is(err, ErrJobActive):
		return active, err
	case errors.Is(err, ErrNotFound):
		return Job{}, err
	case err != nil:
		return Job{}, fmt.Errorf("enqueue %s job for store %q: %w", kind, store, err)
	}
	return job, nil
}

func (d *sqlDB) ClaimJob(ctx context.Context, worker string, lease time.Duration) (Job, error) {
	return d.claim(ctx, 0, worker, lease)
}

func (d *sqlDB) ClaimJobByID(ctx context.Context, id int64, worker string, lease time.Duration) (Job, error) {
	return d.claim(ctx, id, worker, lease)
}

// claim takes job id, or the oldest claimable job if id is 0. Each claim
// counts an attempt and records it; an attempt still open belonged to a
// worker whose lease expired, so it is closed as lost.
func (d *sqlDB) claim(ctx context.Context, id int64, worker string, lease time.Duration) (Job, error) {
	if worker == "" || lease <= 0 {
		return Job{}, fmt.Errorf("claim job: worker and a positive lease are required")
	}
	if d.dialect == dialectPostgres {
		return d.claimPostgres(ctx, id, worker, lease)
	}
	var job Job
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		t := now()
		if id == 0 {
			// SKIP LOCKED lets replicas claim side by side: each passes
			// over the rows the others are claiming.
			lock := ""
			if d.dialect == dialectPostgres {
				lock = " FOR UPDATE SKIP LOCKED"
			}
			err := tx.QueryRowContext(ctx, `SELECT j.id FROM jobs j WHERE `+claimable+
				` ORDER BY j.id LIMIT 1`+lock, toMicros(t)).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("no claimable job: %w", ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		var attempts int
		err := tx.QueryRowContext(ctx, `UPDATE jobs AS j SET state = 'running', lease_owner = $2, lease_expires_at = $3,
			attempts = attempts + 1, updated_at = $1
			WHERE j.id = $4 AND `+claimable+` RETURNING attempts`,
			toMicros(t), worker, toMicros(t.Add(lease)), id).Scan(&attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return d.notClaimable(ctx, tx, id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE job_attempts SET ended_at = $1, outcome = 'lost'
			WHERE job_id = $2 AND ended_at IS NULL`, toMicros(t), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_attempts (job_id, attempt, worker, started_at)
			VALUES ($1, $2, $3, $4)`, id, attempts, worker, toMicros(t)); err != nil {
			return err
		}
		job, err = jobByID(ctx, tx, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Job{}, err
	}
	if err != nil {
		return Job{}, fmt.Errorf("claim job: %w", err)
	}
	return job, nil
}

// claimPostgres is claim in one statement: the job taken, an attempt
// left open closed as lost and the new attempt recorded together, where
// a transaction of four statements took seven round trips to the server
// (three for a poll that found nothing). The job is then read as it
// stands.
func (d *sqlDB) claimPostgres(ctx context.Context, id int64, worker string, lease time.Duration) (Job, error) {
	t := now()
	args := []any{toMicros(t), worker, toMicros(t.Add(lease))}
	// SKIP LOCKED lets replicas claim side by side: each passes over the
	// rows the others are claiming.
	pick := `(SELECT j.id FROM jobs j WHERE ` + claimable + ` ORDER BY j.id LIMIT 1 FOR UPDATE SKIP LOCKED)`
	if id != 0 {
		pick, args = `$4`, append(args, id)
	}
	var claimed int64
	err := d.q().QueryRowContext(ctx, `WITH claimed AS (
			UPDATE jobs AS j SET state = 'running', lease_owner = $2, lease_expires_at = $3,
				attempts = attempts + 1, updated_at = $1
			WHERE j.id = `+pick+` AND `+claimable+` RETURNING j.id, j.attempts),
		lost AS (UPDATE job_attempts SET ended_at = $1, outcome = 'lost'
			WHERE job_id = (SELECT id FROM claimed) AND ended_at IS NULL),
		attempt AS (INSERT INTO job_attempts (job_id, attempt, worker, started_at)
			SELECT id, attempts, $2, $1 FROM claimed)
		SELECT id FROM claimed`, args...).Scan(&claimed)
	switch {
	case errors.Is(err, sql.ErrNoRows) && id == 0:
		return Job{}, fmt.Errorf("no claimable job: %w", ErrNotFound)
	case errors.Is(err, sql.ErrNoRows):
		return Job{}, d.notClaimable(ctx, d.q(), id)
	case err != nil:
		return Job{}, fmt.Errorf("claim job: %w", err)
	}
	job, err := jobByID(ctx, d.q(), claimed)
	if err != nil {
		return Job{}, fmt.Errorf("claim job: %w", err)
	}
	return job, nil
}

func (d *sqlDB) notClaimable(ctx context.Context, q querier, id int64) error {
	j, err := jobByID(ctx, q, id)
	if err != nil {
		return err
	}
	if j.State == JobRunning {
		return fmt.Errorf("job %d is not claimable: %q holds its lease until %s: %w",
			id, j.LeaseOwner, j.LeaseExpiresAt.Format(time.RFC3339), ErrNotFound)
	}
	return fmt.Errorf("job %d is not claimable: it is %s: %w", id, j.State, ErrNotFound)
}

// leaseLost explains why worker's update of job id matched nothing.
func (d *sqlDB) leaseLost(ctx context.Context, q querier, id int64, worker string) error {
	j, err := jobByID(ctx, q, id)
	if err != nil {
		return err
	}
	if j.State == JobRunning {
		return fmt.Errorf("job %d: worker %q no longer holds it, %q does: %w", id, worker, j.LeaseOwner, ErrLeaseLost)
	}
	return fmt.Errorf("job %d: worker %q no longer holds it, it is %s: %w", id, worker, j.State, ErrLeaseLost)
}

// RenewLease extends the lease while worker still owns the job. A lease
// that expired without anyone taking the job over is still worker's.
func (d *sqlDB) RenewLease(ctx context.Context, id int64, worker string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("renew lease of job %d: lease must be positive", id)
	}
	// One statement, so no transaction: every worker renews every few
	// seconds, and BEGIN and COMMIT were two more round trips each time.
	t := now()
	res, err := d.q().ExecContext(ctx, `UPDATE jobs SET lease_expires_at = $1, updated_at = $2
		WHERE id = $3 AND state = 'running' AND lease_owner = $4`,
		toMicros(t.Add(lease)), toMicros(t), id, worker)
	if err != nil {
		return d.explain(fmt.Errorf("renew lease of job %d: %w", id, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return d.explain(fmt.Errorf("renew lease of job %d: %w", id, err))
	} else if n == 0 {
		// Why, read after: the answer may be a moment newer than the
		// update, never older.
		return d.explain(d.leaseLost(ctx, d.q(), id, worker))
	}
	return nil
}

// leasesPerStatement bounds the leases one RenewLeases statement
// names (two parameters each).
const leasesPerStatement = 200

// RenewLeases extends every lease of held still held, in one statement
// per leasesPerStatement of them, and returns those it renewed; one not
// among them is no longer its worker's (taken over, cancelled or
// finished).
func (d *sqlDB) RenewLeases(ctx context.Context, held []Lease, lease time.Duration) ([]Lease, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("renew %d leases: lease must be positive", len(held))
	}
	var renewed []Lease
	for part := range slices.Chunk(held, leasesPerStatement) {
		t := now()
		var q strings.Builder
		q.WriteString(`UPDATE jobs SET lease_expires_at = $1, updated_at = $2 WHERE state = 'running' AND (`)
		args := []any{toMicros(t.Add(lease)), toMicros(t)}
		for i, l := range part {
			if i > 0 {
				q.WriteString(" OR ")
			}
			fmt.Fprintf(&q, "(id = $%d AND lease_owner = $%d)", len(args)+1, len(args)+2)
			args = append(args, l.Job, l.Worker)
		}
		q.WriteString(") RETURNING id, lease_owner")
		part, err := d.renewed(ctx, q.String(), args)
		if err != nil {
			return renewed, d.explain(fmt.Errorf("renew %d leases: %w", len(held), err))
		}
		renewed = append(renewed, part...)
	}
	return renewed, nil
}

func (d *sqlDB) renewed(ctx context.Context, query string, args []any) ([]Lease, error) {
	rows, err := d.q().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var leases []Lease
	for rows.Next() {
		var l Lease
		if err := rows.Scan(&l.Job, &l.Worker); err != nil {
			return nil, err
		}
		leases = append(leases, l)
	}
	return leases, rows.Err()
}

func (d *sqlDB) FinishJob(ctx context.Context, id int64, worker string, state JobState, lastError string) error {
	if state != JobSucceeded && state != JobFailed && state != JobCanceled {
		return fmt.Errorf("finish job %d: %q is not a final state: use succeeded, failed or canceled", id, state)
	}
	return d.endLease(ctx, id, worker, state, lastError, string(state))
}

func (d *sqlDB) ReleaseJob(ctx context.Context, id int64, worker string) error {
	return d.endLease(ctx, id, worker, JobQueued, "", "released")
}

// endLease moves a job worker holds to state and closes its attempt with
// outcome. A released job keeps its last error.
func (d *sqlDB) endLease(ctx context.Context, id int64, worker string, state JobState, lastError, outcome string) error {
	if d.dialect == dialectPostgres {
		return d.endLeasePostgres(ctx, id, worker, state, lastError, outcome)
	}
	return d.inTx(ctx, func(tx *sql.Tx) error {
		t := toMicros(now())
		query := `UPDATE jobs SET state = $1, last_error = $2, lease_owner = '', lease_expires_at = NULL, updated_at = $3
			WHERE id = $4 AND state = 'running' AND lease_owner = $5 RETURNING attempts`
		args := []any{state, lastError, t, id, worker}
		if state == JobQueued {
			query = `UPDATE jobs SET state = $1, lease_owner = '', lease_expires_at = NULL, updated_at = $2
				WHERE id = $3 AND state = 'running' AND lease_owner = $4 RETURNING attempts`
			args = []any{state, t, id, worker}
		}
		var attempt int
		err := tx.QueryRowContext(ctx, query, args...).Scan(&attempt)
		if errors.Is(err, sql.ErrNoRows) {
			return d.leaseLost(ctx, tx, id, worker)
		}
		if err != nil {
			return fmt.Errorf("end lease of job %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE job_attempts SET ended_at = $1, outcome = $2
			WHERE job_id = $3 AND attempt = $4`, t, outcome, id, attempt); err != nil {
			return fmt.Errorf("end lease of job %d: close attempt %d: %w", id, attempt, err)
		}
		return nil
	})
}

// endLeasePostgres is endLease in one statement: the job and its
// attempt together, one round trip to the server instead of two (and,
// inside Atomic, no savepoint).
func (d *sqlDB) endLeasePostgres(ctx context.Context, id int64, worker string, state JobState, lastError, outcome string) error {
	set := `state = $1, last_error = $6`
	args := []any{state, toMicros(now()), id, worker, outcome}
	if state == JobQueued { // a released job keeps its last error
		set = `state = $1`
	} else {
		args = append(args, lastError)
	}
	var attempt int
	err := d.q().QueryRowContext(ctx, `WITH ended AS (
			UPDATE jobs SET `+set+`, lease_owner = '', lease_expires_at = NULL, updated_at = $2
			WHERE id = $3 AND state = 'running' AND lease_owner = $4 RETURNING attempts),
		closed AS (UPDATE job_attempts SET ended_at = $2, outcome = $5
			WHERE job_id = $3 AND attempt = (SELECT attempts FROM ended))
		SELECT attempts FROM ended`, args...).Scan(&attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return d.leaseLost(ctx, d.q(), id, worker)
	}
	if err != nil {
		return d.explain(fmt.Errorf("end lease of job %d: %w", id, err))
	}
	return nil
}

// CancelJob cancels a queued or running job whoever holds it; its worker
// finds out at its next RenewLease. A finished job stays as it is.
func (d *sqlDB) CancelJob(ctx context.Context, id int64) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		t := toMicros(now())
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'canceled', lease_owner = '', lease_expires_at = NULL,
			updated_at = $1 WHERE id = $2 AND state IN ('queued', 'running')`, t, id)
		if err != nil {
			return fmt.Errorf("cancel job %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE id = $1`, id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return jobNotFound(id)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE job_attempts SET ended_at = $1, outcome = 'canceled'
			WHERE job_id = $2 AND ended_at IS NULL`, t, id); err != nil {
			return fmt.Errorf("cancel job %d: close its attempt: %w", id, err)
		}
		return nil
	})
}

func (d *sqlDB) GetJob(ctx context.Context, id int64) (Job, error) {
	j, err := jobByID(ctx, d.q(), id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Job{}, fmt.Errorf("get job %d: %w", id, err)
	}
	return j, err
}

func (d *sqlDB) ActiveJob(ctx context.Context, store string) (Job, error) {
	j, err := scanJob(d.q().QueryRowContext(ctx, `SELECT `+jobColumns+`
		WHERE s.name = $1 AND s.deleted_at IS NULL AND j.state IN ('queued', 'running')`, store))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := liveStoreID(ctx, d.q(), store); err != nil {
			return Job{}, err
		}
		return Job{}, fmt.Errorf("store %q has no queued or running job: %w", store, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("get active job of store %q: %w", store, err)
	}
	return j, nil
}

// ListJobs lists the live store's jobs, oldest first.
func (d *sqlDB) ListJobs(ctx context.Context, store string) ([]Job, error) {
	storeID, err := liveStoreID(ctx, d.q(), store)
	if err != nil {
		return nil, err
	}
	jobs, err := queryJobs(ctx, d.q(), `SELECT `+jobColumns+` WHERE j.store_id = $1 ORDER BY j.id`, storeID)
	if err != nil {
		return nil, fmt.Errorf("list jobs of store %q: %w", store, err)
	}
	return jobs, nil
}

func (d *sqlDB) Attempts(ctx context.Context, jobID int64) ([]Attempt, error) {
	rows, err := d.q().QueryContext(ctx, `SELECT job_id, attempt, worker, started_at, ended_at, outcome
		FROM job_attempts WHERE job_id = $1 ORDER BY attempt`, jobID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of job %d: %w", jobID, err)
	}
	defer rows.Close()
	attempts := []Attempt{}
	for rows.Next() {
		var (
			a         Attempt
			startedAt int64
			endedAt   sql.NullInt64
		)
		if err := rows.Scan(&a.JobID, &a.Attempt, &a.Worker, &startedAt, &endedAt, &a.Outcome); err != nil {
			return nil, fmt.Errorf("list attempts of job %d: %w", jobID, err)
		}
		a.StartedAt, a.EndedAt = fromMicros(startedAt), fromNullMicros(endedAt)
		attempts = append(attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts of job %d: %w", jobID, err)
	}
	if len(attempts) == 0 {
		if _, err := d.GetJob(ctx, jobID); err != nil {
			return nil, err
		}
	}
	return attempts, nil
}

// QueueStats counts jobs by state and live stores by status; every known
// state and status is present, zero or not, so gauges never disappear.
func (d *sqlDB) QueueStats(ctx context.Context) (QueueStats, error) {
	st := QueueStats{ByState: map[JobState]int{}, StoresByStatus: map[Status]int{}}
	for _, s := range jobStates {
		st.ByState[s] = 0
	}
	for _, s := range statuses {
		st.StoresByStatus[s] = 0
	}
	// One round trip: the dashboard and the metrics ask every few
	// seconds. The oldest queued job is the queued group's earliest.
	rows, err := d.q().QueryContext(ctx, `SELECT 'job', state, COUNT(*), MIN(created_at) FROM jobs GROUP BY state
		UNION ALL
		SELECT 'store', status, COUNT(*), NULL FROM stores WHERE deleted_at IS NULL GROUP BY status`)
	if err != nil {
		return QueueStats{}, fmt.Errorf("queue stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			what, key string
			n         int
			oldest    sql.NullInt64
		)
		if err := rows.Scan(&what, &key, &n, &oldest); err != nil {
			return QueueStats{}, fmt.Errorf("queue stats: %w", err)
		}
		switch what {
		case "job":
			st.ByState[JobState(key)] = n
			if JobState(key) == JobQueued && oldest.Valid {
				st.OldestQueued = max(time.Since(fromMicros(oldest.Int64)), 0)
			}
		case "store":
			st.StoresByStatus[Status(key)] = n
		}
	}
	if err := rows.Err(); err != nil {
		return QueueStats{}, fmt.Errorf("queue stats: %w", err)
	}
	return st, nil
}

// EndedJobs lists the jobs that ended at or after since, newest first. A
// job's updated_at is when it ended once it is in a final state.
func (d *sqlDB) EndedJobs(ctx context.Context, since time.Time, limit int) ([]EndedJob, error) {
	rows, err := d.q().QueryContext(ctx, `SELECT j.id, s.name, j.kind, j.state, j.updated_at, j.last_error,
		CASE WHEN j.id = (SELECT MAX(l.id) FROM jobs l WHERE l.store_id = j.store_id) THEN s.phases END
		FROM jobs j JOIN stores s ON s.id = j.store_id
		WHERE j.state IN ('succeeded', 'failed', 'canceled') AND j.updated_at >= $1
		ORDER BY j.updated_at DESC, j.id DESC LIMIT $2`, toMicros(since), limit)
	if err != nil {
		return nil, fmt.Errorf("list ended jobs: %w", err)
	}
	defer rows.Close()
	var jobs []EndedJob
	for rows.Next() {
		var (
			j      EndedJob
			ended  int64
			phases sql.NullString
		)
		if err := rows.Scan(&j.ID, &j.Store, &j.Kind, &j.State, &ended, &j.LastError, &phases); err != nil {
			return nil, fmt.Errorf("list ended jobs: %w", err)
		}
		j.EndedAt = fromMicros(ended)
		if j.Phases, err = decodePhases(phases.String); err != nil {
			return nil, fmt.Errorf("list ended jobs: phases of %s: %w", j.Store, err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list ended jobs: %w", err)
	}
	return jobs, nil
}
