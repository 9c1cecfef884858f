package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// ErrReadOnly is a SQLite database that cannot be written: its file, its
// directory or their file system is read-only to this process.
var ErrReadOnly = errors.New("the state database is read-only")

// ErrDiskFull is a SQLite database whose disk has no space left.
var ErrDiskFull = errors.New("no space left for the state database")

// diskError says, once and in a user's words, why a SQLite database could
// not be written and what to do. The transaction that met it rolled back.
type diskError struct {
	path  string
	full  bool
	cause error
}

func (e *diskError) Error() string {
	if e.full {
		return fmt.Sprintf("no space left on the device holding the state database %s (%s): "+
			"free space there or move the database to a larger disk; nothing was changed", e.path, e.reason())
	}
	return fmt.Sprintf("the state database %s is read-only (%s): make the file and its directory writable "+
		"by this user and their file system mounted read-write, or use another database; nothing was changed", e.path, e.reason())
}

// reason is what SQLite or the system said, without the operations that
// wrap it: the message already says which database.
func (e *diskError) reason() string {
	var se *sqlite.Error
	if errors.As(e.cause, &se) {
		return se.Error()
	}
	var errno syscall.Errno
	if errors.As(e.cause, &errno) {
		return errno.Error()
	}
	return e.cause.Error()
}

func (e *diskError) Unwrap() []error {
	if e.full {
		return []error{ErrDiskFull, e.cause}
	}
	return []error{ErrReadOnly, e.cause}
}

// SQLite's primary result codes (https://sqlite.org/rescode.html).
const (
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)

// explain turns an error that a read-only or full disk caused into one
// that says so; anything else it returns as it is.
func (d *sqlDB) explain(err error) error {
	if err == nil || d.dialect != dialectSQLite || d.name == ":memory:" ||
		errors.Is(err, ErrReadOnly) || errors.Is(err, ErrDiskFull) {
		return err
	}
	return explainDisk(d.name, err)
}

// explainDisk classifies err, met while opening or writing the SQLite
// database at path. SQLite names a full disk and a read-only file as such;
// an I/O error or a file it cannot open (its shared-memory file could not
// grow, its journal could not be made) is judged by looking at the disk.
func explainDisk(path string, err error) error {
	code := 0
	var se *sqlite.Error
	if errors.As(err, &se) {
		code = se.Code() & 0xff
	}
	switch {
	case code == sqliteFull || errors.Is(err, syscall.ENOSPC):
		return &diskError{path: path, full: true, cause: err}
	case code == sqliteReadOnly || errors.Is(err, syscall.EROFS):
		return &diskError{path: path, cause: err}
	case code == sqliteIOErr || code == sqliteCantOpen || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		switch {
		case onReadOnlyFS(path):
			return &diskError{path: path, cause: err}
		case lowOnSpace(path):
			return &diskError{path: path, full: true, cause: err}
		}
	}
	return err
}

// Unavailable reports whether err means PostgreSQL could not be reached or
// the connection to it was lost (a restart, a fail-over, a network cut):
// the operation did not happen, or its transaction rolled back, and trying
// again later can succeed. Errors of the request itself are not, and
// neither are network errors of anything else (the cluster's), even when
// they pass through the same call.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's own deadline or cancellation
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03": // admin or crash shutdown, cannot connect now
			return true
		}
		// Class 08: connection exceptions.
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08"
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	// pgconn's other errors (all of which say whether they are safe to
	// retry) wrap what the connection met: a statement on a connection
	// an earlier failure closed, or the network failing under one.
	var conn interface{ SafeToRetry() bool }
	if !errors.As(err, &conn) {
		return false
	}
	var netErr net.Error
	return conn.SafeToRetry() || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
