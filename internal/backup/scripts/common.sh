# urumi backup scripts: what every operation shares. A Job runs this file
# followed by one operation's script (backup.sh, restore.sh, verify.sh,
# forget.sh, delete.sh) as one POSIX sh program (dash or bash).
#
# Credentials come only from files and the environment the Job fills from
# Secrets: RESTIC_PASSWORD_FILE (restic reads it itself), DB_PASSWORD_FILE
# (copied into a client option file only this process can read), and
# restic's backend variables (AWS_*, RESTIC_REST_*). None is ever passed as
# an argument or printed. Progress goes to stderr; the last line on stdout is
# one JSON object, the result the runner records (also written to
# RESULT_FILE, the container's termination message).
set -eu
umask 077
export LC_ALL=C

restic=${RESTIC:-restic}

# restic waits for another job's lock on the repository (another store's
# backup, a prune) rather than failing at once.
rst() { "$restic" --retry-lock "${RESTIC_RETRY_LOCK:-30m}" "$@"; }

log() { printf 'urumi: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# need NAME...: each variable is set and not empty.
need() {
	for _n in "$@"; do
		eval "_v=\${$_n:-}"
		[ -n "$_v" ] || die "$_n is not set"
	done
}

# check NAME ERE: the variable's value is one line matching ERE entirely.
# Values reach SQL, restic tags and paths only after this check.
check() {
	eval "_v=\${$1:-}"
	case $_v in *'
'*) die "$1 is invalid: it holds a line break" ;;
	esac
	printf '%s\n' "$_v" | grep -Eqx -- "$2" || die "$1 is invalid: it must match $2"
}

# Name rules shared with the Job builder (internal/backup/job.go).
# shellcheck disable=SC2034 # each operation uses some
{
	store_re='[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'
	id_re='[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?'
	db_re='[A-Za-z0-9_]{1,40}'
}

work=$(mktemp -d "${TMPDIR:-/tmp}/urumi.XXXXXX")
cleanup_sql=
cleanup() {
	if [ -n "$cleanup_sql" ]; then
		sql -e "$cleanup_sql" || log "cleaning up failed: $cleanup_sql"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The MariaDB client's options, the password among them, in a file of this
# process only: mariadb and mariadb-dump read it with --defaults-extra-file.
db_options() {
	_cnf=$work/client.cnf
	{
		printf '[client]\nprotocol=tcp\nhost=%s\nport=%s\nuser=%s\n' \
			"${DB_HOST:-mariadb}" "${DB_PORT:-3306}" "${DB_USER:-root}"
		if [ -n "${DB_PASSWORD_FILE:-}" ]; then
			[ -r "$DB_PASSWORD_FILE" ] || die "DB_PASSWORD_FILE is not readable"
			# Inside double quotes an option file unescapes \\ and \".
			_pw=$(sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' "$DB_PASSWORD_FILE")
			printf 'password="%s"\n' "$_pw"
			_pw=
		fi
	} >"$_cnf"
}

sql() { mariadb --defaults-extra-file="$work/client.cnf" --batch --skip-column-names "$@"; }

# result FORMAT ARG...: the operation's result, one JSON object, as the
# last line on stdout and in RESULT_FILE when set (the Job's termination
# message, which the runner reads from the pod's status).
result() {
	_fmt=$1
	shift
	# shellcheck disable=SC2059 # the format is the caller's, the values are checked
	_r=$(printf "$_fmt" "$@")
	printf '%s\n' "$_r"
	if [ -n "${RESULT_FILE:-}" ]; then
		printf '%s\n' "$_r" >"$RESULT_FILE" || log "writing the result to $RESULT_FILE failed"
	fi
}

# The first value of a JSON string or number field on stdin's lines.
json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" | tail -n 1; }
json_num() { sed -n "s/.*\"$1\":\\([0-9][0-9]*\\).*/\\1/p" | tail -n 1; }

# The restic tags every snapshot of one backup carries. A backup is two
# snapshots, the database dump (part=db) and the files (part=files), which
# share the tags store=STORE and backup=ID.
backup_tags() { printf 'urumi,store=%s,backup=%s' "$1" "$2"; }

# snapshot_ids TAGS: the IDs of the snapshots carrying every tag, oldest first.
snapshot_ids() {
	rst snapshots --json --tag "$1" >"$work/snapshots.json" || die "listing snapshots failed"
	grep -o '"id":"[0-9a-f]*"' "$work/snapshots.json" | sed 's/.*:"\(.*\)"/\1/'
}

# find_part STORE ID PART: sets snap and snap_path to the newest snapshot of
# that part of the backup and the path it holds.
find_part() {
	snap=$(snapshot_ids "$(backup_tags "$1" "$2"),part=$3" | tail -n 1)
	[ -n "$snap" ] || die "backup $2 of store $1 has no $3 snapshot in the repository"
	rst snapshots --json "$snap" >"$work/snapshot.json" || die "reading snapshot $snap failed"
	snap_path=$(sed -n 's/.*"paths":\["\([^"]*\)"[],].*/\1/p' "$work/snapshot.json")
	[ -n "$snap_path" ] || die "snapshot $snap lists no path"
	# shellcheck disable=SC2034 # read by restore and verify
	snap_tables=$(grep -o '"tables=[0-9]*"' "$work/snapshot.json" | sed 's/[^0-9]//g' | head -n 1)
}

# load_dump SNAPSHOT DB: (re)creates DB and loads the dump held by the
# snapshot into it, streaming, and fails when restic or the load does.
load_dump() {
	sql -e "DROP DATABASE IF EXISTS \`$2\`; CREATE DATABASE \`$2\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	rm -f "$work/dump.rc"
	# A pipeline's status is its last command's: restic's goes by a file.
	if ! { rst dump "$1" /db.sql || echo $? >"$work/dump.rc"; } | sql --binary-mode --database="$2"; then
		die "loading the database dump into $2 failed"
	fi
	[ ! -s "$work/dump.rc" ] || die "reading the database dump from snapshot $1 failed"
}

# count_tables DB: base tables, then views and triggers (which the restore's
# swap cannot move; WordPress and WooCommerce create none).
count_tables() {
	sql -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$1' AND table_type = 'BASE TABLE'"
}
count_moveless() {
	sql -e "SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$1' AND table_type <> 'BASE TABLE') + (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = '$1')"
}

# count_rows DB: the exact number of rows of every base table.
count_rows() {
	_q=$(sql -e "SELECT CONCAT('SELECT COALESCE(SUM(n), 0) FROM (', COALESCE(GROUP_CONCAT(CONCAT('SELECT COUNT(*) AS n FROM \`', REPLACE(table_schema, '\`', '\`\`'), '\`.\`', REPLACE(table_name, '\`', '\`\`'), '\`') SEPARATOR ' UNION ALL '), 'SELECT 0 AS n'), ') AS t') FROM information_schema.tables WHERE table_schema = '$1' AND table_type = 'BASE TABLE'")
	sql -e "$_q"
}

# The repository exists, or is made: init refuses to touch an existing one.
ensure_repository() {
	if ! rst cat config >/dev/null 2>&1; then
		log "initialising the repository"
		rst init >&2 || die "the repository can neither be read nor initialised: check its URL, password and credentials"
	fi
}
