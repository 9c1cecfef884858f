// Package backup is the data path of a store's backups: the POSIX sh
// scripts that back up, restore, verify and prune a store with restic and
// mariadb-dump, the Kubernetes Jobs that run them in the store's namespace,
// and the NetworkPolicy that lets those Jobs, and nothing else, reach the
// backup repository. The orchestration (durable jobs, the CLI, the API)
// builds on it; nothing here talks to a cluster.
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
)

// Operations lists every operation.
func Operations() []Operation { return []Operation{OpBackup, OpRestore, OpVerify, OpForget} }

// Script returns the program a Job of the operation runs with sh -c: the
// shared functions followed by the operation's script. Its environment is
// described at the top of each script and filled by Job.
func Script(op Operation) (string, error) {
	common, err := scriptFS.ReadFile("scripts/common.sh")
	if err != nil {
		return "", fmt.Errorf("read the shared backup script: %w", err)
	}
	switch op {
	case OpBackup, OpRestore, OpVerify, OpForget:
	default:
		return "", fmt.Errorf("backup operation %q is unknown: use one of backup, restore, verify, forget", op)
	}
	body, err := scriptFS.ReadFile("scripts/" + string(op) + ".sh")
	if err != nil {
		return "", fmt.Errorf("read the %s script: %w", op, err)
	}
	return string(common) + "\n" + string(body), nil
}
