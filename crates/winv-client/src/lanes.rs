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
//! calls are added on its first query, [`crate::line`]), with a security context of
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

use crate::client::{answered, Held, WmiClient, RELEASE_BATCH};
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

    /// Calls `opnum` of `IWbemServices` on `ipid` once per stub, spread over the first
    /// connection and the lanes, every connection taking the next call when its last one is
    /// answered. Returns each call's response stub (or error at `stage`), in the stubs'
    /// order.
    pub(crate) async fn services_calls(
        &mut self,
        stage: Stage,
        opnum: u16,
        ipid: Uuid,
        stubs: &[Vec<u8>],
    ) -> Vec<Result<Vec<u8>, ClientError>> {
        if stubs.is_empty() {
            return Vec::new();
        }
        let first_ctx = match self.context(IWBEMSERVICES, stage).await {
            Ok(c) => c,
            Err(e) => return first_error(e, stubs.len(), stage),
        };
        self.open_lanes(stubs.len() - 1).await;
        let next = AtomicUsize::new(0);
        let mut conns: Vec<(&mut RpcConnection, u16)> = vec![(&mut self.conn, first_ctx)];
        for lane in &mut self.lanes {
            let ctx = lane.conn.context_id();
            conns.push((&mut lane.conn, ctx));
        }
        let workers = conns.into_iter().enumerate().map(|(n, (conn, ctx))| {
            let next = &next;
            async move {
                let mut done = Vec::new();
                let mut broken = false;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(stub) = stubs.get(i) else {
                        break;
                    };
                    let r = conn
                        .call_on(ctx, opnum, Some(ipid), stub)
                        .await
                        .map_err(|e| ClientError::rpc_at(stage, e));
                    // A connection whose call failed below the answer (a transport
                    // error, a deadline, a protocol error; a fault is an answer) takes no
                    // more calls: its call keeps its error, and the calls after it go to
                    // the others, or stay unmade as they would one after another.
                    broken = matches!(&r, Err(e) if !matches!(e.cause(), Cause::Fault { .. }));
                    done.push((i, r));
                    if broken {
                        break;
                    }
                }
                (n, done, broken)
            }
        });
        let mut results: Vec<Option<Result<Vec<u8>, ClientError>>> =
            stubs.iter().map(|_| None).collect();
        let mut dead = Vec::new();
        for (n, done, broken) in join_all(workers).await {
            for (i, r) in done {
                results[i] = Some(r);
            }
            if broken {
                dead.push(n);
            }
        }
        // The first connection's failure is the session's (its next call fails as it
        // would have); a broken lane is dropped.
        dead.retain(|n| *n > 0);
        for n in dead.into_iter().rev() {
            self.lanes.swap_remove(n - 1);
        }
        // A call left unmade: every connection broke before it (calls are taken in order,
        // so an earlier call holds the error that stopped them).
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(unmade(stage))))
            .collect()
    }

    /// Runs each of `queries` in `namespace` as [`WmiClient::query_each_in`] does, handing
    /// the objects of query `i` to `keeps[i]` and its result to `finished(i, result)` as
    /// soon as it ends (a caller that stops waiting keeps what ended before), the queries
    /// made at once over the session's connections: every connection takes the next query
    /// when its last one has ended and runs it whole (`ExecQuery`, the smart enumerator,
    /// every `Next`) with its own call deadlines, so a query's result and error are what
    /// it would have had alone. The octet budget counts the objects of all of them
    /// together, as it would one after another. A connection whose query failed below an
    /// answer (a transport error, a deadline) takes no more: the queries after it go to
    /// the others, or end "not made" when every connection broke before them.
    pub async fn query_each_many_in<K>(
        &mut self,
        namespace: &str,
        queries: &[&str],
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
        self.open_lanes(n - 1).await;
        let shared = AtomicUsize::new(0);
        let next = AtomicUsize::new(0);
        // Each query's `keep`, taken by the connection that runs it.
        let slots: Mutex<Vec<Option<&mut K>>> =
            Mutex::new(keeps.iter_mut().take(n).map(Some).collect());
        let (opts, rem_unknown) = (&self.opts, self.ipid_rem_unknown);
        let mut lines = vec![Line {
            conn: &mut self.conn,
            contexts: &mut self.contexts,
            opts,
            rem_unknown,
            shared_octets: Some(&shared),
        }];
        for lane in &mut self.lanes {
            lines.push(Line {
                conn: &mut lane.conn,
                contexts: &mut lane.contexts,
                opts,
                rem_unknown,
                shared_octets: Some(&shared),
            });
        }
        let workers = lines.into_iter().enumerate().map(|(at, mut line)| {
            let (next, slots) = (&next, &slots);
            async move {
                let mut made = Vec::new();
                let mut spent: Vec<Held> = Vec::new();
                let mut broken = false;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(wql) = queries.get(i).filter(|_| i < n) else {
                        break;
                    };
                    let keep = slots
                        .lock()
                        .ok()
                        .and_then(|mut s| s.get_mut(i).and_then(Option::take));
                    let Some(keep) = keep else {
                        break;
                    };
                    let mut granted = Vec::new();
                    let r = line.query(services, wql, &mut granted, keep).await;
                    broken = matches!(&r, Err(e) if !answered(e));
                    if !broken {
                        spent.extend(granted);
                    }
                    made.push(i);
                    finished(i, r);
                    if broken {
                        break;
                    }
                }
                (at, made, spent, broken)
            }
        });
        let mut made = vec![false; n];
        let mut dead = Vec::new();
        for (at, done, spent, broken) in join_all(workers).await {
            for i in done {
                made[i] = true;
            }
            self.spent.extend(spent);
            if broken {
                dead.push(at);
            }
        }
        // As for the calls of a batch: the first connection's failure is the session's,
        // a broken lane is dropped.
        dead.retain(|at| *at > 0);
        for at in dead.into_iter().rev() {
            self.lanes.swap_remove(at - 1);
        }
        for (i, _) in made.iter().enumerate().filter(|(_, m)| !**m) {
            finished(i, Err(unmade(st)));
        }
        if self.spent.len() >= RELEASE_BATCH {
            self.release_spent().await;
        }
    }
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
