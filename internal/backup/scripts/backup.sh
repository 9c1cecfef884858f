# backup: one logical backup of a store, two restic snapshots tagged
# store=STORE and backup=BACKUP_ID: the database, dumped consistently by
# mariadb-dump --single-transaction straight into restic (part=db, the file
# /db.sql), then the WordPress volume's files (part=files). The dump is never
# written to disk, so it needs no scratch space the size of the database;
# two snapshots are the price (restic stores stdin or files per snapshot,
# not both). A backup is complete only when both exist: when the files fail,
# the database snapshot is forgotten again, and a run again with the same
# BACKUP_ID first forgets what an interrupted run left.
#
# Environment: STORE, BACKUP_ID, DB_NAME, WP_DIR (the volume, mounted
# read-only), RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, DB_HOST, DB_PORT,
# DB_USER, DB_PASSWORD_FILE.
need STORE BACKUP_ID DB_NAME WP_DIR RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
check STORE "$store_re"
check BACKUP_ID "$id_re"
check DB_NAME "$db_re"
[ -d "$WP_DIR" ] || die "WP_DIR is not a directory"
db_options
ensure_repository

tags=$(backup_tags "$STORE" "$BACKUP_ID")
left=$(snapshot_ids "$tags")
if [ -n "$left" ]; then
	log "forgetting what an earlier, interrupted run of backup $BACKUP_ID left"
	# shellcheck disable=SC2086 # one ID a word
	rst forget $left >&2 || die "forgetting the snapshots of an interrupted run failed"
fi

tables=$(count_tables "$DB_NAME") || die "cannot read database $DB_NAME: check that MariaDB is up and the credentials"
[ "$tables" -gt 0 ] || die "database $DB_NAME has no tables: nothing to back up"

log "dumping database $DB_NAME ($tables tables)"
# --stdin-from-command makes the snapshot fail when mariadb-dump does, which
# a shell pipe into --stdin would hide (POSIX sh has no pipefail).
rst backup --json --host "$STORE" --tag "$tags,part=db,tables=$tables" \
	--stdin-from-command --stdin-filename db.sql -- \
	mariadb-dump --defaults-extra-file="$work/client.cnf" --single-transaction --quick \
	--hex-blob --default-character-set=utf8mb4 --skip-dump-date "$DB_NAME" \
	>"$work/db.json" || die "dumping database $DB_NAME into the repository failed"
db_snap=$(grep '"message_type":"summary"' "$work/db.json" | json_str snapshot_id)
[ -n "$db_snap" ] || die "restic reported no snapshot for the database dump"
db_bytes=$(grep '"message_type":"summary"' "$work/db.json" | json_num total_bytes_processed)

log "backing up the files of $WP_DIR"
rc=0
# lost+found, at the root of an ext4 volume, belongs to root and is no
# WordPress file: left out, or reading it would fail the backup.
rst backup --json --host "$STORE" --tag "$tags,part=files" --exclude "$WP_DIR/lost+found" "$WP_DIR" \
	>"$work/files.json" || rc=$?
files_snap=$(grep '"message_type":"summary"' "$work/files.json" | json_str snapshot_id || true)
if [ "$rc" -ne 0 ]; then
	# Exit status 3: some files could not be read; restic kept a snapshot
	# without them. Neither half is a backup a store owner can trust.
	log "backing up the files failed (restic exit status $rc): forgetting this backup's snapshots"
	# shellcheck disable=SC2086 # no word when restic kept no files snapshot
	rst forget "$db_snap" $files_snap >&2 || log "forgetting snapshot $db_snap failed"
	die "backing up the files of $WP_DIR failed"
fi
[ -n "$files_snap" ] || die "restic reported no snapshot for the files"
files_bytes=$(grep '"message_type":"summary"' "$work/files.json" | json_num total_bytes_processed)
files=$(grep '"message_type":"summary"' "$work/files.json" | json_num total_files_processed)
added=$(($(grep '"message_type":"summary"' "$work/db.json" | json_num data_added) + $(grep '"message_type":"summary"' "$work/files.json" | json_num data_added)))

result '{"operation":"backup","store":"%s","backup_id":"%s","db_snapshot":"%s","files_snapshot":"%s","tables":%s,"files":%s,"db_bytes":%s,"files_bytes":%s,"size":%s,"data_added":%s}' \
	"$STORE" "$BACKUP_ID" "$db_snap" "$files_snap" "$tables" "$files" "$db_bytes" "$files_bytes" $((db_bytes + files_bytes)) "$added"
