-- Fleet rollouts: an admin's upgrade of many stores, canary first then in
-- waves, driven by whichever process holds its lease; and each store's part
-- in one (its wave, its upgrade job, how it ended).
CREATE TABLE rollouts (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state            TEXT    NOT NULL CHECK (state IN ('running', 'halted', 'completed', 'aborted')),
    actor            TEXT    NOT NULL,
    params           TEXT    NOT NULL,
    reason           TEXT    NOT NULL DEFAULT '',
    lease_owner      TEXT    NOT NULL DEFAULT '',
    lease_expires_at BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);

CREATE INDEX rollouts_running ON rollouts (state, lease_expires_at);

CREATE TABLE rollout_stores (
    rollout_id    BIGINT  NOT NULL REFERENCES rollouts (id),
    store         TEXT    NOT NULL,
    wave          INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'rolled-back', 'failed', 'skipped')),
    job_id        BIGINT  NOT NULL DEFAULT 0,
    from_revision INTEGER NOT NULL DEFAULT 0,
    to_revision   INTEGER NOT NULL DEFAULT 0,
    reason        TEXT    NOT NULL DEFAULT '',
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (rollout_id, store)
);
