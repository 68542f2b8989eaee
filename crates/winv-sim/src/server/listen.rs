//! Listeners: port 135 and one dynamic endpoint, per address or on a wildcard
//! address; each accepted connection goes to the host whose address it was
//! made to (the socket's local address), so one process serves a whole fleet.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::conn::{serve_connection, ConnLimits, Dispatch, Port};

/// How the simulator listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// One socket per host address and port (2 file descriptors a host).
    PerAddress,
    /// One socket per port on this address (e.g. `0.0.0.0` or `127.0.0.1`...),
    /// for fleets too large for one socket per host. Connections to addresses
    /// that are not in the fleet are closed at once.
    Wildcard(IpAddr),
}

/// Where and how to listen.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// The endpoint mapper / activation port (135).
    pub epm_port: u16,
    /// The dynamic endpoint (0: let the system choose one, then use it for
    /// every address).
    pub dynamic_port: u16,
    /// Per address or wildcard.
    pub listen: Listen,
    /// Deadlines of served connections.
    pub limits: ConnLimits,
    /// Cap on connections served at once (this machine allows 20,000 open
    /// files; listeners and the client side need some).
    pub max_connections: usize,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            epm_port: 135,
            dynamic_port: 0,
            listen: Listen::PerAddress,
            limits: ConnLimits::default(),
            max_connections: 8_000,
        }
    }
}

/// The hosts by address.
pub type Directory = HashMap<IpAddr, Arc<dyn Dispatch>>;

/// When each TCP connection was accepted and on which host's address, on every listener
/// of a simulator: a test of a client's connection rate, or of which hosts a scanner
/// touched, counts at the TCP level, not the client's own counter.
#[derive(Debug)]
pub struct AcceptLog {
    started: std::time::Instant,
    times: std::sync::Mutex<Vec<(std::time::Duration, Option<IpAddr>)>>,
}

/// The most accept times an [`AcceptLog`] keeps (a bound on what a client can make it hold).
pub const ACCEPT_LOG_LIMIT: usize = 1 << 20;

impl AcceptLog {
    fn new() -> AcceptLog {
        AcceptLog {
            started: std::time::Instant::now(),
            times: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn record(&self, host: Option<IpAddr>) {
        let t = self.started.elapsed();
        let mut v = self.lock();
        if v.len() < ACCEPT_LOG_LIMIT {
            v.push((t, host));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(std::time::Duration, Option<IpAddr>)>> {
        self.times.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The accept times so far, since the simulator started, in order.
    pub fn times(&self) -> Vec<std::time::Duration> {
        self.lock().iter().map(|(t, _)| *t).collect()
    }

    /// The host address of each connection accepted so far (`None` when the socket
    /// could not say), in order.
    pub fn hosts(&self) -> Vec<Option<IpAddr>> {
        self.lock().iter().map(|(_, h)| *h).collect()
    }
}

/// The most of `times` (in order) that fall in any span of `window` (half-open: a time
/// exactly `window` after another is in the next span).
pub fn most_in_window(times: &[std::time::Duration], window: std::time::Duration) -> usize {
    let mut most = 0;
    let mut start = 0;
    for (end, t) in times.iter().enumerate() {
        while times.get(start).is_some_and(|s| *t >= *s + window) {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most
}

/// A running simulator; dropping it (or [`Running::stop`]) stops the listeners.
#[derive(Debug)]
pub struct Running {
    /// The endpoint mapper port.
    pub epm_port: u16,
    /// The dynamic endpoint port, the same for every host.
    pub dynamic_port: u16,
    /// Every accepted connection's time.
    pub accepts: Arc<AcceptLog>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Stops accepting; served connections end with their tasks.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Binds the listeners for `hosts` and starts accepting. `on_ports` learns the
/// actual ports before any connection is served (the hosts put the dynamic
/// port in their OXID bindings).
pub async fn start(
    hosts: Arc<Directory>,
    opts: ListenOptions,
    on_ports: impl FnOnce(u16, u16),
) -> io::Result<Running> {
    let mut epm = Vec::new();
    let mut dynamic = Vec::new();
    let addrs: Vec<IpAddr> = match &opts.listen {
        Listen::PerAddress => {
            let mut v: Vec<IpAddr> = hosts.keys().copied().collect();
            v.sort();
            v
        }
        Listen::Wildcard(a) => vec![*a],
    };
    let mut dynamic_port = opts.dynamic_port;
    let mut epm_port = opts.epm_port;
    for a in &addrs {
        let l = listener(SocketAddr::new(*a, epm_port))?;
        epm_port = l.local_addr()?.port();
        epm.push(l);
        let l = listener(SocketAddr::new(*a, dynamic_port))?;
        dynamic_port = l.local_addr()?.port();
        dynamic.push(l);
    }
    on_ports(epm_port, dynamic_port);
    let (stop, stopped) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let accepts = Arc::new(AcceptLog::new());
    let mut tasks = JoinSet::new();
    for (l, port) in epm
        .into_iter()
        .map(|l| (l, Port::Epm))
        .chain(dynamic.into_iter().map(|l| (l, Port::Dynamic)))
    {
        let hosts = hosts.clone();
        let permits = permits.clone();
        let accepts = accepts.clone();
        let mut stopped = stopped.clone();
        let limits = opts.limits;
        tasks.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = l.accept() => a,
                    _ = stopped.changed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(a) => {
                        accepts.record(a.0.local_addr().ok().map(|l| l.ip()));
                        a
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(local) = stream.local_addr() else {
                    continue;
                };
                let Some(host) = hosts.get(&local.ip()).cloned() else {
                    debug!(%local, %peer, "connection to an address outside the fleet");
                    continue;
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    warn!(%local, "connection limit reached; refusing");
                    continue;
                };
                tokio::spawn(async move {
                    serve_connection(stream, peer, port, host, limits).await;
                    drop(permit);
                });
            }
        });
    }
    Ok(Running {
        epm_port,
        dynamic_port,
        accepts,
        stop,
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::most_in_window;
    use std::time::Duration;

    #[test]
    fn the_busiest_second() {
        let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
        let s = Duration::from_secs(1);
        assert_eq!(most_in_window(&[], s), 0);
        assert_eq!(most_in_window(&ms(&[0, 200, 400, 600, 800, 1000]), s), 5);
        assert_eq!(most_in_window(&ms(&[0, 10, 20, 2000, 2001, 2002, 2999]), s), 4);
        assert_eq!(most_in_window(&ms(&[5, 5, 5]), s), 3);
    }
}
