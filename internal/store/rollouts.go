package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RolloutState is where a fleet rollout is.
type RolloutState string

// Rollout states. A running rollout whose lease has expired (or was never
// taken) is claimable by any driver.
const (
	RolloutRunning   RolloutState = "running"
	RolloutHalted    RolloutState = "halted"
	RolloutCompleted RolloutState = "completed"
	RolloutAborted   RolloutState = "aborted"
)

// RolloutStoreState is where one store is in a rollout.
type RolloutStoreState string

// States of a store in a rollout. Rolled back and failed both count as
// failures; skipped stores (deleted or busy when their wave came) do not.
const (
	RolloutStorePending    RolloutStoreState = "pending"
	RolloutStoreRunning    RolloutStoreState = "running"
	RolloutStoreSucceeded  RolloutStoreState = "succeeded"
	RolloutStoreRolledBack RolloutStoreState = "rolled-back"
	RolloutStoreFailed     RolloutStoreState = "failed"
	RolloutStoreSkipped    RolloutStoreState = "skipped"
)

// Done says whether a store's part in a rollout has ended.
func (s RolloutStoreState) Done() bool {
	return s != RolloutStorePending && s != RolloutStoreRunning
}

// Failed says whether a store's part ended as a failure.
func (s RolloutStoreState) Failed() bool {
	return s == RolloutStoreRolledBack || s == RolloutStoreFailed
}

// RolloutParams are what a rollout was asked to do: which stores, in which
// waves, how many failures it tolerates, and each store's upgrade.
type RolloutParams struct {
	Owner       string   `json:"owner,omitempty"`
	Plan        string   `json:"plan,omitempty"`
	Canary      int      `json:"canary"`
	BatchSize   int      `json:"batchSize"`
	MaxFailures int      `json:"maxFailures"`
	Set         []string `json:"set,omitempty"`
	Timeout     string   `json:"timeout,omitempty"`
	// Chart is the chart version the rollout brings the stores to.
	Chart string `json:"chart,omitempty"`
}

// Rollout is a durable upgrade of many stores, driven by whichever process
// holds its lease.
type Rollout struct {
	ID             int64         `json:"id"`
	State          RolloutState  `json:"state"`
	Actor          string        `json:"actor"`
	Params         RolloutParams `json:"params"`
	Reason         string        `json:"reason,omitempty"`
	LeaseOwner     string        `json:"leaseOwner,omitempty"`
	LeaseExpiresAt time.Time     `json:"leaseExpiresAt,omitzero"`
	CreatedAt      time.Time     `json:"createdAt"`
	UpdatedAt      time.Time     `json:"updatedAt"`
	// Stores are the rollout's stores by wave, then name; GetRollout
	// fills them, ListRollouts does not.
	Stores []RolloutStore `json:"stores,omitempty"`
}

// RolloutStore is one store's part in a rollout.
type RolloutStore struct {
	Store string `json:"store"`
	// Wave is 0 for the canary stores, then 1, 2, ...
	Wave  int               `json:"wave"`
	State RolloutStoreState `json:"state"`
	// JobID is the store's upgrade job, 0 before it is queued.
	JobID        int64     `json:"jobId,omitempty"`
	FromRevision int       `json:"fromRevision,omitempty"`
	ToRevision   int       `json:"toRevision,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// Rollouts keeps fleet rollouts. A rollout's lease works like a job's: one
// driver at a time; an expired lease is claimable.
type Rollouts interface {
	// CreateRollout records r as running, unleased, with its stores.
	CreateRollout(ctx context.Context, r Rollout, stores []RolloutStore) (Rollout, error)
	// GetRollout reads a rollout with its stores.
	GetRollout(ctx context.Context, id int64) (Rollout, error)
	// ListRollouts lists rollouts, newest first, without their stores.
	ListRollouts(ctx context.Context) ([]Rollout, error)
	// ClaimRollout takes rollout id (or, with id 0, the oldest claimable
	// one) for worker: a running rollout nobody holds or whose lease has
	// expired. ErrNotFound when there is none.
	ClaimRollout(ctx context.Context, id int64, worker string, lease time.Duration) (Rollout, error)
	// RenewRolloutLease extends worker's lease; ErrLeaseLost if it no
	// longer holds it, or the rollout is no longer running.
	RenewRolloutLease(ctx context.Context, id int64, worker string, lease time.Duration) error
	// ReleaseRollout gives worker's lease up (the rollout stays as it is).
	ReleaseRollout(ctx context.Context, id int64, worker string) error
	// SetRolloutState moves a rollout from one of states from to state to,
	// with reason, dropping its lease; ErrNotFound names the state it is
	// in when it is in none of from.
	SetRolloutState(ctx context.Context, id int64, from []RolloutState, to RolloutState, reason string) (Rollout, error)
	// UpdateRolloutStore writes one store's state, job, revisions and reason.
	UpdateRolloutStore(ctx context.Context, id int64, s RolloutStore) error
}

const rolloutColumns = `id, state, actor, params, reason, lease_owner, lease_expires_at, created_at, updated_at FROM rollouts`

func scanRollout(row scanner) (Rollout, error) {
	var (
		r                    Rollout
		params               string
		leaseExpiresAt       sql.NullInt64
		createdAt, updatedAt int64
	)
	if err := row.Scan(&r.ID, &r.State, &r.Actor, &params, &r.Reason, &r.LeaseOwner, &leaseExpiresAt,
		&createdAt, &updatedAt); err != nil {
		return Rollout{}, err
	}
	if err := json.Unmarshal([]byte(params), &r.Params); err != nil {
		return Rollout{}, fmt.Errorf("rollout %d: decode params: %w", r.ID, err)
	}
	r.LeaseExpiresAt = fromNullMicros(leaseExpiresAt)
	r.CreatedAt, r.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
	return r, nil
}

func rolloutNotFound(id int64) error {
	return fmt.Errorf("rollout %d: %w", id, ErrNotFound)
}

func rolloutByID(ctx context.Context, q querier, id int64) (Rollout, error) {
	r, err := scanRollout(q.QueryRowContext(ctx, `SELECT `+rolloutColumns+` WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, rolloutNotFound(id)
	}
	return r, err
}

