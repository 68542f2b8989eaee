//! The winventory store (the store of `ARCHITECTURE.md`): runs, computers, attempts,
//! per-class results, raw instances and report tables in SQL, through `sqlx`.
//!
//! A SQLite file or a PostgreSQL database, chosen by the `--db` value ([`DbLocation`]).
//! Queries are runtime `sqlx::query` / `query_as` (no compile-time checked macros, so
//! no `DATABASE_URL` at build time), written once in `queries.rs` and compiled for each
//! driver; migrations are embedded with `sqlx::migrate!` from `migrations/` (SQLite) and
//! `migrations-postgres/` (the same versions, tables and columns; a test checks it). A run
//! shared by several scanners (leases, claims, requeues, sites) is described in `coord`.
//!
//! ```no_run
//! # async fn demo(result: winv_engine::ComputerResult) -> Result<(), winv_store::StoreError> {
//! use winv_store::{RunState, Store};
//! let store = Store::open(std::path::Path::new("winventory.db")).await?;
//! let run = store
//!     .create_run(&["pc1".to_string()], &serde_json::json!({}), 1_700_000_000_000)
//!     .await?;
//! store.save_computer(run, &result).await?;
//! store.set_run_state(run, RunState::Completed, Some(1_700_000_060_000)).await?;
//! # Ok(()) }
//! ```
//!
//! # Schema (`migrations/0001_init.sql`; the shared queue in `0002_coordination.sql`)
//!
//! Every table has `run_id`, so several runs live in one file; child tables carry
//! `computer_id` and `target` as well, so a report filters by run and target without a
//! join.
//!
//! - `runs` (state `running` / `completed` / `stopped`, options as JSON text) and
//!   `run_targets` (the target list in input order: a resume never needs the input file).
//! - `computers`: one per (run, target), `UNIQUE (run_id, target)`, indexed by
//!   `(run_id, status)`; status identifiers of `winv_engine::Status`, the failure
//!   columns (`failure_status`, `stage`, `phase`, `category`, `code` (the raw `u32` in a
//!   BIGINT), `code_name`, `retry`, `denied_by`, `message`). The same failure columns sit
//!   in `attempts` and `class_results`.
//! - `attempts` (class order as a JSON array), `class_results` (`rows_collected`),
//!   `inventory_classes` + `instances` (one JSON text per instance, exactly as collected),
//!   `registry_values`.
//! - Report tables, filled at save time for every computer with anything collected,
//!   whatever its status (inventoried, incomplete, a failure after some classes, a
//!   requeued attempt's classes, stopped), so reports need plain SQL and no collected row
//!   is lost to a later failure:
//!   - `hosts`: one row per inventoried computer, from the first `Win32_ComputerSystem`
//!     instance (name, domain, manufacturer, model, `total_physical_memory` in bytes).
//!   - `operating_systems`: one row per inventoried computer, from the first
//!     `Win32_OperatingSystem` instance (`service_pack` is `CSDVersion`; `install_date` and
//!     `last_boot` turned from CIM datetimes into ISO 8601 with Windows' offset) plus the
//!     `os-edition` registry item as `edition`.
//!   - `hardware`: one row per inventoried computer: `Win32_BIOS` (`bios_version` is
//!     `SMBIOSBIOSVersion`, else `Version`); `Win32_Processor` **aggregated**: `processors`
//!     (instance count), `processor_name` (the first one's, trimmed), `cores` and
//!     `logical_processors` summed; `Win32_SystemEnclosure`: `chassis` (the DMTF name of
//!     the first chassis type) and `chassis_types` (all of them, comma-separated).
//!   - `installed_software` (from `Inventory::software`; indexed by `(run_id, name,
//!     publisher, version, computer_id)` since `0008_software_titles.sql`, so the
//!     software summary reads the index only), `hotfixes`
//!     (`Win32_QuickFixEngineering`: HotFixID, Description, InstalledOn as reported),
//!     `services` (`Win32_Service`: Name, DisplayName, State, StartMode, StartName).
//!
//!   - From `0005_machines.sql`: `network_adapters` (`Win32_NetworkAdapterConfiguration`:
//!     description, MAC, IP addresses and subnets, DHCP, gateways, DNS servers; arrays
//!     comma-separated), `logical_disks` (`Win32_LogicalDisk`: device id, drive type and
//!     its name, size, free space, file system), `memory_modules`
//!     (`Win32_PhysicalMemory`: bank, locator, capacity, speeds, manufacturer, part and
//!     serial numbers), and `machines`: which machine the result is, keyed
//!     `uuid:` (`Win32_ComputerSystemProduct.UUID`), else `serial:` (`Win32_BIOS`), else
//!     `name:`, else `target:`, junk values (all zeros, all F's, "To be filled by
//!     O.E.M."...) skipped. The view `machines_latest`: one row per machine across runs,
//!     its latest record (by `seen_ms`, the computer's finish time), with name,
//!     addresses, OS and hardware.
//!
//!   - From `0009_scenarios.sql` (module `report_scenarios`): `sql_instances` (the
//!     registry's `Instance Names\SQL` and the newest `ComputerManagementNN`, merged by
//!     instance, WMI's values first), `server_features`, `platforms` (virtual or
//!     physical and on what, a Hyper-V guest's host, a Hyper-V host's guest count),
//!     `vm_guests`, `licences` (`SoftwareLicensingProduct` with a partial key: channel,
//!     status, KMS host) and `core_licences` (Windows Server core licences per server).
//!
//!   A class that was not collected, a missing property or a JSON null is a NULL column,
//!   never an error; property names match without regard to case.
//!
//! - `in_flight` (`0005_machines.sql`): the computers a running scan works on, their step
//!   and since when ([`Store::update_in_flight`], [`Store::in_flight`]).
//!
//! Notes on the schema: a save is one transaction of roughly one INSERT per attempt,
//! class result, instance, program, hotfix and service (a typical server: a few hundred
//! rows); the instances table is the largest by far (raw JSON of every instance) and the
//! one to prune when a file grows (`DELETE FROM instances WHERE run_id = ?`): the report
//! tables do not depend on it after the save. No secret is ever stored: the engine's
//! records hold account names only, and run options must not hold passwords.
//!
//! - Performance time series (`migrations/0003_perf.sql`, module `perf`): `perf_runs`
//!   (slot k of a run covers `started_ms + k * interval_ms`), `perf_targets` (each
//!   machine's state: pending, sampling, not-responding with the failure's status and
//!   message), `perf_samples` (one per machine and slot, primary key `(perf_run_id,
//!   target, slot)`: the raw counters as JSON and the four metrics against the previous
//!   sample). Its SQL is in `perf_queries.rs`, compiled for each driver like
//!   `queries.rs`, so `winventory perf` samples into either backend.
//!
//! # Concurrency
//!
//! One writer connection (SQLite has one writer at a time; saves queue in the pool, up
//! to 5 minutes, instead of failing with `SQLITE_BUSY`), four reader connections (WAL:
//! reads do not block the writer). Write transactions are `BEGIN IMMEDIATE`, so another
//! process (or another `Store` on the same file) makes them wait, up to the 30 s busy
//! timeout, instead of failing.
//!
//! # PostgreSQL
//!
//! `BIGINT GENERATED ALWAYS AS IDENTITY` where SQLite has its rowid alias, otherwise the
//! same column types (JSON stays TEXT); one pool of connections, plain transactions and
//! row locks (`FOR UPDATE [SKIP LOCKED]`) instead of the single writer; a concurrent
//! duplicate save from two scanners is caught by `UNIQUE (run_id, target)`
//! ([`StoreError::AlreadyRecorded`]). A call whose connection fails is retried under a
//! [`RetryPolicy`], then is [`StoreError::Unavailable`]. U+0000 in a string (PostgreSQL
//! text cannot hold it) is stored as U+FFFD.
//!
//! # Failures
//!
//! A file that is not SQLite (or is damaged) is [`StoreError::NotADatabase`]; a file
//! written by a newer winventory (a migration this build does not know) is
//! [`StoreError::NewerSchema`]; neither panics.

mod backend_pg;
mod backend_sqlite;
mod codec;
mod coord;
mod error;
mod location;
mod model;
// `on_db!` (store.rs) is used by the modules after it.
#[macro_use]
mod store;
mod perf;
mod read;
mod report;
mod report_scenarios;
mod shared;

#[cfg(test)]
mod tests;

pub use coord::{
    Claim, ClaimBatch, ExpiredLease, Finished, Heartbeat, Lease, QueueCounts, ScannerId,
    ScannerInfo, SiteTarget,
};
pub use error::StoreError;
pub use location::{DbAuth, DbLocation};
pub use model::{
    ClassCount, ComputerRow, InFlightChange, InFlightRow, MissingItem, RunId, RunInfo, RunState,
    RunSummary, StatusCounts, UnknownRunState,
};
pub use perf::{
    PerfRunId, PerfRunInfo, PerfSampleRow, PerfTargetRow, PerfTargetState, StoredMetrics,
};
pub use read::{ComputerFilter, ComputerListRow, ComputerSort, DbValue, RowSet, MAX_PAGE};
pub use shared::{SharedQueue, LEASE};
pub use store::{RetryPolicy, Store};
