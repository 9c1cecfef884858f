# restore: puts backup BACKUP_ID of store BACKUP_STORE back into this store
# (the same one, or a new one), replacing what is there. WordPress must be
# scaled down while it runs.
#
# 1. The dump is loaded into a scratch database beside DB_NAME; a dump that
#    does not load, or loads fewer tables than were backed up, stops the
#    restore before anything of the store is touched.
# 2. For a restore into another store (OLD_URL and NEW_URL set, e.g.
#    https://shop.example.com and https://staging.example.com), the site's
#    URL (the options siteurl and home) is rewritten in the scratch copy:
#    the OLD_URL prefix becomes NEW_URL. Without OLD_URL, it is the scheme
#    and host (and port) of the backup's own home option, checked like a
#    given one: the store's owner wrote it, and it reaches SQL. Links
#    inside posts and serialized
#    options still name the old host; rewriting those safely is wp-cli's
#    `search-replace`, run by WordPress' own image, not here.
# 3. The files are restored into WP_DIR: changed files overwritten, files
#    the backup does not hold deleted (except the volume's lost+found).
# 4. DB_NAME's tables are swapped for the scratch ones in one RENAME TABLE,
#    which is atomic. Views and triggers cannot be renamed across
#    databases; a backup holding them is refused in step 1.
#
# Environment: STORE, BACKUP_STORE, BACKUP_ID, DB_NAME, WP_DIR,
# RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, DB_*; optional OLD_URL, NEW_URL,
# TABLE_PREFIX (default wp_).
need STORE BACKUP_STORE BACKUP_ID DB_NAME WP_DIR RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
check STORE "$store_re"
check BACKUP_STORE "$store_re"
check BACKUP_ID "$id_re"
check DB_NAME "$db_re"
TABLE_PREFIX=${TABLE_PREFIX:-wp_}
check TABLE_PREFIX '[A-Za-z0-9_]{1,20}'
url_re='https?://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~/]*)?'
if [ -n "${OLD_URL:-}${NEW_URL:-}" ]; then
	need NEW_URL
	check NEW_URL "$url_re"
	[ -z "${OLD_URL:-}" ] || check OLD_URL "$url_re"
fi
[ -d "$WP_DIR" ] || die "WP_DIR is not a directory"
db_options

find_part "$BACKUP_STORE" "$BACKUP_ID" db
db_snap=$snap
want_tables=$snap_tables
find_part "$BACKUP_STORE" "$BACKUP_ID" files
files_snap=$snap
files_path=$snap_path

scratch=${DB_NAME}__urumi_restore
cleanup_sql="DROP DATABASE IF EXISTS \`$scratch\`"
log "loading the database dump of snapshot $db_snap into a scratch database"
load_dump "$db_snap" "$scratch"
tables=$(count_tables "$scratch")
[ "$tables" -gt 0 ] || die "the database dump holds no tables: the store was not touched"
if [ -n "$want_tables" ] && [ "$tables" -ne "$want_tables" ]; then
	die "the dump loaded $tables tables where the backup counted $want_tables: the store was not touched"
fi
[ "$(count_moveless "$scratch")" -eq 0 ] || die "the backup holds views or triggers, which this restore cannot move: the store was not touched"

if [ -n "${NEW_URL:-}" ]; then
	opts="\`$scratch\`.\`${TABLE_PREFIX}options\`"
	if [ -z "${OLD_URL:-}" ]; then
		OLD_URL=$(sql -e "SELECT option_value FROM $opts WHERE option_name = 'home' LIMIT 1" | sed -n '1s#^\(https\{0,1\}://[^/]*\).*#\1#p')
		[ -n "$OLD_URL" ] || die "the backup has no home option with an http(s) URL to rewrite: the store was not touched"
		check OLD_URL "$url_re"
	fi
	log "rewriting the site URL $OLD_URL to $NEW_URL"
	sql -e "UPDATE $opts SET option_value = CONCAT('$NEW_URL', SUBSTRING(option_value, CHAR_LENGTH('$OLD_URL') + 1)) WHERE option_name IN ('siteurl', 'home') AND LEFT(option_value, CHAR_LENGTH('$OLD_URL')) = '$OLD_URL'"
	off=$(sql -e "SELECT COUNT(*) FROM $opts WHERE option_name IN ('siteurl', 'home') AND LEFT(option_value, CHAR_LENGTH('$NEW_URL')) <> '$NEW_URL'")
	[ "$off" -eq 0 ] || die "the backup's site URL does not start with $OLD_URL: the store was not touched"
fi

log "restoring the files of snapshot $files_snap into $WP_DIR"
# lost+found is not in the backup, and not WordPress': it stays.
rst restore --json "$files_snap:$files_path" --target "$WP_DIR" --overwrite always --delete --exclude /lost+found \
	>"$work/files.json" || die "restoring the files failed: run the restore again"
summary=$(grep '"message_type":"summary"' "$work/files.json" || true)
files=$(printf '%s\n' "$summary" | json_num total_files)
files_bytes=$(printf '%s\n' "$summary" | json_num total_bytes)

log "replacing the tables of database $DB_NAME"
# One RENAME TABLE moves the store's tables out to a second scratch database
# and the restored ones in: atomic, so it happens whole or not at all.
# Views and triggers cannot move between databases: the store's are dropped
# first (the backup holds none, as checked above).
old=${DB_NAME}__urumi_old
cleanup_sql="DROP DATABASE IF EXISTS \`$scratch\`; DROP DATABASE IF EXISTS \`$old\`"
# moves FROM TO: "FROM.t TO TO.t, ..." for each table of FROM, or NULL.
moves() {
	sql -e "SELECT GROUP_CONCAT(CONCAT('\`$1\`.\`', t, '\` TO \`$2\`.\`', t, '\`') SEPARATOR ', ') FROM (SELECT REPLACE(table_name, '\`', '\`\`') AS t FROM information_schema.tables WHERE table_schema = '$1' AND table_type = 'BASE TABLE') AS s"
}
drops=$(sql -e "SELECT GROUP_CONCAT(s SEPARATOR ' ') FROM (SELECT CONCAT('DROP VIEW \`', REPLACE(table_name, '\`', '\`\`'), '\`;') AS s FROM information_schema.tables WHERE table_schema = '$DB_NAME' AND table_type = 'VIEW' UNION ALL SELECT CONCAT('DROP TRIGGER \`', REPLACE(trigger_name, '\`', '\`\`'), '\`;') FROM information_schema.triggers WHERE trigger_schema = '$DB_NAME') AS d")
out=$(moves "$DB_NAME" "$old")
in=$(moves "$scratch" "$DB_NAME")
pairs=$in
[ "$out" = NULL ] || pairs="$out, $in"
stmt="CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE \`$DB_NAME\`;"
[ "$drops" = NULL ] || stmt="$stmt $drops"
stmt="$stmt DROP DATABASE IF EXISTS \`$old\`; CREATE DATABASE \`$old\`; RENAME TABLE $pairs; DROP DATABASE \`$old\`;"
sql -e "$stmt" || die "replacing the tables of $DB_NAME failed: run the restore again"
rows=$(count_rows "$DB_NAME")

result '{"operation":"restore","store":"%s","backup_store":"%s","backup_id":"%s","db_snapshot":"%s","files_snapshot":"%s","tables":%s,"rows":%s,"files":%s,"files_bytes":%s}' \
	"$STORE" "$BACKUP_STORE" "$BACKUP_ID" "$db_snap" "$files_snap" "$tables" "$rows" "${files:-0}" "${files_bytes:-0}"
