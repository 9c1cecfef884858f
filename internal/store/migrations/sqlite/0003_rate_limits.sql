-- Rate limits shared by every process: per key, the theoretical arrival
-- time (unix microseconds) of GCRA. A row whose tat has passed means the
-- same as no row, and is swept.
CREATE TABLE rate_limits (
    key TEXT    PRIMARY KEY,
    tat INTEGER NOT NULL
) STRICT;
CREATE INDEX rate_limits_tat ON rate_limits (tat);
