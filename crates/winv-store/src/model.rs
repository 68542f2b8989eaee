//! The store's own types: runs, summaries and computer rows.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use winv_engine::{DeniedBy, Status};
use winv_kb::{Category, Phase};

/// A run's id (the `runs.id` column).
pub type RunId = i64;

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Started and not finished (or the scanner died: a run left `running` is resumable).
    Running,
    /// Every target has a final result.
    Completed,
    /// Stopped by the user before every target was finished.
    Stopped,
}

impl RunState {
    /// Every state.
    pub const ALL: [RunState; 3] = [RunState::Running, RunState::Completed, RunState::Stopped];

    /// The stable identifier, as in the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Stopped => "stopped",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is no run state identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run state {0:?}")]
pub struct UnknownRunState(pub String);

impl FromStr for RunState {
    type Err = UnknownRunState;

    fn from_str(s: &str) -> Result<RunState, UnknownRunState> {
        RunState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownRunState(s.to_string()))
    }
}

/// One run, as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    /// The id.
    pub id: RunId,
    /// Start, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// End, when the run completed or was stopped.
    pub finished_ms: Option<i64>,
    /// Running, completed or stopped.
    pub state: RunState,
    /// The options the run was started with (JSON, never a secret).
    pub options: serde_json::Value,
    /// How many targets the run has.
    pub targets: usize,
}

/// How many computers of a run have each status: the cheap part of [`RunSummary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// Computers with a final result other than `inventory-not-completed`.
    pub finished: usize,
    /// Every status with at least one computer, in `Status::ALL` order.
    pub by_status: Vec<(Status, u64)>,
}

/// How many computers of a run fared how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The run.
    pub run: RunId,
    /// Targets in the run.
    pub targets: usize,
    /// Computers with a final result other than `inventory-not-completed` (those are
    /// pending: a resume does them again).
    pub finished: usize,
    /// Every status with at least one computer, in `Status::ALL` order.
    pub by_status: Vec<(Status, u64)>,
    /// Per profile item (WMI class or registry item), in profile order.
    pub classes: Vec<ClassCount>,
}

/// How one profile item fared over a run's computers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClassCount {
    /// The item: a WMI class or a registry item.
    pub class: String,
    /// Computers where it was collected.
    pub collected: u64,
    /// Computers where it failed.
    pub failed: u64,
    /// Computers where the watchdog ended it.
    pub timed_out: u64,
}

/// One computer of a run, flattened for listings (`winventory status --computers`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComputerRow {
    /// The target as given.
    pub target: String,
    /// The address connected to, when there was one.
    pub address: Option<IpAddr>,
    /// The final status.
    pub status: Status,
    /// The failure's stage.
    pub stage: Option<String>,
    /// The failure's phase.
    pub phase: Option<Phase>,
    /// The failure's category.
    pub category: Option<Category>,
    /// The failure's raw code.
    pub code: Option<u32>,
    /// The code's symbolic name.
    pub code_name: Option<String>,
    /// Who refused access.
    pub denied_by: Option<DeniedBy>,
    /// The failure's message.
    pub message: Option<String>,
    /// Number of attempts.
    pub attempts: u32,
    /// The account that worked (account name only).
    pub credential: Option<String>,
    /// When the computer finished, milliseconds since the Unix epoch.
    pub finished_ms: i64,
    /// The name Windows reported (`Win32_ComputerSystem.Name`), when collected.
    pub name: Option<String>,
    /// The profile items not collected (failed or timed out), in profile order.
    pub missing: Vec<MissingItem>,
}

/// A profile item a computer lacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MissingItem {
    /// The item: a WMI class or a registry item.
    pub class: String,
    /// `failed` or `timed-out`.
    pub outcome: String,
    /// The symbolic name of its error's code, when it had one.
    pub code_name: Option<String>,
}

/// A computer a running scan is working on (`in_flight`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InFlightRow {
    /// The target as given.
    pub target: String,
    /// The attempt (1-based).
    pub attempt: u32,
    /// `connecting`, or the item being collected.
    pub step: String,
    /// Since when it is on that step, milliseconds since the Unix epoch.
    pub since_ms: i64,
    /// The scan process (`host:pid`).
    pub scanner: String,
    /// When its scanner last wrote (renewed every few seconds while it lives).
    pub updated_ms: i64,
}

/// One change to a run's in-flight rows ([`crate::Store::update_in_flight`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InFlightChange {
    /// The computer is at this step (inserted or replaced).
    Set(InFlightRow),
    /// The computer is no longer in flight (finished or requeued).
    Clear(String),
}
