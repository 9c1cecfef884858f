package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/urumi/urumi/internal/store/storetest"
)

// Every test runs against both backends, each on a fresh database of its
// own: a SQLite file in t.TempDir(), or a PostgreSQL schema dropped when the
// test ends.

// testDB is one fresh database a test can open any number of handles on,
// as separate processes would.
type testDB struct {
	dsn     string
	dialect dialect
	key     []byte // the audit key open uses unless told otherwise
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
	return testDB{dsn: storetest.SQLiteDSN(t), dialect: dialectSQLite, key: storetest.AuditKey(t)}
}

// newPostgresDB creates a schema and returns a DSN whose search_path is it.
func newPostgresDB(t *testing.T) testDB {
	return testDB{dsn: storetest.PostgresDSN(t), dialect: dialectPostgres, key: storetest.AuditKey(t)}
}

// open opens a new handle with the test's audit key unless opts has one,
// closed when the test ends.
func (tdb testDB) open(t *testing.T, opts Options) DB {
	t.Helper()
	if opts.AuditKey == nil {
		opts.AuditKey = tdb.key
	}
	return tdb.openRaw(t, opts)
}

// openRaw opens a new handle with opts as they are.
func (tdb testDB) openRaw(t *testing.T, opts Options) DB {
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
