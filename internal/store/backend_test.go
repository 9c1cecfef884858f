package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Every test runs against both backends, each on a fresh database of its
// own: a SQLite file in t.TempDir(), or a PostgreSQL schema dropped when the
// test ends.

const defaultTestPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testDB is one fresh database a test can open any number of handles on,
// as separate processes would.
type testDB struct {
	dsn     string
	dialect dialect
}

// forEachBackend runs fn as a parallel subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, tdb testDB)) {
	t.Helper()
	backends := []struct {
		name string
		new  func(t *testing.T) testDB
	}{
		{"sqlite", newSQLiteDB},
		{"postgres", newPostgresDB},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.new(t))
		})
	}
}

func newSQLiteDB(t *testing.T) testDB {
	return testDB{dsn: filepath.Join(t.TempDir(), "state", "urumi.db"), dialect: dialectSQLite}
}

// newPostgresDB creates a schema and returns a DSN whose search_path is it.
func newPostgresDB(t *testing.T) testDB {
	base := os.Getenv("URUMI_TEST_POSTGRES")
	if base == "" {
		base = defaultTestPostgres
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("URUMI_TEST_POSTGRES=%q: %v", base, err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable: %v", redact(base), err)
		}
		t.Skipf("PostgreSQL at %s is unreachable (%v): start it with "+
			"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "+
			"or point URUMI_TEST_POSTGRES at one", redact(base), err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "urumi_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// Runs after the handles the test opened are closed (cleanups
		// run last-registered first).
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("URUMI_TEST_POSTGRES=%q: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return testDB{dsn: u.String(), dialect: dialectPostgres}
}

// open opens a new handle, closed when the test ends.
func (tdb testDB) open(t *testing.T, opts Options) DB {
	t.Helper()
	db, err := Open(context.Background(), tdb.dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// raw is the handle's database/sql pool, for tampering as someone with
// direct database access would.
func raw(db DB) *sql.DB { return db.(*sqlDB).db }

func (tdb testDB) exec(t *testing.T, db DB, query string, args ...any) error {
	t.Helper()
	_, err := raw(db).ExecContext(context.Background(), query, args...)
	return err
}

func (tdb testDB) mustExec(t *testing.T, db DB, query string, args ...any) {
	t.Helper()
	if err := tdb.exec(t, db, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// dropTrigger removes one of the audit log's append-only triggers.
func (tdb testDB) dropTrigger(t *testing.T, db DB, name string) {
	t.Helper()
	query := "DROP TRIGGER " + name
	if tdb.dialect == dialectPostgres {
		query += " ON audit_log"
	}
	tdb.mustExec(t, db, query)
}
