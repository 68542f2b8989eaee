//! The winventory inventory engine (layer 4 of `../shared/DESIGN.md`): targets and
//! credentials in, one honest status per computer out.
//!
//! - [`status`]: the statuses of seed 000 (the MAP inventory engine).
//! - [`record`]: what is recorded per computer, attempt and class.

pub mod classify;
pub mod record;
pub mod status;

pub use record::{
    AttemptRecord, ClassInstances, ClassOutcome, ClassResult, ComputerResult, DeniedBy, Failure,
    Inventory, SoftwareRow,
};
pub use status::Status;
