-- Times are unix microseconds, UTC.

-- Stores are soft-deleted so jobs keep pointing at the incarnation they
-- belong to; a name is unique among live stores only.
CREATE TABLE stores (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    plan       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    url        TEXT    NOT NULL DEFAULT '',
    error      TEXT    NOT NULL DEFAULT '',
    phases     TEXT,
    options    TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
) STRICT;
CREATE UNIQUE INDEX stores_live_name ON stores (name) WHERE deleted_at IS NULL;
CREATE INDEX stores_live_owner ON stores (owner, name) WHERE deleted_at IS NULL;

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    store_id         INTEGER NOT NULL REFERENCES stores (id),
    kind             TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    lease_owner      TEXT    NOT NULL DEFAULT '',
    lease_expires_at INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    actor            TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
-- At most one queued or running job per store.
CREATE UNIQUE INDEX jobs_one_active ON jobs (store_id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_claimable ON jobs (id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_store ON jobs (store_id, id);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE job_attempts (
    job_id     INTEGER NOT NULL REFERENCES jobs (id),
    attempt    INTEGER NOT NULL,
    worker     TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    outcome    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, attempt)
) STRICT;

CREATE TABLE quotas (
    owner      TEXT    PRIMARY KEY,
    max_stores INTEGER NOT NULL CHECK (max_stores >= 0),
    updated_at INTEGER NOT NULL
) STRICT;

-- ids are assigned gaplessly by AppendAudit (head.last_id + 1), so a missing
-- id is a deleted entry.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    store       TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_log_store ON audit_log (store, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

-- The last entry's id and hash, updated with every append, so deleting the
-- newest entries is detected too.
CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    last_id INTEGER NOT NULL,
    hash    TEXT    NOT NULL
) STRICT;
INSERT INTO audit_head (id, last_id, hash) VALUES (1, 0, '');
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TABLE tokens (
    id           TEXT    PRIMARY KEY,
    owner        TEXT    NOT NULL,
    admin        INTEGER NOT NULL,
    secret_hash  BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
