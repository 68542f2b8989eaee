//! A simulated fleet served in-process on its own thread and runtime, for
//! tests that drive it with outside clients (impacket, aiowmi, our binary).

use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};
use tokio::sync::oneshot;
use winv_sim::fleet::Fleet;
use winv_sim::server::{ListenOptions, SimServer};

/// A running simulator; dropping it stops it.
pub struct SimHandle {
    /// The endpoint mapper port.
    pub epm_port: u16,
    /// The dynamic endpoint.
    pub dynamic_port: u16,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// Starts serving `fleet` with `opts`.
    pub fn start(fleet: Fleet, opts: ListenOptions) -> Result<SimHandle> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!("runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                match SimServer::start(fleet, opts).await {
                    Ok(sim) => {
                        let _ = ready_tx.send(Ok((sim.epm_port, sim.dynamic_port)));
                        let _ = stop_rx.await;
                        sim.stop().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow!("simulator: {e}")));
                    }
                }
            });
        });
        let (epm_port, dynamic_port) = ready_rx
            .recv()
            .context("simulator thread ended before it was ready")??;
        Ok(SimHandle {
            epm_port,
            dynamic_port,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
