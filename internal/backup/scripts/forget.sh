# forget: applies a store's retention to its backups and prunes the data no
# snapshot uses any more. A backup is two snapshots (db and files) taken
# together; restic's policy is applied per host and path, so to each part
# alike, and keeps the same backups of both. Snapshots of incomplete
# backups (one part only, left by an interrupted run) are forgotten first,
# so that they cannot make the two parts' lists differ. At most one job
# runs per store, so no backup of the store is under way meanwhile.
#
# Environment: STORE, RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, and at least
# one of KEEP_LAST, KEEP_DAILY, KEEP_WEEKLY, KEEP_MONTHLY.
need STORE RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
check STORE "$store_re"
policy=
for _k in LAST DAILY WEEKLY MONTHLY; do
	eval "_v=\${KEEP_$_k:-}"
	[ -n "$_v" ] || continue
	check "KEEP_$_k" '[1-9][0-9]{0,3}'
	policy="$policy --keep-$(printf '%s' "$_k" | tr '[:upper:]' '[:lower:]') $_v"
done
[ -n "$policy" ] || die "no retention: set KEEP_LAST, KEEP_DAILY, KEEP_WEEKLY or KEEP_MONTHLY"

# backups: the distinct backup IDs of the store, with their snapshot counts.
backups() {
	rst snapshots --json --tag "urumi,store=$STORE" >"$work/snapshots.json" || die "listing snapshots failed"
	grep -o '"backup=[^"]*"' "$work/snapshots.json" | sort | uniq -c
}

# Locks left by killed runs; restic removes only stale ones.
rst unlock >&2 || die "removing stale locks failed"
before=$(backups | wc -l)
for id in $(backups | awk '$1 == 1 { print $2 }' | sed 's/"backup=\(.*\)"/\1/'); do
	log "forgetting incomplete backup $id"
	# shellcheck disable=SC2046 # one ID a word
	rst forget $(snapshot_ids "urumi,store=$STORE,backup=$id") >&2 || die "forgetting incomplete backup $id failed"
done

log "applying the retention:$policy"
# shellcheck disable=SC2086 # the policy's words
rst forget --tag "urumi,store=$STORE" --group-by host,paths $policy --prune >&2 ||
	die "applying the retention failed"
after=$(backups | wc -l)

result '{"operation":"forget","store":"%s","kept":%s,"removed":%s}' "$STORE" "$after" $((before - after))
