-- winventory store, schema version 5, PostgreSQL (the same as migrations/0005_machines.sql): the inventory as a user reads it, and what a
-- running scan is doing.
--
-- Filled at save time for every computer result with anything collected, whatever its
-- status (inventoried, inventoried-incomplete, a failure after some classes, stopped):
-- network adapters, logical disks and memory modules as columns (the raw instances stay
-- in `instances`), and which machine the result is (`machines`). `machines_latest` is
-- one row per machine across runs: its latest record. Results saved before this version
-- have no rows here (the tables are not back-filled).

-- Which machine a computer result is: recognised by its BIOS UUID
-- (Win32_ComputerSystemProduct.UUID), else its serial (Win32_BIOS.SerialNumber), else
-- its name (Win32_ComputerSystem.Name), else the target; junk values (all zeros, all
-- F's, "To be filled by O.E.M.", "Default string"...) are skipped. `machine_key` is
-- `uuid:...`, `serial:...`, `name:...` or `target:...`.
CREATE TABLE machines (
    run_id        BIGINT NOT NULL REFERENCES runs (id),
    computer_id   BIGINT NOT NULL REFERENCES computers (id),
    target        TEXT   NOT NULL,
    machine_key   TEXT   NOT NULL,
    key_kind      TEXT   NOT NULL CHECK (key_kind IN ('uuid', 'serial', 'name', 'target')),
    uuid          TEXT,                     -- as reported (junk included)
    serial        TEXT,                     -- as reported (junk included)
    name          TEXT,                     -- Win32_ComputerSystem.Name
    addresses     TEXT,                     -- every adapter's IP addresses, comma-separated
    mac_addresses TEXT,                     -- every adapter's MAC address, comma-separated
    seen_ms       BIGINT NOT NULL,          -- computers.finished_ms
    PRIMARY KEY (computer_id)
);
CREATE INDEX machines_key_seen ON machines (machine_key, seen_ms);
CREATE INDEX machines_run_target ON machines (run_id, target);

-- Win32_NetworkAdapterConfiguration (the standard profile: IPEnabled = TRUE). Arrays
-- are comma-separated.
CREATE TABLE network_adapters (
    run_id           BIGINT  NOT NULL REFERENCES runs (id),
    computer_id      BIGINT  NOT NULL REFERENCES computers (id),
    target           TEXT    NOT NULL,
    position         BIGINT  NOT NULL,
    description      TEXT,
    mac_address      TEXT,
    ip_addresses     TEXT,                  -- IPAddress
    ip_subnets       TEXT,                  -- IPSubnet
    dhcp_enabled     BOOLEAN,
    dhcp_server      TEXT,
    default_gateways TEXT,                  -- DefaultIPGateway
    dns_servers      TEXT,                  -- DNSServerSearchOrder
    dns_domain       TEXT,
    interface_index  BIGINT,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX network_adapters_run_target ON network_adapters (run_id, target);

-- Win32_LogicalDisk. Sizes in bytes.
CREATE TABLE logical_disks (
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    computer_id  BIGINT NOT NULL REFERENCES computers (id),
    target       TEXT   NOT NULL,
    position     BIGINT NOT NULL,
    device_id    TEXT,                      -- C:
    drive_type   BIGINT,                    -- DriveType (3: local disk)
    drive_kind   TEXT,                      -- its name (Local Disk, Network Drive...)
    size         BIGINT,
    free_space   BIGINT,
    file_system  TEXT,
    volume_name  TEXT,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX logical_disks_run_target ON logical_disks (run_id, target);

-- Win32_PhysicalMemory. Capacity in bytes, speeds in MHz.
CREATE TABLE memory_modules (
    run_id                 BIGINT NOT NULL REFERENCES runs (id),
    computer_id            BIGINT NOT NULL REFERENCES computers (id),
    target                 TEXT   NOT NULL,
    position               BIGINT NOT NULL,
    bank_label             TEXT,
    device_locator         TEXT,
    capacity               BIGINT,
    speed                  BIGINT,
    configured_clock_speed BIGINT,
    manufacturer           TEXT,
    part_number            TEXT,
    serial_number          TEXT,
    PRIMARY KEY (computer_id, position)
);
CREATE INDEX memory_modules_run_target ON memory_modules (run_id, target);

-- The computers a running scan is working on, and the step each is at: `connecting`
-- (TCP, binds, logon) or the item being collected, since `since_ms`. Written by `scan`
-- at most once a second, and `updated_ms` renewed at least every 10 s while the scanner
-- lives (older rows are a scanner's that died); a row goes when its computer finishes
-- or is requeued, and every row of a run goes when its scanner ends.
CREATE TABLE in_flight (
    run_id   BIGINT NOT NULL REFERENCES runs (id),
    target   TEXT   NOT NULL,
    attempt  BIGINT NOT NULL,               -- 1-based
    step     TEXT   NOT NULL,
    since_ms BIGINT NOT NULL,
    scanner    TEXT   NOT NULL,             -- host:pid of the scan process
    updated_ms BIGINT NOT NULL,             -- the scanner's last write
    PRIMARY KEY (run_id, target)
);

-- One row per machine across runs: the latest record of each machine (by the time its
-- computer finished, then the newest row), with its name, addresses, OS and hardware.
CREATE VIEW machines_latest AS
SELECT m.machine_key, m.key_kind, m.uuid, m.serial, m.name, h.domain,
       COALESCE(m.addresses, c.address) AS addresses, m.mac_addresses,
       m.run_id, m.computer_id, m.target, c.status, m.seen_ms,
       h.manufacturer, h.model, h.total_physical_memory,
       o.caption AS os_caption, o.edition AS os_edition, o.version AS os_version,
       o.build_number AS os_build, o.architecture AS os_architecture,
       o.last_boot, w.bios_version, w.processor_name, w.processors, w.cores,
       w.logical_processors, w.chassis
FROM machines m
JOIN computers c ON c.id = m.computer_id
LEFT JOIN hosts h ON h.computer_id = m.computer_id
LEFT JOIN operating_systems o ON o.computer_id = m.computer_id
LEFT JOIN hardware w ON w.computer_id = m.computer_id
WHERE NOT EXISTS (
    SELECT 1 FROM machines n
    WHERE n.machine_key = m.machine_key
      AND (n.seen_ms > m.seen_ms OR (n.seen_ms = m.seen_ms AND n.computer_id > m.computer_id))
);
