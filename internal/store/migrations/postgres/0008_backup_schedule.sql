-- Scheduled backups: when a store's next scheduled backup is due (NULL:
-- at once, once a schedule applies). Moved forward by a conditional
-- UPDATE, so that of several replicas' schedulers exactly one queues each
-- scheduled backup.
ALTER TABLE stores ADD COLUMN backup_due_at BIGINT;
