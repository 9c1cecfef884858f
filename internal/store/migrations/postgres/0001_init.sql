-- Times are unix microseconds, UTC. Names sort and compare bytewise
-- (COLLATE "C"), as in SQLite, whatever the database's locale.

-- Stores are soft-deleted so jobs keep pointing at the incarnation they
-- belong to; a name is unique among live stores only.
CREATE TABLE stores (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT   COLLATE "C" NOT NULL,
    owner      TEXT   COLLATE "C" NOT NULL,
    plan       TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    namespace  TEXT   NOT NULL,
    url        TEXT   NOT NULL DEFAULT '',
    error      TEXT   NOT NULL DEFAULT '',
    phases     TEXT,
    options    TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX stores_live_name ON stores (name) WHERE deleted_at IS NULL;
CREATE INDEX stores_live_owner ON stores (owner, name) WHERE deleted_at IS NULL;

CREATE TABLE jobs (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id         BIGINT  NOT NULL REFERENCES stores (id),
    kind             TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    lease_owner      TEXT    NOT NULL DEFAULT '',
    lease_expires_at BIGINT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    actor            TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
-- At most one queued or running job per store.
CREATE UNIQUE INDEX jobs_one_active ON jobs (store_id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_claimable ON jobs (id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_store ON jobs (store_id, id);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE job_attempts (
    job_id     BIGINT  NOT NULL REFERENCES jobs (id),
    attempt    INTEGER NOT NULL,
    worker     TEXT    NOT NULL,
    started_at BIGINT  NOT NULL,
    ended_at   BIGINT,
    outcome    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, attempt)
);

CREATE TABLE quotas (
    owner      TEXT    COLLATE "C" PRIMARY KEY,
    max_stores INTEGER NOT NULL CHECK (max_stores >= 0),
    updated_at BIGINT  NOT NULL
);

-- ids are assigned gaplessly by AppendAudit (head.last_id + 1), so a missing
-- id is a deleted entry.
CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT   COLLATE "C" NOT NULL,
    action      TEXT   NOT NULL,
    store       TEXT   COLLATE "C" NOT NULL,
    outcome     TEXT   NOT NULL,
    detail      TEXT   NOT NULL,
    duration_ms BIGINT NOT NULL,
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL
);
CREATE INDEX audit_log_store ON audit_log (store, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The last entry's id and hash, updated with every append, so deleting the
-- newest entries is detected too. Appends lock this row, which serializes
-- them across processes so the chain never forks.
CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    last_id BIGINT  NOT NULL,
    hash    TEXT    NOT NULL
);
INSERT INTO audit_head (id, last_id, hash) VALUES (1, 0, '');
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE tokens (
    id           TEXT    COLLATE "C" PRIMARY KEY,
    owner        TEXT    NOT NULL,
    admin        BOOLEAN NOT NULL,
    secret_hash  BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
