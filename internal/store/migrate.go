package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations are NNNN_name.sql files, applied in order, once each.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func (d *sqlDB) migrations() ([]migration, error) {
	dir := "migrations/sqlite"
	if d.dialect == dialectPostgres {
		dir = "migrations/postgres"
	}
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// auditKeyMigration is the migration after which the audit chain is keyed;
// keyAuditLog runs right after it, in its transaction, so a log is
// converted from the unkeyed chain exactly once.
const auditKeyMigration = 2

// migrate applies the migrations the database lacks. An up-to-date database
// costs one query. Otherwise everything runs in one transaction that, on
// PostgreSQL, first takes an advisory lock for the schema so processes
// starting together apply each migration once; on SQLite the immediate
// transaction's write lock does the same.
func (d *sqlDB) migrate(ctx context.Context) error {
	ms, err := d.migrations()
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	var current int
	err = d.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current)
	if err == nil && current >= latest {
		return checkNotNewer(current, latest)
	}
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if d.dialect == dialectPostgres {
			if _, err := tx.ExecContext(ctx,
				`SELECT pg_advisory_xact_lock(hashtext('urumi.migrate/' || COALESCE(current_schema(), '')))`); err != nil {
				return fmt.Errorf("lock schema for migration: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at BIGINT  NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if err := checkNotNewer(current, latest); err != nil {
			return err
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if m.version == auditKeyMigration {
				if err := d.keyAuditLog(ctx, tx); err != nil {
					return fmt.Errorf("apply migration %s: %w", m.name, err)
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.version, toMicros(now())); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

func checkNotNewer(current, latest int) error {
	if current > latest {
		return fmt.Errorf("database schema version %d is newer than this urumi supports (%d): upgrade urumi", current, latest)
	}
	return nil
}
