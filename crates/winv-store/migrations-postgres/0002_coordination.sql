-- winventory store, schema version 2, PostgreSQL: a run shared by several scanners.
--
-- The queue of a run is `work`: one row per (run, target), `queued`, `claimed` under
-- a lease (scanner_id, epoch, lease_until_ms) or `done`. A scanner claims with
-- SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite serialises its writers), renews
-- its leases with each heartbeat, requeues a retry-class attempt with the time before
-- which nobody may retry it, and finishes a computer in the same transaction as its
-- final rows (UNIQUE (run_id, target) on computers: exactly one final row).

-- One scanner process of a run.
CREATE TABLE scanners (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    name         TEXT   NOT NULL,           -- host:pid or as given
    site         TEXT   NOT NULL,           -- '' = targets without a site
    started_ms   BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    left_ms      BIGINT                     -- set when it left cleanly
);
CREATE INDEX scanners_run ON scanners (run_id, id);

-- The run's queue: one row per distinct target.
CREATE TABLE work (
    run_id         BIGINT NOT NULL REFERENCES runs (id),
    target         TEXT   NOT NULL,
    position       BIGINT NOT NULL,         -- the first position in run_targets
    site           TEXT   NOT NULL,         -- '' = no site
    state          TEXT   NOT NULL CHECK (state IN ('queued', 'claimed', 'done')),
    not_before_ms  BIGINT NOT NULL,         -- a retry waits until then
    attempts       BIGINT NOT NULL,         -- attempts made so far
    class_order    TEXT,                    -- JSON array: the next attempt's order
    retry_state    TEXT,                    -- JSON: the scheduler's own retry state
    scanner_id     BIGINT,                  -- the last scanner to claim it
    epoch          BIGINT NOT NULL,         -- claim counter: a lease is (scanner, epoch)
    lease_until_ms BIGINT,                  -- when claimed
    takeovers      BIGINT NOT NULL,         -- expired leases taken over
    PRIMARY KEY (run_id, target)
);
CREATE INDEX work_queue ON work (run_id, site, state, position);
CREATE INDEX work_scanner ON work (scanner_id, state);

-- Attempts that ended in a requeue, until the computer's final result takes them in.
CREATE TABLE work_attempts (
    run_id     BIGINT NOT NULL REFERENCES runs (id),
    target     TEXT   NOT NULL,
    number     BIGINT NOT NULL,
    scanner_id BIGINT,
    record     TEXT   NOT NULL,             -- the engine's AttemptRecord as JSON
    PRIMARY KEY (run_id, target, number)
);
CREATE INDEX work_attempts_scanner ON work_attempts (scanner_id);

-- A site's connection budget, shared by its scanners (one-second windows).
CREATE TABLE site_rates (
    run_id    BIGINT NOT NULL REFERENCES runs (id),
    site      TEXT   NOT NULL,
    window_ms BIGINT NOT NULL,
    used      BIGINT NOT NULL,
    PRIMARY KEY (run_id, site)
);

-- Which scanner made each attempt and finished each computer (NULL: one process
-- without a lease).
ALTER TABLE attempts ADD COLUMN scanner_id BIGINT;
ALTER TABLE computers ADD COLUMN scanner_id BIGINT;
CREATE INDEX attempts_scanner ON attempts (scanner_id);

-- Runs made before this version get their queue: done where a final result exists.
INSERT INTO work (run_id, target, position, site, state, not_before_ms, attempts,
                  class_order, retry_state, scanner_id, epoch, lease_until_ms, takeovers)
SELECT t.run_id, t.target, MIN(t.position), '',
       CASE WHEN EXISTS (SELECT 1 FROM computers c
                         WHERE c.run_id = t.run_id AND c.target = t.target
                           AND c.status <> 'inventory-not-completed')
            THEN 'done' ELSE 'queued' END,
       0, 0, NULL, NULL, NULL, 0, NULL, 0
FROM run_targets t
GROUP BY t.run_id, t.target;
