package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Options tune a DB.
type Options struct {
	// DefaultMaxStores is the store limit of owners without a quota row;
	// 0 means 5.
	DefaultMaxStores int
	// AuditKey keys the audit log's hash chain (HMAC-SHA256), at least 32
	// bytes, kept outside the database (LoadAuditKey reads it from a file).
	// Without it the database opens, but the audit log can be neither
	// written nor verified.
	AuditKey []byte
}

// MinAuditKeyLen is the shortest audit key Open accepts.
const MinAuditKeyLen = 32

// defaultMaxStores applies when Options.DefaultMaxStores is 0.
const defaultMaxStores = 5

// sqliteParams make every connection wait for locks instead of failing,
// enforce foreign keys, use WAL so readers never block the writer, read
// through mmap (a large list then costs no read syscalls), and begin every
// read-write transaction with BEGIN IMMEDIATE so it holds the write lock from
// the start (no deadlocking lock upgrades between processes).
const sqliteParams = "?_pragma=busy_timeout(10000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=mmap_size(268435456)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_txlock=immediate"

// Open opens the database at dsn and brings its schema up to date. A dsn
// starting with postgres:// or postgresql:// is a PostgreSQL connection
// string; anything else is the path of a SQLite file, created with its
// parent directory if missing.
func Open(ctx context.Context, dsn string, opts Options) (DB, error) {
	if opts.DefaultMaxStores < 0 {
		return nil, fmt.Errorf("default store limit %d is invalid: use 0 (meaning %d) or more", opts.DefaultMaxStores, defaultMaxStores)
	}
	if opts.AuditKey != nil && len(opts.AuditKey) < MinAuditKeyLen {
		return nil, fmt.Errorf("the audit key is %d bytes long: use at least %d random bytes (a new key file has 32)",
			len(opts.AuditKey), MinAuditKeyLen)
	}
	d := &sqlDB{defaultMax: opts.DefaultMaxStores, limits: &limitState{}}
	if d.defaultMax == 0 {
		d.defaultMax = defaultMaxStores
	}
	if opts.AuditKey != nil {
		d.auditKey = append([]byte(nil), opts.AuditKey...)
		d.keyID = keyFingerprint(d.auditKey)
	}
	if isPostgres(dsn) {
		return openPostgres(ctx, dsn, d)
	}
	return openSQLite(ctx, dsn, d)
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func openSQLite(ctx context.Context, path string, d *sqlDB) (DB, error) {
	openErr := func(err error) error {
		if explained := explainDisk(path, err); explained != err {
			return explained
		}
		return fmt.Errorf("open database %s: %w: check --db or URUMI_DB", path, err)
	}
	if path == "" {
		return nil, openErr(errors.New("no path given"))
	}
	if strings.ContainsAny(path, "?#") {
		return nil, openErr(errors.New("a SQLite path must not contain '?' or '#'"))
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, openErr(err)
		}
		// The file holds token hashes: create it private. SQLite gives its
		// -wal and -shm files the same mode.
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return nil, openErr(err)
		}
		f.Close()
		// An existing file others can read (made by an older urumi, or
		// copied in) is made private, or refused when it is not ours.
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := keepPrivate(p, "database file"); err != nil {
				return nil, err
			}
		}
	}
	db, err := sql.Open("sqlite", path+sqliteParams)
	if err != nil {
		return nil, openErr(err)
	}
	if path == ":memory:" {
		// Every connection to :memory: is a separate database.
		db.SetMaxOpenConns(1)
	}
	// database/sql keeps 2 idle connections by default and closes the rest
	// as they come back: under concurrent requests, each extra one would be
	// opened again, with its pragmas and the schema read anew.
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	d.db, d.dialect, d.name = db, dialectSQLite, path
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, openErr(err)
	}
	return d, nil
}

func openPostgres(ctx context.Context, dsn string, d *sqlDB) (DB, error) {
	name := redact(dsn)
	openErr := func(err error) error {
		return fmt.Errorf("open database %s: %w: check --db or URUMI_DB", name, err)
	}
	dsn, maxConns, err := poolSize(dsn)
	if err != nil {
		return nil, openErr(err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, openErr(err)
	}
	db := stdlib.OpenDB(*cfg)
	d.feed = newChangeFeed(cfg)
	// Bounded: a burst of requests waits for a connection instead of
	// opening one each until the server refuses ("too many clients", at
	// 100 by default, shared by every replica). Idle connections are kept
	// up to the bound while busy, so a steady load does not reconnect.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(time.Minute)
	d.db, d.dialect, d.name = db, dialectPostgres, name
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, openErr(err)
	}
	return d, nil
}

// defaultPoolSize is how many connections one process opens to
// PostgreSQL at most: three replicas stay well inside the server's default
// of 100.
const defaultPoolSize = 25

// poolSize takes pool_max_conns (as pgxpool spells it) out of a
// PostgreSQL URL: the connection limit of this process.
func poolSize(dsn string) (string, int, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn, 0, err
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	if v == "" {
		return dsn, defaultPoolSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return dsn, 0, fmt.Errorf("pool_max_conns=%q: want a whole number of connections, at least 1", v)
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

// redact hides a password in a connection string so it can go in messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable PostgreSQL URL)"
	}
	return u.Redacted()
}

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// sqlDB implements DB on database/sql for both dialects. Queries use $N
// placeholders, which both drivers accept, and times are int64 unix
// microseconds in UTC so they round-trip exactly on both.
//
// Inside Atomic, a copy of it carries the transaction (tx), and every
// method runs its statements on that transaction's connection: on SQLite,
// the only writer, anything sent to the pool instead would wait for the
// transaction's own write lock.
type sqlDB struct {
	db         *sql.DB
	tx         *txState // set inside Atomic
	dialect    dialect
	name       string // path or redacted URL, for messages
	defaultMax int
	auditKey   []byte // nil: the audit log can be read, not written or verified
	keyID      string // keyFingerprint(auditKey)
	limits     *limitState
	feed       *changeFeed // PostgreSQL: see FollowChanges
}

