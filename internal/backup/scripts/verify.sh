# verify: whether backup BACKUP_ID of store BACKUP_STORE can be restored.
# restic checks the repository's structure (and reads the random subset of
# its data VERIFY_READ_DATA_SUBSET names, default 5%); then every byte of
# the backup is read back, which authenticates each blob: the files as a tar
# stream that is counted and dropped, the dump by loading it into a scratch
# database of the store's MariaDB (dropped at the end), whose tables must
# number what the backup counted, and whose rows are counted.
#
# Environment: BACKUP_STORE, BACKUP_ID, DB_NAME (the scratch database is
# named after it), RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, DB_*.
need BACKUP_STORE BACKUP_ID DB_NAME RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
check BACKUP_STORE "$store_re"
check BACKUP_ID "$id_re"
check DB_NAME "$db_re"
VERIFY_READ_DATA_SUBSET=${VERIFY_READ_DATA_SUBSET:-5%}
check VERIFY_READ_DATA_SUBSET '[0-9]+(\.[0-9]+)?%|[0-9]+/[0-9]+|[0-9]+[kKmMgGtT]?'
db_options

find_part "$BACKUP_STORE" "$BACKUP_ID" db
db_snap=$snap
want_tables=$snap_tables
find_part "$BACKUP_STORE" "$BACKUP_ID" files
files_snap=$snap
files_path=$snap_path

log "checking the repository"
rst check --read-data-subset "$VERIFY_READ_DATA_SUBSET" >&2 || die "the repository check failed: the repository is damaged"

log "reading the files of snapshot $files_snap"
rm -f "$work/dump.rc"
{ rst dump --archive tar "$files_snap" "$files_path" || echo $? >"$work/dump.rc"; } |
	tar -tvf - >"$work/files.txt" || die "reading the files of snapshot $files_snap failed"
[ ! -s "$work/dump.rc" ] || die "reading the files of snapshot $files_snap failed: the backup is damaged"
files=$(awk 'substr($1, 1, 1) == "-" { n++ } END { print n + 0 }' "$work/files.txt")
files_bytes=$(awk 'substr($1, 1, 1) == "-" { b += $3 } END { printf "%.0f\n", b }' "$work/files.txt")

scratch=${DB_NAME}__urumi_verify
cleanup_sql="DROP DATABASE IF EXISTS \`$scratch\`"
log "loading the database dump of snapshot $db_snap into a scratch database"
load_dump "$db_snap" "$scratch"
tables=$(count_tables "$scratch")
[ "$tables" -gt 0 ] || die "the database dump holds no tables"
if [ -n "$want_tables" ] && [ "$tables" -ne "$want_tables" ]; then
	die "the dump loaded $tables tables where the backup counted $want_tables"
fi
[ "$(count_moveless "$scratch")" -eq 0 ] || die "the backup holds views or triggers, which a restore cannot move"
rows=$(count_rows "$scratch")

result '{"operation":"verify","backup_store":"%s","backup_id":"%s","db_snapshot":"%s","files_snapshot":"%s","tables":%s,"rows":%s,"files":%s,"files_bytes":%s}' \
	"$BACKUP_STORE" "$BACKUP_ID" "$db_snap" "$files_snap" "$tables" "$rows" "$files" "$files_bytes"
