//! Calls made at once: more connections to the OXID's endpoint, in the first connection's
//! association group, for calls that do not depend on each other.
//!
//! Windows does not negotiate concurrent multiplexing (`PFC_CONC_MPX` is clear in the binds
//! and bind_acks of real captures), so the calls on one connection go one after another and
//! each costs a round trip. What Windows' own RPC runtime does for concurrent calls on one
//! binding is open another connection in the same association group ("Managing Network
//! Connection Sets" in the RPC programming guide): the bind names the group's
//! `assoc_group_id` ([C706] 12.6.4.3), and a server MUST let a connection from the machine
//! that created the group join it ([MS-RPCE] 3.3.1.5.2). An IPID belongs to the object
//! exporter, not to a connection ([MS-DCOM] 1.3.5), so an `IWbemServices` obtained on the
//! first connection is called on any of them.
//!
//! A lane is one such connection, bound to `IWbemServices` (the other interfaces a query
//! calls are added on its first query, `line`), with a security context of
//! its own from the session's mechanism (a lane's logon is the account's, already proven by
//! the first connection). Lanes open when a batch first needs them, each under the rate cap
//! (a scan's `--rate` counts TCP connections) and the connect deadline; a lane that does not
//! open is left out (the batch runs on the ones that did, the first connection always), and
//! a lane whose call fails at the transport is dropped. Every call keeps its own call
//! deadline and its own result: a batch returns one result per call, in order, so a caller
//! sees exactly the errors it would see making them one after another. Class queries
//! ([`WmiClient::query_each_many_in`]) go the same way, a whole query per connection at a
//! time, each result handed over as it ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use futures_util::future::join_all;
use tracing::debug;
use uuid::Uuid;
use winv_dcerpc::interfaces::IWBEMSERVICES;
use winv_dcerpc::ClientConfig;
use winv_rpc::transport::connect_tcp;
use winv_rpc::RpcConnection;

use winv_wmio::Object;

use crate::client::{answered, Held, Rows, WmiClient};
use crate::error::{Cause, ClientError, Stage};
use crate::flow::{rpc_config, security};
use crate::line::Line;
use crate::security::BindTarget;

/// One more connection of a session, with the presentation contexts negotiated on it
/// (its bind's `IWbemServices` first; the enumerators' interfaces on first use).
pub(crate) struct Lane {
    conn: RpcConnection,
    contexts: Vec<(Uuid, u16)>,
}

impl Lane {
    fn new(conn: RpcConnection) -> Lane {
        let contexts = vec![(IWBEMSERVICES.uuid, conn.context_id())];
        Lane { conn, contexts }
    }
}

/// Most connections to one host's endpoint ([`crate::client::WmiOptions::connections`]):
/// Windows' RPC runtime opens one per concurrent call; eight keep a host's share of a
/// scan's sockets small.
pub const MAX_CONNECTIONS: usize = 8;

impl WmiClient {
    /// Opens lanes until there are `want` (capped by the options' `connections` less the
    /// first connection), all at once; those that fail are left out, quietly.
    async fn open_lanes(&mut self, want: usize) {
        let cap = self.opts.connections.clamp(1, MAX_CONNECTIONS) - 1;
        let want = want.min(cap);
        if self.lanes.len() >= want || self.lanes_failed {
            return;
        }
        let group = self.conn.association().assoc_group_id();
        let addr = self.binding_used;
        let config = ClientConfig {
            assoc_group_id: group,
            ..rpc_config(&self.opts)
        };
        let opening = (self.lanes.len()..want).map(|_| {
            let (host, principal) = (self.host.as_str(), self.principal.as_deref());
            let (mechanism, opts, rate) = (self.mechanism.as_ref(), &self.opts, &self.rate);
            let config = config.clone();
            async move {
                if let Some(r) = rate {
                    r.wait().await;
                }
                let stream = connect_tcp(addr, opts.deadlines.connect)
                    .await
                    .map_err(|c| ClientError::new(Stage::ConnectDynamic, Cause::Connect(c)))?;
                let target = BindTarget {
                    host,
                    addr,
                    stage: Stage::BindDynamic,
                    principal,
                    level: opts.auth_level,
                };
                let sec = security(mechanism, opts, target).await?;
                RpcConnection::bind_stream(stream, addr, IWBEMSERVICES, config, sec, opts.deadlines)
                    .await
                    .map_err(|e| ClientError::rpc_at(Stage::BindDynamic, e))
            }
        });
        for r in join_all(opening).await {
            match r {
                Ok(conn) if conn.association().assoc_group_id() == group => {
                    self.lanes.push(Lane::new(conn));
                }
                Ok(_) => {
                    debug!("the server put a lane in another association group; not used");
                    self.lanes_failed = true;
                }
                Err(e) => {
                    debug!(error = %e, "a lane did not open; the calls go on the others");
                    self.lanes_failed = true;
                }
            }
        }
    }

