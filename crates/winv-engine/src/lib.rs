//! The winventory inventory engine (the inventory engine of `ARCHITECTURE.md`): targets and
//! credentials in, one honest status per computer out.
//!
//! - [`status`]: the statuses of MAP, `docs/statuses.md` (the MAP inventory engine).
//! - [`classify`]: a client error to a status, phase, category and code, through the
//!   knowledge base (shared with `diagnose`).
//! - [`profile`]: what to collect (the built-in `standard` profile, or a TOML file).
//! - [`engine`]: the scheduler (concurrency, connection rate, retry queue, watchdog) and
//!   the per-computer state machine.
//! - [`record`]: what is recorded per computer, attempt and class.
//! - [`scenario`]: the assessment scenarios' rules (not present, core licences,
//!   virtual or physical, activation channel).
//! - [`work`]: a queue shared with other scanners, as the engine sees it (claims,
//!   requeues with what an attempt carries, final results).
//! - [`perf`]: performance counter arithmetic (rates from two raw samples, average and
//!   95th percentile).

pub mod ahead;
pub mod classify;
pub mod diagnose;
pub mod engine;
pub mod guard;
pub mod perf;
pub mod policy;
pub mod profile;
pub mod record;
pub mod scenario;
pub mod status;
pub mod work;

pub use engine::{
    now_ms, Credential, DnsResolver, Engine, EngineOptions, Event, MIN_RESULT_SHARE, RESULT_MEMORY,
};
pub use guard::{AccountGuard, AccountStats, LOCKOUT_GUARD};
pub use policy::{ATTEMPT_BUDGET, MAX_ATTEMPTS, RETRY_DELAY, WATCHDOG};
pub use profile::{Item, Profile};
pub use record::{
    AttemptRecord, ClassInstances, ClassOutcome, ClassResult, ComputerResult, DeniedBy, Failure,
    FailureStage, Instance, Inventory, SoftwareRow,
};
pub use status::Status;
