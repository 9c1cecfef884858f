-- Rate limits shared by every process: per key, the theoretical arrival
-- time (unix microseconds) of GCRA. A row whose tat has passed means the
-- same as no row, and is swept.
CREATE TABLE rate_limits (
    key TEXT   COLLATE "C" PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
