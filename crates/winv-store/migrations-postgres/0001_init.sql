-- winventory store, schema version 1, PostgreSQL.
--
-- The same tables, columns, keys and indexes as migrations/0001_init.sql (SQLite), a
-- test checks it; the one difference: SQLite's rowid-alias primary keys are
-- `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY` here. Times are milliseconds
-- since the Unix epoch (BIGINT). JSON is stored as TEXT, exactly as on SQLite.

-- One scan.
CREATE TABLE runs (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_ms  BIGINT  NOT NULL,
    finished_ms BIGINT,
    state       TEXT    NOT NULL CHECK (state IN ('running', 'completed', 'stopped')),
    options     TEXT    NOT NULL,            -- JSON object, never a secret
    targets     BIGINT  NOT NULL             -- number of rows in run_targets
);
CREATE INDEX runs_state ON runs (state, id);

-- The run's target list in input order, so a resume never needs the input file.
CREATE TABLE run_targets (
    run_id   BIGINT NOT NULL REFERENCES runs (id),
    position BIGINT NOT NULL,               -- 0-based input order
    target   TEXT   NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX run_targets_run_target ON run_targets (run_id, target);

-- One computer's final result. The failure columns (failure_status .. message) are NULL
-- when there is no failure; `stage` is never NULL when there is one.
CREATE TABLE computers (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         BIGINT  NOT NULL REFERENCES runs (id),
    target         TEXT    NOT NULL,
    address        TEXT,
    status         TEXT    NOT NULL,        -- Status::as_str
    credential     TEXT,                    -- account name only
    finished_ms    BIGINT  NOT NULL,
    failure_status TEXT,
    stage          TEXT,
    phase          TEXT,
    category       TEXT,
    code           BIGINT,                  -- u32 raw code (errno, RPC status, HRESULT)
    code_name      TEXT,
    retry          BOOLEAN,
    denied_by      TEXT,
    message        TEXT,
    UNIQUE (run_id, target)
);
CREATE INDEX computers_run_status ON computers (run_id, status);

-- Every attempt at a computer.
CREATE TABLE attempts (
    run_id         BIGINT  NOT NULL REFERENCES runs (id),
    computer_id    BIGINT  NOT NULL REFERENCES computers (id),
    target         TEXT    NOT NULL,
    number         BIGINT  NOT NULL,        -- 1-based
    started_ms     BIGINT  NOT NULL,
    duration_ms    BIGINT  NOT NULL,
    credential     TEXT,                    -- account name only
    class_order    TEXT    NOT NULL,        -- JSON array of item names
    outcome        TEXT    NOT NULL,        -- Status::as_str
    failing_class  TEXT,
    failure_status TEXT,
    stage          TEXT,
    phase          TEXT,
    category       TEXT,
    code           BIGINT,
    code_name      TEXT,
    retry          BOOLEAN,
    denied_by      TEXT,
    message        TEXT,
    PRIMARY KEY (computer_id, number)
);
CREATE INDEX attempts_run_target ON attempts (run_id, target);

-- The final result of every profile item (WMI class or registry item) on a computer.
CREATE TABLE class_results (
    run_id         BIGINT  NOT NULL REFERENCES runs (id),
    computer_id    BIGINT  NOT NULL REFERENCES computers (id),
    target         TEXT    NOT NULL,
    position       BIGINT  NOT NULL,
    class          TEXT    NOT NULL,
    namespace      TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,        -- collected | failed | timed-out
    rows_collected BIGINT  NOT NULL,
    attempt        BIGINT  NOT NULL,
    failure_status TEXT,
    stage          TEXT,
    phase          TEXT,
    category       TEXT,
    code           BIGINT,
    code_name      TEXT,
    retry          BOOLEAN,
    denied_by      TEXT,
    message        TEXT,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX class_results_run_target ON class_results (run_id, target);
CREATE INDEX class_results_run_class ON class_results (run_id, class);

-- The classes of a computer's inventory, in order (a class may have no instances).
CREATE TABLE inventory_classes (
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    computer_id BIGINT NOT NULL REFERENCES computers (id),
    target      TEXT   NOT NULL,
    position    BIGINT NOT NULL,
    class       TEXT   NOT NULL,
    namespace   TEXT   NOT NULL,
    instances   BIGINT NOT NULL,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX inventory_classes_run_target ON inventory_classes (run_id, target);

-- Raw instances: one JSON object per instance ({"__CLASS": ..., "Prop": value}).
CREATE TABLE instances (
    run_id         BIGINT NOT NULL REFERENCES runs (id),
    computer_id    BIGINT NOT NULL REFERENCES computers (id),
    target         TEXT   NOT NULL,
    class_position BIGINT NOT NULL,         -- inventory_classes.position
    position       BIGINT NOT NULL,
    class          TEXT   NOT NULL,
    namespace      TEXT   NOT NULL,
    json           TEXT   NOT NULL,
    PRIMARY KEY (computer_id, class_position, position)
);
CREATE INDEX instances_run_target ON instances (run_id, target);
CREATE INDEX instances_run_class ON instances (run_id, class);

-- Registry values the profile asked for (item name, value).
CREATE TABLE registry_values (
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    computer_id BIGINT NOT NULL REFERENCES computers (id),
    target      TEXT   NOT NULL,
    position    BIGINT NOT NULL,
    item        TEXT   NOT NULL,
    value       TEXT,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX registry_values_run_target ON registry_values (run_id, target);

-- Report tables: filled from the instances above for inventoried computers (status
-- inventoried or inventoried-incomplete) so that a report needs plain SQL only. A
-- property the instance lacks (or that is NULL) is a NULL column.

-- One row per inventoried computer, from Win32_ComputerSystem.
CREATE TABLE hosts (
    run_id                BIGINT NOT NULL REFERENCES runs (id),
    computer_id           BIGINT NOT NULL REFERENCES computers (id),
    target                TEXT   NOT NULL,
    name                  TEXT,
    domain                TEXT,
    manufacturer          TEXT,
    model                 TEXT,
    total_physical_memory BIGINT,           -- bytes
    PRIMARY KEY (computer_id)
);
CREATE INDEX hosts_run_target ON hosts (run_id, target);

-- One row per inventoried computer, from Win32_OperatingSystem and the os-edition
-- registry item. Dates are ISO 8601 with the offset Windows reported.
CREATE TABLE operating_systems (
    run_id        BIGINT NOT NULL REFERENCES runs (id),
    computer_id   BIGINT NOT NULL REFERENCES computers (id),
    target        TEXT   NOT NULL,
    caption       TEXT,
    version       TEXT,
    build_number  TEXT,
    architecture  TEXT,
    service_pack  TEXT,
    install_date  TEXT,
    last_boot     TEXT,
    serial_number TEXT,
    edition       TEXT,
    PRIMARY KEY (computer_id)
);
CREATE INDEX operating_systems_run_target ON operating_systems (run_id, target);

-- One row per inventoried computer: Win32_BIOS, Win32_Processor (aggregated over every
-- processor: count, the first one's name, summed cores and logical processors) and
-- Win32_SystemEnclosure (the first chassis type, by DMTF name, and all of them).
CREATE TABLE hardware (
    run_id             BIGINT NOT NULL REFERENCES runs (id),
    computer_id        BIGINT NOT NULL REFERENCES computers (id),
    target             TEXT   NOT NULL,
    bios_manufacturer  TEXT,
    bios_version       TEXT,
    bios_serial        TEXT,
    processor_name     TEXT,
    processors         BIGINT,
    cores              BIGINT,
    logical_processors BIGINT,
    chassis            TEXT,
    chassis_types      TEXT,                -- comma-separated DMTF numbers
    PRIMARY KEY (computer_id)
);
CREATE INDEX hardware_run_target ON hardware (run_id, target);

-- Installed programs (both registry views), in the order collected.
CREATE TABLE installed_software (
    run_id       BIGINT  NOT NULL REFERENCES runs (id),
    computer_id  BIGINT  NOT NULL REFERENCES computers (id),
    target       TEXT    NOT NULL,
    position     BIGINT  NOT NULL,
    name         TEXT    NOT NULL,
    version      TEXT,
    publisher    TEXT,
    install_date TEXT,                      -- as written in the registry
    wow64        BOOLEAN NOT NULL,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX installed_software_run_target ON installed_software (run_id, target);
CREATE INDEX installed_software_run_name ON installed_software (run_id, name);

-- Win32_QuickFixEngineering.
CREATE TABLE hotfixes (
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    computer_id  BIGINT NOT NULL REFERENCES computers (id),
    target       TEXT   NOT NULL,
    position     BIGINT NOT NULL,
    hotfix_id    TEXT,
    description  TEXT,
    installed_on TEXT,                      -- as Windows reported it
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX hotfixes_run_target ON hotfixes (run_id, target);
CREATE INDEX hotfixes_run_hotfix ON hotfixes (run_id, hotfix_id);

-- Win32_Service.
CREATE TABLE services (
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    computer_id  BIGINT NOT NULL REFERENCES computers (id),
    target       TEXT   NOT NULL,
    position     BIGINT NOT NULL,
    name         TEXT,
    display_name TEXT,
    state        TEXT,
    start_mode   TEXT,
    start_name   TEXT,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX services_run_target ON services (run_id, target);
