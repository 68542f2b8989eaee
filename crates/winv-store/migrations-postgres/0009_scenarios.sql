-- winventory store, schema version 9, PostgreSQL (the same as migrations/0009_scenarios.sql): MAP's assessment scenarios as report tables.
--
-- Filled at save time, as the tables of version 5 are, from the items of the scenario
-- profiles (`sql`, `roles`, `virtualization`, `licensing`) and the standard classes.
-- A host without SQL Server, Hyper-V or Win32_ServerFeature has no rows here (its
-- class_results say "not-present"). Results saved before this version have no rows
-- (the tables are not back-filled).

-- SQL Server instances: the registry's Instance Names\SQL with each Setup key, and the
-- newest root\Microsoft\SqlServer\ComputerManagementNN (SqlService engines and their
-- SqlServiceAdvancedProperty rows), merged by instance name; WMI's values win.
CREATE TABLE sql_instances (
    run_id          BIGINT NOT NULL REFERENCES runs (id),
    computer_id     BIGINT NOT NULL REFERENCES computers (id),
    target          TEXT   NOT NULL,
    position        BIGINT NOT NULL,
    instance        TEXT   NOT NULL,        -- MSSQLSERVER for the default instance
    instance_id     TEXT,                   -- MSSQL15.MSSQLSERVER
    edition         TEXT,                   -- SKUNAME, else Setup\Edition
    version         TEXT,                   -- VERSION, else Setup\Version
    product         TEXT,                   -- SQL Server 2019 (from the version)
    patch_level     TEXT,                   -- PATCHLEVEL, else Setup\PatchLevel
    service_pack    BIGINT,                 -- SPLEVEL, else Setup\SP
    clustered       BOOLEAN,                -- CLUSTERED
    state           TEXT,                   -- the engine service's state (Running)
    start_mode      TEXT,
    service_account TEXT,                   -- StartName
    source          TEXT   NOT NULL CHECK (source IN ('wmi', 'registry', 'wmi+registry')),
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX sql_instances_run_target ON sql_instances (run_id, target);

-- Win32_ServerFeature (servers only).
CREATE TABLE server_features (
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    computer_id BIGINT NOT NULL REFERENCES computers (id),
    target      TEXT   NOT NULL,
    position    BIGINT NOT NULL,
    feature_id  BIGINT,                     -- ID
    parent_id   BIGINT,                     -- ParentID (0: a role or top-level feature)
    name        TEXT,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX server_features_run_target ON server_features (run_id, target);

-- What a machine runs on: winv_engine::scenario::platform of Win32_ComputerSystem and
-- Win32_BIOS; a Hyper-V guest's host from its registry; a Hyper-V host's guest count
-- (NULL: root\virtualization\v2 not read).
CREATE TABLE platforms (
    run_id             BIGINT  NOT NULL REFERENCES runs (id),
    computer_id        BIGINT  NOT NULL REFERENCES computers (id),
    target             TEXT    NOT NULL,
    platform           TEXT    NOT NULL,    -- physical, hyper-v, vmware, virtualbox, kvm, xen, other-virtual
    is_virtual         BOOLEAN NOT NULL,
    hypervisor_present BOOLEAN,
    physical_host      TEXT,
    guests             BIGINT,
    PRIMARY KEY (computer_id)
);
CREATE INDEX platforms_run_target ON platforms (run_id, target);

-- A Hyper-V host's guests (Msvm_ComputerSystem without the hosting computer system).
CREATE TABLE vm_guests (
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    computer_id BIGINT NOT NULL REFERENCES computers (id),
    target      TEXT   NOT NULL,            -- the host
    position    BIGINT NOT NULL,
    vm_id       TEXT,                       -- Name (a GUID)
    name        TEXT,                       -- ElementName
    state       TEXT,                       -- EnabledState by name
    uptime_s    BIGINT,                     -- OnTimeInMilliseconds / 1000
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX vm_guests_run_target ON vm_guests (run_id, target);

-- SoftwareLicensingProduct rows with a partial product key.
CREATE TABLE licences (
    run_id         BIGINT NOT NULL REFERENCES runs (id),
    computer_id    BIGINT NOT NULL REFERENCES computers (id),
    target         TEXT   NOT NULL,
    position       BIGINT NOT NULL,
    product        TEXT,                    -- Name
    application    TEXT,                    -- Windows, Office, else the ApplicationID
    licence_status TEXT,                    -- LicenseStatus by name (licensed...)
    channel        TEXT   NOT NULL,         -- retail, oem, volume-mak, volume-kms, volume-adba, unknown
    partial_key    TEXT,
    kms_host       TEXT,                    -- host:port, set on the client else discovered
    grace_minutes  BIGINT,                  -- GracePeriodRemaining
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX licences_run_target ON licences (run_id, target);

-- The Windows Server core licences of each server (ProductType 2 or 3) whose processors
-- were read, by winv_engine::scenario::WINDOWS_SERVER_CORE_RULE (its source in `rule`).
CREATE TABLE core_licences (
    run_id         BIGINT NOT NULL REFERENCES runs (id),
    computer_id    BIGINT NOT NULL REFERENCES computers (id),
    target         TEXT   NOT NULL,
    processors     BIGINT NOT NULL,
    physical_cores BIGINT NOT NULL,
    core_licences  BIGINT NOT NULL,
    packs          BIGINT NOT NULL,
    rule           TEXT   NOT NULL,
    PRIMARY KEY (computer_id)
);
CREATE INDEX core_licences_run_target ON core_licences (run_id, target);
