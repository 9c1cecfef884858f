package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const tokenColumns = `id, owner, admin, secret_hash, created_at, last_used_at, revoked_at`

func scanToken(row scanner) (Token, error) {
	var (
		t                   Token
		createdAt           int64
		lastUsed, revokedAt sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Owner, &t.Admin, &t.SecretHash, &createdAt, &lastUsed, &revokedAt); err != nil {
		return Token{}, err
	}
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = fromMicros(createdAt), fromNullMicros(lastUsed), fromNullMicros(revokedAt)
	return t, nil
}

func tokenNotFound(id string) error {
	return fmt.Errorf("token %q: %w", id, ErrNotFound)
}

// CreateToken stores t; CreatedAt is set to now, LastUsedAt and RevokedAt
// start empty.
func (d *sqlDB) CreateToken(ctx context.Context, t Token) (Token, error) {
	if t.ID == "" || t.Owner == "" || len(t.SecretHash) == 0 {
		return Token{}, errors.New("create token: id, owner and secret hash are required")
	}
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = now(), time.Time{}, time.Time{}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, owner, admin, secret_hash, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.Owner, t.Admin, t.SecretHash, toMicros(t.CreatedAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("token %q already exists: generate a new id: %w", t.ID, ErrNameTaken)
		}
		return nil
	})
	if err != nil {
		return Token{}, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}

func (d *sqlDB) GetToken(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(d.q().QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, tokenNotFound(id)
	}
	if err != nil {
		return Token{}, fmt.Errorf("get token %q: %w", id, err)
	}
	return t, nil
}

// GetTokenSeeing is GetToken, with the stores' generation read in the same
// statement (one round trip for a request that lists stores), or from
// memory while the change feed follows the database (see FollowChanges).
func (d *sqlDB) GetTokenSeeing(ctx context.Context, id string) (Token, int64, error) {
	if d.tx != nil {
		return d.getTokenSeeing(ctx, id)
	}
	if t, gen, ok := d.feed.token(id); ok {
		return t, gen, nil
	}
	m := d.feed.mark()
	t, gen, err := d.getTokenSeeing(ctx, id)
	if err == nil {
		d.feed.fill(m, t, gen)
	}
	return t, gen, err
}

func (d *sqlDB) getTokenSeeing(ctx context.Context, id string) (Token, int64, error) {
	var gen int64
	row := d.q().QueryRowContext(ctx, `SELECT `+tokenColumns+`, (SELECT n FROM store_generation WHERE id = 1) FROM tokens WHERE id = $1`, id)
	t, err := scanToken(appendScan{row, &gen})
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, 0, tokenNotFound(id)
	}
	if err != nil {
		return Token{}, 0, fmt.Errorf("get token %q: %w", id, err)
	}
	return t, gen, nil
}

// appendScan is a row whose Scan fills more destinations after the ones
// it is given.
type appendScan struct {
	row  scanner
	more any
}

func (a appendScan) Scan(dest ...any) error { return a.row.Scan(append(dest, a.more)...) }

// ListTokens lists every token, revoked ones too, oldest first.
func (d *sqlDB) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := d.q().QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	tokens := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken marks the token revoked; revoking it again keeps the first
// revocation time.
func (d *sqlDB) RevokeToken(ctx context.Context, id string) error {
	// Forgotten here once committed; the notification tells other
	// processes.
	defer d.afterCommit(func() { d.feed.forget(id) })
	return d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`,
			toMicros(now()), id)
		if err != nil {
			return fmt.Errorf("revoke token %q: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tokenNotFound(id)
		}
		return nil
	})
}

// TouchToken records that the token was just used.
func (d *sqlDB) TouchToken(ctx context.Context, id string) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used_at = $1 WHERE id = $2`, toMicros(now()), id)
		if err != nil {
			return fmt.Errorf("touch token %q: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tokenNotFound(id)
		}
		return nil
	})
}