    /// The session's connections as lines: the first, then each lane, their octets
    /// counted together in `shared` when given.
    fn lines<'a>(&'a mut self, shared: Option<&'a AtomicUsize>) -> Vec<Line<'a>> {
        let (opts, rem_unknown) = (&self.opts, self.ipid_rem_unknown);
        let first = Line {
            conn: &mut self.conn,
            contexts: &mut self.contexts,
            opts,
            rem_unknown,
            shared_octets: shared,
        };
        let lanes = self.lanes.iter_mut().map(|lane| Line {
            conn: &mut lane.conn,
            contexts: &mut lane.contexts,
            opts,
            rem_unknown,
            shared_octets: shared,
        });
        std::iter::once(first).chain(lanes).collect()
    }

    /// Drops the lanes at `broken` (indices of [`WmiClient::lines`], from
    /// [`over_lines`]). The first connection's failure is the session's: its next call
    /// fails as it would have.
    fn drop_broken(&mut self, broken: Vec<usize>) {
        for at in broken.into_iter().filter(|at| *at > 0).rev() {
            self.lanes.swap_remove(at - 1);
        }
    }

    /// Calls `opnum` of `IWbemServices` on `ipid` for calls `0..n`, spread over the first
    /// connection and the lanes ([`over_lines`]): call `i`'s request stub is `stub(i)`,
    /// made when a connection takes it (a stub that cannot be made is that call's error,
    /// and its connection stays in step), and its response stub (or error at `stage`) goes
    /// to `answer(i, ..)` as it arrives. Returns what `answer` made of each, in order.
    pub(crate) async fn services_calls<T: Send>(
        &mut self,
        stage: Stage,
        opnum: u16,
        ipid: Uuid,
        n: usize,
        stub: &(dyn Fn(usize) -> Result<Vec<u8>, ClientError> + Sync),
        answer: &(dyn Fn(usize, Result<Vec<u8>, ClientError>) -> T + Sync),
    ) -> Vec<T> {
        if n == 0 {
            return Vec::new();
        }
        if let Err(e) = self.line().context(IWBEMSERVICES, stage).await {
            let first = first_error(e, n, stage).into_iter();
            return first.enumerate().map(|(i, r)| answer(i, r)).collect();
        }
        // Every call ends in `done`, made or "not made" ([`over_lines`]).
        let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
        let done = |i: usize, r: Result<Result<Vec<u8>, ClientError>, ClientError>| {
            let made = answer(i, r.and_then(|r| r));
            if let Some(slot) = lock(&results).get_mut(i) {
                *slot = Some(made);
            }
        };
        self.open_lanes(n - 1).await;
        let lines = self.lines(None);
        let broken = over_lines(lines, n, stage, &done, |mut line, i| async move {
            // The outer result is the connection's; a stub not made leaves it in step.
            let r = match stub(i) {
                Ok(request) => line
                    .orpc(stage, IWBEMSERVICES, opnum, ipid, &request)
                    .await
                    .map(Ok),
                Err(e) => Ok(Err(e)),
            };
            (line, r)
        })
        .await;
        self.drop_broken(broken);
        let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.unwrap_or_else(|| answer(i, Err(unmade(stage)))))
            .collect()
    }

    /// Runs each of `queries` (its WQL and the rows it expects) in `namespace` as
    /// [`WmiClient::query_each_in`] does, handing the objects of query `i` to `keeps[i]`
    /// and its result to `finished(i, result)` as soon as it ends (a caller that stops
    /// waiting keeps what ended before), the queries made at once over the session's
    /// connections (`over_lines`): each connection runs a query whole (`ExecQuery`, the
    /// enumerator's calls, every `Next`)
    /// with its own call deadlines, so a query's result and error are what it would have
    /// had alone. The octet budget counts the objects of all of them together, as it would
    /// one after another.
    pub async fn query_each_many_in<K>(
        &mut self,
        namespace: &str,
        queries: &[(&str, Rows)],
        keeps: &mut [K],
        finished: &(dyn Fn(usize, Result<(), ClientError>) + Sync),
    ) where
        K: FnMut(Object) -> usize + Send,
    {
        let st = Stage::Query;
        let n = queries.len().min(keeps.len());
        if n == 0 {
            return;
        }
        let services = match self.services(namespace).await {
            Ok(s) => s,
            Err(e) => {
                for (i, r) in first_error(e, n, st).into_iter().enumerate() {
                    finished(i, r);
                }
                return;
            }
        };
        let shared = AtomicUsize::new(0);
        // Each query's `keep`, taken by the connection that runs it, and the references
        // granted on connections still in step, released with the session's others.
        let slots: Mutex<Vec<Option<&mut K>>> =
            Mutex::new(keeps.iter_mut().take(n).map(Some).collect());
        let spent: Mutex<Vec<Held>> = Mutex::new(Vec::new());
        self.open_lanes(n - 1).await;
        let lines = self.lines(Some(&shared));
        let (slots, spent) = (&slots, &spent);
        let broken = over_lines(lines, n, st, finished, |mut line, i| async move {
            // INVARIANT: every `i < n` is taken once, so its query and `keep` are there.
            let keep = lock(slots).get_mut(i).and_then(Option::take);
            let (Some(&(wql, rows)), Some(keep)) = (queries.get(i), keep) else {
                return (line, Err(unmade(st)));
            };
            let mut granted = Vec::new();
            let r = line.query(services, wql, rows, &mut granted, keep).await;
            if r.as_ref().map_or_else(answered, |_| true) {
                lock(spent).extend(granted);
            }
            (line, r)
        })
        .await;
        self.drop_broken(broken);
        let granted = std::mem::take(&mut *lock(spent));
        self.add_spent(granted).await;
    }
}

