-- The fingerprint of the key the audit chain is written with (HMAC-SHA256
-- since this migration; see keyAuditLog, which runs right after it). Empty
-- only while the log is empty.
ALTER TABLE audit_head ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
