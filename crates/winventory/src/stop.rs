//! `winventory stop`: stops a run for every scanner working on it. Each scanner sees it
//! at its next heartbeat (within a third of its lease), ends its attempts in flight and
//! gives their computers back to the queue; `scan --join RUN` continues the run later.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use winv_engine::now_ms;
use winv_store::{RunId, RunState};

use crate::dbargs::DbArgs;

/// Arguments of `winventory stop`.
#[derive(Args, Debug)]
pub struct StopArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// The run to stop.
    #[arg(long, value_name = "ID")]
    pub run: RunId,
}

/// Runs `stop`.
pub fn run(args: StopArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async {
        let store = args.db.open_existing().await?;
        let Some(info) = store.run(args.run).await? else {
            bail!("no run {} in {}", args.run, args.db.shown());
        };
        if info.state != RunState::Running {
            println!("run {} is already {}", info.id, info.state);
            store.close().await;
            return Ok(ExitCode::SUCCESS);
        }
        store.stop_run(info.id, now_ms()).await?;
        let scanners = store.scanners(info.id).await?;
        let active = scanners.iter().filter(|s| s.left_ms.is_none()).count();
        store.close().await;
        println!(
            "run {} stopped: {active} scanner(s) stop at their next heartbeat and give their \
             unfinished computers back; continue it with winventory scan --join {}",
            info.id, info.id
        );
        Ok(ExitCode::SUCCESS)
    })
}