func validRolloutStoreState(s RolloutStoreState) bool {
	switch s {
	case RolloutStorePending, RolloutStoreRunning, RolloutStoreSucceeded, RolloutStoreRolledBack,
		RolloutStoreFailed, RolloutStoreSkipped:
		return true
	}
	return false
}

func (d *sqlDB) CreateRollout(ctx context.Context, r Rollout, stores []RolloutStore) (Rollout, error) {
	params, err := json.Marshal(r.Params)
	if err != nil {
		return Rollout{}, fmt.Errorf("create rollout: encode params: %w", err)
	}
	t := now()
	r.State, r.Reason, r.LeaseOwner, r.LeaseExpiresAt, r.CreatedAt, r.UpdatedAt = RolloutRunning, "", "", time.Time{}, t, t
	err = d.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO rollouts (state, actor, params, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4) RETURNING id`, r.State, r.Actor, string(params), toMicros(t)).Scan(&r.ID); err != nil {
			return err
		}
		r.Stores = make([]RolloutStore, 0, len(stores))
		for _, s := range stores {
			if s.State == "" {
				s.State = RolloutStorePending
			}
			if !validRolloutStoreState(s.State) {
				return fmt.Errorf("store %q: unknown state %q", s.Store, s.State)
			}
			s.UpdatedAt = t
			if _, err := tx.ExecContext(ctx, `INSERT INTO rollout_stores
				(rollout_id, store, wave, state, job_id, from_revision, to_revision, reason, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				r.ID, s.Store, s.Wave, s.State, s.JobID, s.FromRevision, s.ToRevision, s.Reason, toMicros(t)); err != nil {
				return fmt.Errorf("store %q: %w", s.Store, err)
			}
			r.Stores = append(r.Stores, s)
		}
		return nil
	})
	if err != nil {
		return Rollout{}, fmt.Errorf("create rollout: %w", err)
	}
	return r, nil
}

func (d *sqlDB) GetRollout(ctx context.Context, id int64) (Rollout, error) {
	r, err := rolloutByID(ctx, d.q(), id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Rollout{}, err
		}
		return Rollout{}, fmt.Errorf("get rollout %d: %w", id, err)
	}
	rows, err := d.q().QueryContext(ctx, `SELECT store, wave, state, job_id, from_revision, to_revision, reason, updated_at
		FROM rollout_stores WHERE rollout_id = $1 ORDER BY wave, store`, id)
	if err != nil {
		return Rollout{}, fmt.Errorf("get rollout %d: %w", id, err)
	}
	defer rows.Close()
	r.Stores = []RolloutStore{}
	for rows.Next() {
		var (
			s         RolloutStore
			updatedAt int64
		)
		if err := rows.Scan(&s.Store, &s.Wave, &s.State, &s.JobID, &s.FromRevision, &s.ToRevision, &s.Reason, &updatedAt); err != nil {
			return Rollout{}, fmt.Errorf("get rollout %d: %w", id, err)
		}
		s.UpdatedAt = fromMicros(updatedAt)
		r.Stores = append(r.Stores, s)
	}
	if err := rows.Err(); err != nil {
		return Rollout{}, fmt.Errorf("get rollout %d: %w", id, err)
	}
	return r, nil
}

