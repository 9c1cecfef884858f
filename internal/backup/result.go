package backup

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Result is what a backup Job's script reports, as the last line of its
// output and as its container's termination message: the snapshots,
// counts and sizes the runner records. Fields an operation does not report
// are zero.
type Result struct {
	Operation   Operation `json:"operation"`
	Store       string    `json:"store,omitempty"`
	BackupStore string    `json:"backup_store,omitempty"`
	BackupID    string    `json:"backup_id,omitempty"`
	// DBSnapshot and FilesSnapshot are restic's snapshot IDs of the
	// backup's two parts.
	DBSnapshot    string `json:"db_snapshot,omitempty"`
	FilesSnapshot string `json:"files_snapshot,omitempty"`
	// Tables and Rows are the database's (restore and verify count rows
	// exactly; backup counts tables only).
	Tables int   `json:"tables,omitempty"`
	Rows   int64 `json:"rows,omitempty"`
	// Files are the files backed up or read back by verify (regular files
	// only), or restored (directories and links too); FilesBytes their
	// size.
	Files      int64 `json:"files,omitempty"`
	FilesBytes int64 `json:"files_bytes,omitempty"`
	// DBBytes is the dump's size and Size the backup's (dump and files);
	// DataAdded what the backup added to the repository after
	// deduplication and compression.
	DBBytes   int64 `json:"db_bytes,omitempty"`
	Size      int64 `json:"size,omitempty"`
	DataAdded int64 `json:"data_added,omitempty"`
	// Kept and Removed count the store's backups after forget, Removed
	// the backup delete removed (0 when it was not there).
	Kept    int `json:"kept,omitempty"`
	Removed int `json:"removed,omitempty"`
}

// ParseResult reads the result of an operation from its script's output
// or its container's termination message: the last non-empty line, which
// must be the operation's JSON object. A script that failed reports none;
// the message is then its last lines of output, which the error quotes.
func ParseResult(op Operation, output []byte) (Result, error) {
	lines := bytes.Split(bytes.TrimSpace(output), []byte("\n"))
	last := lines[len(lines)-1]
	var r Result
	if err := json.Unmarshal(last, &r); err != nil {
		return Result{}, fmt.Errorf("the %s job reported no result (%w); its output ends: %s", op, err, tail(output))
	}
	if r.Operation != op {
		return Result{}, fmt.Errorf("the %s job reported the result of a %q", op, r.Operation)
	}
	if op == OpBackup && (r.DBSnapshot == "" || r.FilesSnapshot == "") {
		return Result{}, fmt.Errorf("the backup job reported no snapshot IDs")
	}
	return r, nil
}

// tail is the end of a failed job's output, for its error: what its
// script said last.
func tail(output []byte) string {
	const max = 600
	out := bytes.TrimSpace(output)
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return string(out)
}
