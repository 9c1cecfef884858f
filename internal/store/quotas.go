package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// getQuota reads owner's limit and live-store count; every live store
// counts, whatever its status, until RemoveStore.
func getQuota(ctx context.Context, q querier, owner string, defaultMax int) (Quota, error) {
	quota := Quota{Owner: owner}
	err := q.QueryRowContext(ctx, `SELECT max_stores FROM quotas WHERE owner = $1`, owner).Scan(&quota.MaxStores)
	if errors.Is(err, sql.ErrNoRows) {
		quota.MaxStores, quota.Default = defaultMax, true
	} else if err != nil {
		return Quota{}, fmt.Errorf("read quota of owner %q: %w", owner, err)
	}
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM stores WHERE owner = $1 AND deleted_at IS NULL`,
		owner).Scan(&quota.Used); err != nil {
		return Quota{}, fmt.Errorf("count stores of owner %q: %w", owner, err)
	}
	return quota, nil
}

func (d *sqlDB) GetQuota(ctx context.Context, owner string) (Quota, error) {
	if owner == "" {
		return Quota{}, errors.New("get quota: owner is required")
	}
	return getQuota(ctx, d.q(), owner, d.defaultMax)
}

func (d *sqlDB) SetQuota(ctx context.Context, owner string, maxStores int) (Quota, error) {
	if owner == "" {
		return Quota{}, errors.New("set quota: owner is required")
	}
	if maxStores < 0 {
		return Quota{}, fmt.Errorf("set quota of owner %q: limit %d is invalid: use 0 or more", owner, maxStores)
	}
	var q Quota
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO quotas (owner, max_stores, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (owner) DO UPDATE SET max_stores = excluded.max_stores, updated_at = excluded.updated_at`,
			owner, maxStores, toMicros(now())); err != nil {
			return fmt.Errorf("set quota of owner %q: %w", owner, err)
		}
		var err error
		q, err = getQuota(ctx, tx, owner, d.defaultMax)
		return err
	})
	return q, err
}

// ListQuotas lists owners with a quota row or a live store, by owner.
func (d *sqlDB) ListQuotas(ctx context.Context) ([]Quota, error) {
	rows, err := d.q().QueryContext(ctx, `SELECT o.owner, q.max_stores, COALESCE(c.n, 0)
		FROM (SELECT owner FROM quotas UNION SELECT owner FROM stores WHERE deleted_at IS NULL) o
		LEFT JOIN quotas q ON q.owner = o.owner
		LEFT JOIN (SELECT owner, COUNT(*) AS n FROM stores WHERE deleted_at IS NULL GROUP BY owner) c
			ON c.owner = o.owner
		ORDER BY o.owner`)
	if err != nil {
		return nil, fmt.Errorf("list quotas: %w", err)
	}
	defer rows.Close()
	quotas := []Quota{}
	for rows.Next() {
		var (
			q     Quota
			limit sql.NullInt64
		)
		if err := rows.Scan(&q.Owner, &limit, &q.Used); err != nil {
			return nil, fmt.Errorf("list quotas: %w", err)
		}
		q.MaxStores, q.Default = int(limit.Int64), !limit.Valid
		if q.Default {
			q.MaxStores = d.defaultMax
		}
		quotas = append(quotas, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quotas: %w", err)
	}
	return quotas, nil
}
