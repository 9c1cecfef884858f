package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// limitState is what a handle (and its Atomic copies) shares about rate
// limits: when it last swept spent rows.
type limitState struct {
	mu        sync.Mutex
	lastSweep time.Time
}

// limitSweepEvery spaces out the sweeps of rows whose limit has recovered.
const limitSweepEvery = time.Minute

// Allow implements GCRA with one row per key holding its theoretical
// arrival time (tat): an event at now is allowed when tat - now <= (burst-1)
// * every, and then moves tat to max(tat, now) + every. The check and the
// update are one upsert, atomic on both databases (PostgreSQL locks the
// row; SQLite has one writer), so every process counts against the same
// budget. Times are the callers' clocks, in microseconds.
func (d *sqlDB) Allow(ctx context.Context, key string, every time.Duration, burst int) (bool, time.Duration, error) {
	if key == "" {
		return false, 0, errors.New("rate limit: a key is required")
	}
	if every <= 0 {
		return true, 0, nil
	}
	burst = max(burst, 1)
	t := toMicros(now())
	interval := max(every.Microseconds(), 1)
	tolerance := interval * int64(burst-1)
	if d.tx == nil {
		d.sweepLimits(ctx, t)
	}
	greatest := "GREATEST"
	if d.dialect == dialectSQLite {
		greatest = "MAX"
	}
	var tat int64
	err := d.q().QueryRowContext(ctx, `INSERT INTO rate_limits (key, tat) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET tat = `+greatest+`(rate_limits.tat, $3) + $4
		WHERE rate_limits.tat - $3 <= $5
		RETURNING tat`, key, t+interval, t, interval, tolerance).Scan(&tat)
	if err == nil {
		return true, 0, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, 0, fmt.Errorf("rate limit %q: %w", key, err)
	}
	// Refused: nothing was written. The wait is until tat - tolerance.
	if err := d.q().QueryRowContext(ctx, `SELECT tat FROM rate_limits WHERE key = $1`, key).Scan(&tat); err != nil {
		return false, 0, fmt.Errorf("rate limit %q: %w", key, err)
	}
	wait := time.Duration(tat-tolerance-t) * time.Microsecond
	return false, max(wait, time.Microsecond), nil
}

// sweepLimits drops rows whose tat has passed (they mean the same as no
// row), at most once a minute per handle. A failed sweep only leaves the
// rows to the next one, so it does not fail the caller.
func (d *sqlDB) sweepLimits(ctx context.Context, t int64) {
	st := d.limits
	st.mu.Lock()
	due := time.Since(st.lastSweep) >= limitSweepEvery
	if due {
		st.lastSweep = time.Now()
	}
	st.mu.Unlock()
	if !due {
		return
	}
	if _, err := d.q().ExecContext(ctx, `DELETE FROM rate_limits WHERE tat < $1`, t); err != nil {
		st.mu.Lock()
		st.lastSweep = time.Time{}
		st.mu.Unlock()
	}
}
