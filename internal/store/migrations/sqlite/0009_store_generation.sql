-- The stores' generation: a number every committed change to the stores
-- table moves on, so that a server may keep a page of stores in memory and
-- learn with one read of one row whether it still says what the table
-- says. (SQLite's write lock makes every write transaction run alone.)
CREATE TABLE store_generation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n INTEGER NOT NULL
);
INSERT INTO store_generation (id, n) VALUES (1, 0);
CREATE TRIGGER stores_generation_insert AFTER INSERT ON stores
BEGIN UPDATE store_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER stores_generation_update AFTER UPDATE ON stores
BEGIN UPDATE store_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER stores_generation_delete AFTER DELETE ON stores
BEGIN UPDATE store_generation SET n = n + 1 WHERE id = 1; END;
