// Package storetest gives tests fresh, real databases: a SQLite file in the
// test's temporary directory, or a PostgreSQL schema of their own on the
// server at URUMI_TEST_POSTGRES (default: the development machines' local
// server), dropped when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// DefaultPostgres is the server tests use unless URUMI_TEST_POSTGRES says.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SQLiteDSN is a path for a new SQLite database.
func SQLiteDSN(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "urumi.db")
}

// PostgresAdmin connects to the test server as its administrator, for
// tests that make databases or schemas of their own. Without a reachable
// server the test skips, saying how to start one, except under CI=true,
// where it fails.
func PostgresAdmin(t testing.TB) (*sql.DB, *url.URL) {
	t.Helper()
	base := os.Getenv("URUMI_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("URUMI_TEST_POSTGRES: %v", err)
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("URUMI_TEST_POSTGRES: %v", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable: %v", u.Redacted(), err)
		}
		t.Skipf("PostgreSQL at %s is unreachable (%v): start it with "+
			"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "+
			"or point URUMI_TEST_POSTGRES at one", u.Redacted(), err)
	}
	return admin, u
}

// RandomSuffix makes names of test databases and schemas unique.
func RandomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PostgresDSN creates a schema for t and returns a DSN whose search_path is
// it; the schema is dropped when the test ends, after the handles the test
// opened are closed (cleanups run last-registered first).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin, u := PostgresAdmin(t)
	schema := "urumi_test_" + RandomSuffix()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// AuditKey is a new random audit key (store.Options.AuditKey) for a test.
func AuditKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// FailAuditInserts makes every insert into the audit log of the database
// at dsn fail from now on, as a full disk or a crash between a change and
// its audit entry would, behind urumi's back.
func FailAuditInserts(t testing.TB, dsn string) {
	t.Helper()
	var (
		db    *sql.DB
		stmts []string
		err   error
	)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		cfg, perr := pgx.ParseConfig(dsn)
		if perr != nil {
			t.Fatal(perr)
		}
		db = stdlib.OpenDB(*cfg)
		stmts = []string{
			`CREATE FUNCTION audit_insert_fails() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'audit insert fails in this test'; END $$`,
			`CREATE TRIGGER audit_insert_fails BEFORE INSERT ON audit_log
				FOR EACH ROW EXECUTE FUNCTION audit_insert_fails()`,
		}
	} else {
		db, err = sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		stmts = []string{`CREATE TRIGGER audit_insert_fails BEFORE INSERT ON audit_log
			BEGIN SELECT RAISE(ABORT, 'audit insert fails in this test'); END`}
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("make audit inserts fail: %v", err)
		}
	}
}
