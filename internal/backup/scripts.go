// Package backup is the data path of a store's backups: the POSIX sh
// scripts that back up, restore, verify, delete and prune a store's
// backups with restic and
// mariadb-dump, the Kubernetes Jobs that run them in the store's namespace,
// and the NetworkPolicies that let those Jobs, and nothing else, reach the
// backup repository. Nothing here talks to a cluster: the orchestration
// (durable jobs, the CLI, the API) creates what these functions build.
//
// For one operation on one store the orchestration
//   - copies the repository's Secret into the store's namespace
//     (RepositorySecret: only the keys the Jobs read) and applies
//     NetworkPolicies beside the store's default deny;
//   - creates Job(JobSpec{...}), waits for it, and reads the result from
//     the pod's log with ParseResult (snapshot IDs, counts, sizes);
//   - for a restore, scales WordPress down first and up after.
//
// A backup is two restic snapshots sharing the tags store=STORE and
// backup=ID: the database dump (part=db, the file /db.sql) and the
// WordPress volume's files (part=files). The dump streams from
// mariadb-dump --single-transaction into restic --stdin-from-command, so it
// never lands on a disk and a failed dump leaves no snapshot; restic cannot
// put stdin and files in one snapshot, and a half backup is forgotten by
// the script (or by the next forget). Restore loads the dump into a
// scratch database first and swaps the tables in one RENAME TABLE, so a
// bad dump never touches the store; it rewrites the siteurl and home
// options for a restore into another store, and leaves links inside posts
// and serialized options to wp-cli's search-replace. Verify reads every
// byte of the backup back (restic authenticates each blob) and loads the
// dump into a scratch database. The scratch databases live on the store's
// MariaDB: its volume needs room for a second copy of the database.
//
// One repository for every store means one password for all: a store's
// namespace holding it could read every store's backups, and restic's
// check and prune lock the whole repository. A repository per store (the
// operator's URL with the store's name appended, initialised by the first
// backup) with a password of its own keeps both to the store.
package backup

import (
	"embed"
	"fmt"
)

//go:embed scripts/*.sh
var scriptFS embed.FS

// Operation is what a backup Job does.
type Operation string

// The operations, each one script.
const (
	// OpBackup dumps the store's database and backs up its WordPress
	// volume as one backup: two snapshots sharing a backup ID.
	OpBackup Operation = "backup"
	// OpRestore replaces the store's database and files with a backup's,
	// optionally rewriting the site URL for a restore into another store.
	OpRestore Operation = "restore"
	// OpVerify checks the repository, reads the whole backup back and
	// loads its dump into a scratch database.
	OpVerify Operation = "verify"
	// OpForget applies a retention to the store's backups and prunes.
	OpForget Operation = "forget"
	// OpDelete removes one backup from the repository and prunes.
	OpDelete Operation = "delete"
)

// Operations lists every operation.
func Operations() []Operation { return []Operation{OpBackup, OpRestore, OpVerify, OpForget, OpDelete} }

// Script returns the program a Job of the operation runs with sh -c: the
// shared functions followed by the operation's script. Its environment is
// described at the top of each script and filled by Job.
func Script(op Operation) (string, error) {
	common, err := scriptFS.ReadFile("scripts/common.sh")
	if err != nil {
		return "", fmt.Errorf("read the shared backup script: %w", err)
	}
	switch op {
	case OpBackup, OpRestore, OpVerify, OpForget, OpDelete:
	default:
		return "", fmt.Errorf("backup operation %q is unknown: use one of backup, restore, verify, forget, delete", op)
	}
	body, err := scriptFS.ReadFile("scripts/" + string(op) + ".sh")
	if err != nil {
		return "", fmt.Errorf("read the %s script: %w", op, err)
	}
	return string(common) + "\n" + string(body), nil
}
