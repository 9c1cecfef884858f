-- Change notifications. A server keeps the tokens it has read and the
-- stores' generation in memory, and learns of every change to them from
-- these notifications (LISTEN urumi_changes) instead of reading both on
-- every request. The payload starts with the schema, so servers on other
-- schemas of one database ignore each other; then "g" and the new
-- generation, or "t" and the id of a token whose owner, role, secret or
-- revocation changed (recording its last use notifies nothing).
-- Notifications are sent when the transaction commits, and never for one
-- that rolls back.
CREATE FUNCTION urumi_notify_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('urumi_changes', TG_TABLE_SCHEMA || ' g' || NEW.n);
  RETURN NULL;
END $$;
CREATE TRIGGER store_generation_notify AFTER UPDATE ON store_generation
  FOR EACH ROW EXECUTE FUNCTION urumi_notify_generation();

CREATE FUNCTION urumi_notify_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('urumi_changes', TG_TABLE_SCHEMA || ' t' || OLD.id);
  RETURN NULL;
END $$;
CREATE TRIGGER tokens_notify_update AFTER UPDATE ON tokens
  FOR EACH ROW
  WHEN ((OLD.id, OLD.owner, OLD.admin, OLD.secret_hash, OLD.revoked_at)
        IS DISTINCT FROM (NEW.id, NEW.owner, NEW.admin, NEW.secret_hash, NEW.revoked_at))
  EXECUTE FUNCTION urumi_notify_token();
CREATE TRIGGER tokens_notify_delete AFTER DELETE ON tokens
  FOR EACH ROW EXECUTE FUNCTION urumi_notify_token();
