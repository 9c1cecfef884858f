# delete: removes backup BACKUP_ID of store BACKUP_STORE from the
# repository, both its snapshots, and prunes the data no other snapshot
# uses. Deleting a backup that is not there (any more) succeeds: a deletion
# run again after an interruption finishes the job.
#
# Environment: BACKUP_STORE, BACKUP_ID, RESTIC_REPOSITORY,
# RESTIC_PASSWORD_FILE.
need BACKUP_STORE BACKUP_ID RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
check BACKUP_STORE "$store_re"
check BACKUP_ID "$id_re"

ids=$(snapshot_ids "$(backup_tags "$BACKUP_STORE" "$BACKUP_ID")")
removed=0
if [ -n "$ids" ]; then
	removed=1
	log "forgetting the snapshots of backup $BACKUP_ID and pruning"
	# shellcheck disable=SC2086 # one ID a word
	rst forget --prune $ids >&2 || die "deleting backup $BACKUP_ID failed: run the deletion again"
else
	log "backup $BACKUP_ID of store $BACKUP_STORE is not in the repository: nothing to delete"
fi

result '{"operation":"delete","backup_store":"%s","backup_id":"%s","removed":%s}' "$BACKUP_STORE" "$BACKUP_ID" "$removed"
