-- What each store runs (its Helm revision, chart and app versions and how
-- its last change ended, as JSON), what each job was asked to do (an
-- upgrade's target, a rollback's revision, as JSON), and urumi's record of
-- every revision of a store: who made it, by which job, with which plan and
-- options.
ALTER TABLE stores ADD COLUMN release TEXT;
ALTER TABLE jobs ADD COLUMN params TEXT;

CREATE TABLE store_revisions (
    store_id   INTEGER NOT NULL REFERENCES stores (id),
    revision   INTEGER NOT NULL,
    kind       TEXT    NOT NULL DEFAULT '',
    job_id     INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT '',
    plan       TEXT    NOT NULL DEFAULT '',
    versions   TEXT,
    options    TEXT,
    status     TEXT    NOT NULL DEFAULT '',
    description TEXT   NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, revision)
) STRICT;
