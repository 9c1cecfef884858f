-- Backups: one row per backup of a store, from the moment it is asked for
-- to its end. The snapshots are restic's, in the operator's repository;
-- no credential is kept here. Rows outlive their store (by name and
-- owner): its backups can still be listed, restored into a new store or
-- deleted after it is gone.
CREATE TABLE backups (
    id             TEXT    PRIMARY KEY,
    store          TEXT    NOT NULL,
    owner          TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('manual', 'scheduled')),
    status         TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'deleting')),
    actor          TEXT    NOT NULL,
    job_id         INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    size           INTEGER NOT NULL DEFAULT 0,
    db_snapshot    TEXT    NOT NULL DEFAULT '',
    files_snapshot TEXT    NOT NULL DEFAULT '',
    error          TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX backups_store ON backups (store, created_at);
CREATE INDEX backups_owner ON backups (owner, created_at);