/// Runs jobs `0..n` at once over `lines` ([`WmiClient::lines`], lanes opened first), every
/// connection taking the next job when its last one has ended, and hands each job's result
/// to `done(i, result)` as it ends. A connection whose job failed below an answer (a
/// transport error, a deadline, a protocol error; a fault, an HRESULT or a method's return
/// value is an answer, [`answered`]) takes no more: its job keeps its error and the jobs
/// after it go to the others. A job left unmade (every connection broke before it: jobs
/// are taken in order, so an earlier one holds the error that stopped them) ends "not
/// made" at `stage`. Returns the connections that broke, for [`WmiClient::drop_broken`].
async fn over_lines<'a, T, F, Fut>(
    lines: Vec<Line<'a>>,
    n: usize,
    stage: Stage,
    done: &(dyn Fn(usize, Result<T, ClientError>) + Sync),
    job: F,
) -> Vec<usize>
where
    F: Fn(Line<'a>, usize) -> Fut,
    Fut: std::future::Future<Output = (Line<'a>, Result<T, ClientError>)>,
{
    let next = AtomicUsize::new(0);
    let (next, job) = (&next, &job);
    let workers = lines
        .into_iter()
        .enumerate()
        .map(|(at, mut line)| async move {
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return (at, made, false);
                }
                let (back, r) = job(line, i).await;
                line = back;
                let broken = matches!(&r, Err(e) if !answered(e));
                made.push(i);
                done(i, r);
                if broken {
                    return (at, made, true);
                }
            }
        });
    let mut made = vec![false; n];
    let mut broken = Vec::new();
    for (at, done, b) in join_all(workers).await {
        for i in done {
            made[i] = true;
        }
        if b {
            broken.push(at);
        }
    }
    for (i, _) in made.iter().enumerate().filter(|(_, m)| !**m) {
        done(i, Err(unmade(stage)));
    }
    broken
}

/// `m` locked, whatever a panicking holder left in it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The error of a call a batch did not make, because an earlier one failed.
fn unmade(stage: Stage) -> ClientError {
    ClientError::new(
        stage,
        Cause::Protocol("not made: an earlier call of the batch failed".into()),
    )
}

/// The results of a batch of `n` calls that stopped before its first: `e`, then "not made"
/// at `stage` for the others.
pub(crate) fn first_error<T>(
    e: ClientError,
    n: usize,
    stage: Stage,
) -> Vec<Result<T, ClientError>> {
    let mut out = vec![Err(e)];
    out.extend((1..n).map(|_| Err(unmade(stage))));
    out
}