// txState is the transaction of an Atomic call and its savepoint depth.
type txState struct {
	tx         *sql.Tx
	savepoints int
	// committed runs once the transaction is over (see afterCommit).
	committed []func()
}

// afterCommit runs fn once what was just written is committed: now, or
// inside Atomic when its transaction ends. It tells the change feed of
// this process's changes, so it runs when the commit's outcome is not
// known, or the transaction rolled back, too: the feed then forgets
// more than it had to.
func (d *sqlDB) afterCommit(fn func()) {
	if d.tx != nil {
		d.tx.committed = append(d.tx.committed, fn)
		return
	}
	fn()
}

// storesChanged tells the change feed, if any, that this process changed
// a store.
func (d *sqlDB) storesChanged() {
	if d.feed != nil {
		d.afterCommit(d.feed.storesChanged)
	}
}

// q is where statements go: the transaction inside Atomic, else the pool.
func (d *sqlDB) q() querier {
	if d.tx != nil {
		return d.tx.tx
	}
	return d.db
}

func (d *sqlDB) Ping(ctx context.Context) error {
	var err error
	if d.tx != nil {
		_, err = d.tx.tx.ExecContext(ctx, `SELECT 1`)
	} else {
		err = d.db.PingContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("ping database %s: %w", d.name, err)
	}
	return nil
}

func (d *sqlDB) Close() error {
	if d.tx != nil {
		return errors.New("close database: not inside Atomic: close the handle Atomic was called on")
	}
	return d.db.Close()
}

// now is the current time as the database keeps it: UTC, microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func toMicros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromNullMicros maps NULL to the zero time.
func fromNullMicros(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return fromMicros(us.Int64)
}

// nullMicros maps the zero time to NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: toMicros(t), Valid: true}
}

// forUpdate locks selected rows on PostgreSQL. SQLite needs no row locks:
// its write transactions already hold the database's write lock.
func (d *sqlDB) forUpdate() string {
	if d.dialect == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// inTx runs fn in a read-write transaction and commits if fn returns nil.
// Inside Atomic it runs fn in a savepoint of Atomic's transaction instead,
// so each method stays all-or-nothing (and, on PostgreSQL, a failed
// statement does not doom the whole transaction).
func (d *sqlDB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if d.tx != nil {
		return d.savepoint(ctx, func() error { return fn(d.tx.tx) })
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return d.explain(fmt.Errorf("begin transaction on %s: %w", d.name, err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return d.explain(err)
	}
	if err := tx.Commit(); err != nil {
		return d.explain(fmt.Errorf("commit transaction on %s: %w", d.name, err))
	}
	return nil
}

// savepoint runs fn inside a savepoint of Atomic's transaction and rolls
// back to it if fn fails.
func (d *sqlDB) savepoint(ctx context.Context, fn func() error) error {
	st := d.tx
	st.savepoints++
	defer func() { st.savepoints-- }()
	name := fmt.Sprintf("urumi_sp%d", st.savepoints)
	if _, err := st.tx.ExecContext(ctx, `SAVEPOINT `+name); err != nil {
		return fmt.Errorf("begin savepoint on %s: %w", d.name, err)
	}
	if err := fn(); err != nil {
		// The context may be done: the rollback must still be sent.
		rctx := context.WithoutCancel(ctx)
		if _, rerr := st.tx.ExecContext(rctx, `ROLLBACK TO SAVEPOINT `+name); rerr != nil {
			return errors.Join(err, fmt.Errorf("roll back savepoint on %s: %w", d.name, rerr))
		}
		if _, rerr := st.tx.ExecContext(rctx, `RELEASE SAVEPOINT `+name); rerr != nil {
			return errors.Join(err, fmt.Errorf("release savepoint on %s: %w", d.name, rerr))
		}
		return err
	}
	// Kept, not released: the transaction's commit or rollback ends it
	// with the rest, and a later savepoint of the same name hides it (a
	// rollback to a name goes to the newest). Each RELEASE was a round
	// trip to the database, one for every store write inside an Atomic.
	return nil
}

// Atomic runs fn in one transaction: everything fn does through tx commits
// together when fn returns nil, and nothing does when it returns an error
// (returned as is). Inside fn, use only tx, never the handle Atomic was
// called on, and only from fn's goroutine. A nested Atomic on tx runs in a
// savepoint of the same transaction.
func (d *sqlDB) Atomic(ctx context.Context, fn func(tx DB) error) error {
	if d.tx != nil {
		return d.savepoint(ctx, func() error { return fn(d) })
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return d.explain(fmt.Errorf("begin transaction on %s: %w", d.name, err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	td := *d
	td.tx = &txState{tx: tx}
	defer func() { // committed, rolled back or unknown: see afterCommit
		for _, hook := range td.tx.committed {
			hook()
		}
	}()
	if err := fn(&td); err != nil {
		return d.explain(err)
	}
	if err := tx.Commit(); err != nil {
		return d.explain(fmt.Errorf("commit transaction on %s: %w", d.name, err))
	}
	return nil
}