func (d *sqlDB) ListRollouts(ctx context.Context) ([]Rollout, error) {
	rows, err := d.q().QueryContext(ctx, `SELECT `+rolloutColumns+` ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	defer rows.Close()
	list := []Rollout{}
	for rows.Next() {
		r, err := scanRollout(rows)
		if err != nil {
			return nil, fmt.Errorf("list rollouts: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	return list, nil
}

// claimableRollout is the condition under which a rollout may be claimed
// at $1 (now).
const claimableRollout = `state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < $1)`

func (d *sqlDB) ClaimRollout(ctx context.Context, id int64, worker string, lease time.Duration) (Rollout, error) {
	if worker == "" || lease <= 0 {
		return Rollout{}, errors.New("claim rollout: worker and a positive lease are required")
	}
	var r Rollout
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		t := now()
		if id == 0 {
			lock := ""
			if d.dialect == dialectPostgres {
				lock = " FOR UPDATE SKIP LOCKED"
			}
			err := tx.QueryRowContext(ctx, `SELECT id FROM rollouts WHERE `+claimableRollout+
				` ORDER BY id LIMIT 1`+lock, toMicros(t)).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("no claimable rollout: %w", ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE rollouts SET lease_owner = $2, lease_expires_at = $3, updated_at = $1
			WHERE id = $4 AND `+claimableRollout, toMicros(t), worker, toMicros(t.Add(lease)), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			cur, err := rolloutByID(ctx, tx, id)
			if err != nil {
				return err
			}
			if cur.State == RolloutRunning {
				return fmt.Errorf("rollout %d is not claimable: %q holds its lease until %s: %w",
					id, cur.LeaseOwner, cur.LeaseExpiresAt.Format(time.RFC3339), ErrNotFound)
			}
			return fmt.Errorf("rollout %d is not claimable: it is %s: %w", id, cur.State, ErrNotFound)
		}
		r, err = rolloutByID(ctx, tx, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Rollout{}, err
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("claim rollout: %w", err)
	}
	return r, nil
}

func (d *sqlDB) rolloutLeaseLost(ctx context.Context, q querier, id int64, worker string) error {
	cur, err := rolloutByID(ctx, q, id)
	if err != nil {
		return err
	}
	if cur.State == RolloutRunning {
		return fmt.Errorf("rollout %d: worker %q no longer holds it, %q does: %w", id, worker, cur.LeaseOwner, ErrLeaseLost)
	}
	return fmt.Errorf("rollout %d: worker %q no longer holds it, it is %s: %w", id, worker, cur.State, ErrLeaseLost)
}

func (d *sqlDB) RenewRolloutLease(ctx context.Context, id int64, worker string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("renew lease of rollout %d: lease must be positive", id)
	}
	return d.inTx(ctx, func(tx *sql.Tx) error {
		t := now()
		res, err := tx.ExecContext(ctx, `UPDATE rollouts SET lease_expires_at = $1, updated_at = $2
			WHERE id = $3 AND state = 'running' AND lease_owner = $4`,
			toMicros(t.Add(lease)), toMicros(t), id, worker)
		if err != nil {
			return fmt.Errorf("renew lease of rollout %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return d.rolloutLeaseLost(ctx, tx, id, worker)
		}
		return nil
	})
}

func (d *sqlDB) ReleaseRollout(ctx context.Context, id int64, worker string) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE rollouts SET lease_owner = '', lease_expires_at = NULL, updated_at = $1
			WHERE id = $2 AND lease_owner = $3`, toMicros(now()), id, worker)
		if err != nil {
			return fmt.Errorf("release rollout %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return d.rolloutLeaseLost(ctx, tx, id, worker)
		}
		return nil
	})
}

func (d *sqlDB) SetRolloutState(ctx context.Context, id int64, from []RolloutState, to RolloutState, reason string) (Rollout, error) {
	switch to {
	case RolloutRunning, RolloutHalted, RolloutCompleted, RolloutAborted:
	default:
		return Rollout{}, fmt.Errorf("set state of rollout %d: unknown state %q", id, to)
	}
	var r Rollout
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := scanRollout(tx.QueryRowContext(ctx, `SELECT `+rolloutColumns+` WHERE id = $1`+d.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return rolloutNotFound(id)
		}
		if err != nil {
			return err
		}
		ok := false
		for _, s := range from {
			ok = ok || cur.State == s
		}
		if !ok {
			return fmt.Errorf("rollout %d is %s: %w", id, cur.State, ErrNotFound)
		}
		t := now()
		if _, err := tx.ExecContext(ctx, `UPDATE rollouts SET state = $1, reason = $2, lease_owner = '',
			lease_expires_at = NULL, updated_at = $3 WHERE id = $4`, to, reason, toMicros(t), id); err != nil {
			return err
		}
		r = cur
		r.State, r.Reason, r.LeaseOwner, r.LeaseExpiresAt, r.UpdatedAt = to, reason, "", time.Time{}, t
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Rollout{}, err
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("set state of rollout %d: %w", id, err)
	}
	return r, nil
}

func (d *sqlDB) UpdateRolloutStore(ctx context.Context, id int64, s RolloutStore) error {
	if !validRolloutStoreState(s.State) {
		return fmt.Errorf("update store %q of rollout %d: unknown state %q", s.Store, id, s.State)
	}
	res, err := d.q().ExecContext(ctx, `UPDATE rollout_stores SET state = $1, job_id = $2, from_revision = $3,
		to_revision = $4, reason = $5, updated_at = $6 WHERE rollout_id = $7 AND store = $8`,
		s.State, s.JobID, s.FromRevision, s.ToRevision, s.Reason, toMicros(now()), id, s.Store)
	if err != nil {
		return d.explain(fmt.Errorf("update store %q of rollout %d: %w", s.Store, id, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store %q is not part of rollout %d: %w", s.Store, id, ErrNotFound)
	}
	return nil
}
