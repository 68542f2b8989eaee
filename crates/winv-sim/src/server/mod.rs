//! The network half of the simulator: DCE/RPC on port 135 and one dynamic
//! endpoint, DCOM activation and the WMI interfaces, for every host of a
//! fleet in one process ([`SimServer`]).
//!
//! - [`conn`]: one connection: framing, the [`winv_dcerpc::ServerAssociation`],
//!   replies, deadlines;
//! - [`listen`]: listeners per address or on a wildcard address;
//! - [`host`]: one simulated host: users, DCOM objects, WMI, faults.

pub mod conn;
pub mod host;
pub mod listen;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use conn::{ConnLimits, Dispatch, Port, Reply};
pub use host::{normalize_namespace, Ports, SimHost};
pub use listen::{most_in_window, AcceptLog, Listen, ListenOptions};

use crate::fleet::Fleet;

/// A running simulated fleet.
#[derive(Debug)]
pub struct SimServer {
    /// The endpoint mapper port every host listens on.
    pub epm_port: u16,
    /// The dynamic endpoint every host names in its OXID bindings.
    pub dynamic_port: u16,
    /// How many hosts are served.
    pub hosts: usize,
    running: listen::Running,
}

impl SimServer {
    /// Binds the listeners of every host of `fleet` and starts serving.
    pub async fn start(fleet: Fleet, opts: ListenOptions) -> io::Result<SimServer> {
        let ports = Arc::new(Ports::default());
        let mut directory: listen::Directory = HashMap::with_capacity(fleet.hosts.len());
        for (i, spec) in fleet.hosts.into_iter().enumerate() {
            let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let addr = spec.address;
            directory.insert(addr, Arc::new(SimHost::new(spec, ports.clone(), index)));
        }
        let hosts = directory.len();
        let p = ports.clone();
        let running = listen::start(Arc::new(directory), opts, move |epm, dynamic| {
            p.epm.store(epm, Ordering::Relaxed);
            p.dynamic.store(dynamic, Ordering::Relaxed);
        })
        .await?;
        Ok(SimServer {
            epm_port: running.epm_port,
            dynamic_port: running.dynamic_port,
            hosts,
            running,
        })
    }

    /// When each connection was accepted ([`listen::AcceptLog`]).
    pub fn accepts(&self) -> Arc<listen::AcceptLog> {
        self.running.accepts.clone()
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}
