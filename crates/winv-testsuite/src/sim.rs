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
    /// When each TCP connection was accepted.
    pub accepts: std::sync::Arc<winv_sim::server::AcceptLog>,
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
                        let _ = ready_tx.send(Ok((sim.epm_port, sim.dynamic_port, sim.accepts())));
                        let _ = stop_rx.await;
                        sim.stop().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow!("simulator: {e}")));
                    }
                }
            });
        });
        let (epm_port, dynamic_port, accepts) = ready_rx
            .recv()
            .context("simulator thread ended before it was ready")??;
        Ok(SimHandle {
            epm_port,
            dynamic_port,
            accepts,
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

/// The fleet file of one host at `addr` with `faults` (the inside of a TOML
/// array, e.g. `{ kind = "dcom_access_denied" }`), accepting `LAB\admin` whose
/// password is in the environment variable `password_env`.
pub fn one_host_fleet(addr: &str, faults: &str, password_env: &str, seed: u64) -> String {
    fleet_of(&[(addr, faults)], password_env, seed)
}

/// The fleet file of `hosts` (address, faults as the inside of a TOML array), all
/// accepting `LAB\admin` whose password is in the environment variable `password_env`.
pub fn fleet_of<A: std::fmt::Display, F: AsRef<str>>(
    hosts: &[(A, F)],
    password_env: &str,
    seed: u64,
) -> String {
    let mut s = format!(
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{password_env}\"\nseed = {seed}\n"
    );
    for (addr, faults) in hosts {
        s.push_str(&format!(
            "\n[[host]]\naddress = \"{addr}\"\nfaults = [{}]\n",
            faults.as_ref()
        ));
    }
    s
}

/// Serves [`fleet_of`] on the caller's runtime with the endpoint mapper on `epm_port`
/// (0: chosen by the system) after setting `password_env` to `password`.
pub async fn serve_fleet<A: std::fmt::Display, F: AsRef<str>>(
    hosts: &[(A, F)],
    password_env: &str,
    password: &str,
    seed: u64,
    epm_port: u16,
) -> Result<SimServer> {
    // The variable is the calling test's own, set before the simulator reads it.
    std::env::set_var(password_env, password);
    Ok(SimServer::start(
        Fleet::parse(&fleet_of(hosts, password_env, seed))?,
        ListenOptions {
            epm_port,
            dynamic_port: 0,
            ..ListenOptions::default()
        },
    )
    .await?)
}

/// Serves [`one_host_fleet`] on the caller's runtime, on ports the system
/// chooses, after setting `password_env` to `password`. Returns the server and
/// the parsed fleet (for the expected data).
pub async fn serve_one_host(
    addr: &str,
    faults: &str,
    password_env: &str,
    password: &str,
    seed: u64,
) -> Result<(SimServer, Fleet)> {
    // The variable is the calling test's own, set before the simulator reads it.
    std::env::set_var(password_env, password);
    let text = one_host_fleet(addr, faults, password_env, seed);
    let sim = SimServer::start(
        Fleet::parse(&text)?,
        ListenOptions {
            epm_port: 0,
            dynamic_port: 0,
            ..ListenOptions::default()
        },
    )
    .await?;
    Ok((sim, Fleet::parse(&text)?))
}
