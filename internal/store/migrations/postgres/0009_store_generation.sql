-- The stores' generation: a number every committed change to the stores
-- table moves on, so that a server may keep a page of stores in memory and
-- learn with one read of one row whether it still says what the table
-- says. The trigger is deferred to the commit: the row is locked last in
-- every transaction that writes a store, and held only while it commits,
-- so it can take part in no deadlock.
CREATE TABLE store_generation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n BIGINT NOT NULL
);
INSERT INTO store_generation (id, n) VALUES (1, 0);
CREATE FUNCTION store_generation_next() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE store_generation SET n = n + 1 WHERE id = 1;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER stores_generation AFTER INSERT OR UPDATE OR DELETE ON stores
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION store_generation_next();
