-- winventory store, schema version 2: performance metrics over time (`winventory perf`).
--
-- Portable types as in version 1; DOUBLE PRECISION is REAL in SQLite and float8 in
-- PostgreSQL. `INSERT ... ON CONFLICT (...) DO NOTHING` (both) keeps one sample per
-- target and slot however often a run is resumed.

-- One sampling run: slot k covers [started_ms + k * interval_ms, + interval_ms).
CREATE TABLE perf_runs (
    id          INTEGER PRIMARY KEY,
    started_ms  BIGINT  NOT NULL,
    interval_ms BIGINT  NOT NULL CHECK (interval_ms > 0),
    slots       BIGINT  NOT NULL CHECK (slots > 0),      -- duration / interval
    finished_ms BIGINT,
    state       TEXT    NOT NULL CHECK (state IN ('running', 'completed', 'stopped')),
    options     TEXT    NOT NULL,                       -- JSON object, never a secret
    targets     BIGINT  NOT NULL
);
CREATE INDEX perf_runs_state ON perf_runs (state, id);

-- The run's machines in input order, with where each stands.
CREATE TABLE perf_targets (
    perf_run_id  BIGINT NOT NULL REFERENCES perf_runs (id),
    position     BIGINT NOT NULL,
    target       TEXT   NOT NULL,
    state        TEXT   NOT NULL CHECK (state IN ('pending', 'sampling', 'not-responding')),
    status       TEXT,             -- Status::as_str of the last failure (NULL: none)
    message      TEXT,             -- the last failure as the client reported it
    changed_ms   BIGINT,
    total_memory BIGINT,           -- Win32_ComputerSystem.TotalPhysicalMemory, bytes
    PRIMARY KEY (perf_run_id, position),
    UNIQUE (perf_run_id, target)
);

-- One slot of one machine: a sample (ok: the raw counter values as JSON of
-- winv_engine::perf::MachineSample, u64 as JSON numbers, and the metrics computed
-- against the machine's previous ok sample, NULL where there is none or no rate) or a
-- failed or missed slot (not ok: `errors` says why, raw is an empty sample). Every slot
-- the sampler was running for has a row.
CREATE TABLE perf_samples (
    perf_run_id            BIGINT NOT NULL REFERENCES perf_runs (id),
    target                 TEXT   NOT NULL,
    slot                   BIGINT NOT NULL,
    sampled_ms             BIGINT NOT NULL,
    ok                     BOOLEAN NOT NULL,
    raw                    TEXT   NOT NULL,
    cpu_percent            DOUBLE PRECISION,
    memory_percent         DOUBLE PRECISION,
    disk_transfers_per_sec DOUBLE PRECISION,
    network_bytes_per_sec  DOUBLE PRECISION,
    errors                 TEXT,   -- `Class: error; ...`, or why the slot failed
    PRIMARY KEY (perf_run_id, target, slot)
);
