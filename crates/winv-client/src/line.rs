//! One connection's share of a session: its presentation contexts, the ORPC call on it,
//! and the query pipeline (`ExecQuery`, the smart enumerator, `Next` until the end) that
//! runs on it. The session's first connection is a line and so is each lane
//! ([`crate::lanes`]), so queries made at once run one per connection, each exactly as it
//! would alone: its own call deadlines, budgets and errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tracing::debug;
use uuid::Uuid;
use winv_dcerpc::interfaces::{
    IENUMWBEMCLASSOBJECT, IREMUNKNOWN2, IWBEMFETCHSMARTENUM, IWBEMSERVICES, IWBEMWCOSMARTENUM,
};
use winv_dcerpc::SyntaxId;
use winv_dcom::remunknown::{
    decode_rem_query_interface_response, encode_rem_query_interface_request,
    RemQueryInterfaceRequest, OPNUM_REM_QUERY_INTERFACE,
};
use winv_rpc::RpcConnection;
use winv_wmi::consts::{WBEM_S_FALSE, WBEM_S_NO_MORE_DATA};
use winv_wmi::{
    EnumNextRequest, EnumNextResponse, ExecQueryRequest, ExecQueryResponse, GetSmartEnumRequest,
    GetSmartEnumResponse, SmartEnumNextRequest, SmartEnumNextResponse,
};
use winv_wmio::object_array::{decode_object_array, ClassCache};
use winv_wmio::Object;

use crate::client::{
    answered, check_hresult, decode_class_object, fresh_uuid, held_of, orpc_this, required,
    std_ref, Held, Rows, WmiAnswer, WmiOptions,
};
use crate::error::{Cause, ClientError, Stage};

/// A connection and what the session negotiated on it, borrowed for some calls.
pub(crate) struct Line<'a> {
    pub(crate) conn: &'a mut RpcConnection,
    /// The presentation context of each interface used on this connection so far.
    pub(crate) contexts: &'a mut Vec<(Uuid, u16)>,
    pub(crate) opts: &'a WmiOptions,
    /// The exporter's `IRemUnknown2` ([MS-DCOM] 3.1.1.5.6): one for every connection of
    /// the association.
    pub(crate) rem_unknown: Uuid,
    /// Octets held by every query of a batch together, when several run at once: the
    /// octet budget ([`WmiOptions::max_result_bytes`]) counts them all, as it would count
    /// each of them one after another against what is left.
    pub(crate) shared_octets: Option<&'a AtomicUsize>,
}

impl Line<'_> {
    /// The presentation context of `iface`, negotiated on first use
    /// (`alter_context`, [C706] 12.6.4.1). An interface a class query uses comes with the
    /// others it uses that this connection has not negotiated yet, all in one
    /// alter_context ([`Line::query_interfaces`]): one round trip instead of one each.
    pub(crate) async fn context(
        &mut self,
        iface: SyntaxId,
        stage: Stage,
    ) -> Result<u16, ClientError> {
        if let Some(id) = self.negotiated(iface) {
            return Ok(id);
        }
        let mut offer = vec![iface];
        if self.query_interfaces().contains(&iface) {
            let rest = self.query_interfaces().iter();
            offer.extend(rest.filter(|i| **i != iface && self.negotiated(**i).is_none()));
        }
        let ids = self
            .conn
            .alter_contexts(&offer)
            .await
            .map_err(|e| ClientError::rpc_at(stage, e))?;
        // One not accepted (only a later one can be: the first's rejection is the
        // error) is asked for alone when it is needed, and meets its rejection then.
        for (i, id) in offer.iter().zip(ids) {
            if let Some(id) = id {
                self.contexts.push((i.uuid, id));
            }
        }
        self.negotiated(iface).ok_or_else(|| {
            ClientError::new(
                stage,
                Cause::Protocol("presentation context not added".into()),
            )
        })
    }

    /// The presentation context negotiated for `iface` on this connection.
    fn negotiated(&self, iface: SyntaxId) -> Option<u16> {
        self.contexts
            .iter()
            .find(|(u, _)| *u == iface.uuid)
            .map(|(_, id)| *id)
    }

    /// The interfaces a class query calls on a connection: `IWbemServices`
    /// (`ExecQuery`), then `IRemUnknown2`, `IWbemFetchSmartEnum` and `IWbemWCOSmartEnum`
    /// for the smart enumerator and `IEnumWbemClassObject` for a query of few rows
    /// ([`Rows::Few`]) or a server that refuses the smart enumerator; only
    /// `IEnumWbemClassObject` without it.
    fn query_interfaces(&self) -> &'static [SyntaxId] {
        if self.opts.smart_enum {
            &[
                IWBEMSERVICES,
                IREMUNKNOWN2,
                IWBEMFETCHSMARTENUM,
                IWBEMWCOSMARTENUM,
                IENUMWBEMCLASSOBJECT,
            ]
        } else {
            &[IWBEMSERVICES, IENUMWBEMCLASSOBJECT]
        }
    }

    /// One ORPC call: `opnum` of `iface` on the object `ipid`.
    pub(crate) async fn orpc(
        &mut self,
        stage: Stage,
        iface: SyntaxId,
        opnum: u16,
        ipid: Uuid,
        stub: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let ctx = self.context(iface, stage).await?;
        self.conn
            .call_on(ctx, opnum, Some(ipid), stub)
            .await
            .map_err(|e| ClientError::rpc_at(stage, e))
    }

    /// One `IWbem*` method call at `stage`: the encoded request sent to `ipid`, the answer
    /// decoded and its HRESULT checked.
    pub(crate) async fn wmi_call<A: WmiAnswer>(
        &mut self,
        stage: Stage,
        iface: SyntaxId,
        opnum: u16,
        ipid: Uuid,
        request: winv_wmi::Result<Vec<u8>>,
    ) -> Result<A, ClientError> {
        let stub = request.map_err(|e| ClientError::decode_at(stage, e))?;
        // Boxed: the call's future is large and every public method nests one or more;
        // held inline, a scan's future overflowed a 2 MiB worker stack in debug builds.
        let resp = Box::pin(self.orpc(stage, iface, opnum, ipid, &stub)).await?;
        let answer = A::decode(&resp).map_err(|e| ClientError::decode_at(stage, e))?;
        check_hresult(stage, answer.hresult())?;
        Ok(answer)
    }

    /// Runs `wql` on the `IWbemServices` `services` (`ExecQuery` with
    /// `WBEM_FLAG_RETURN_IMMEDIATELY | WBEM_FLAG_FORWARD_ONLY`, [MS-WMI] 3.1.4.3.18) and
    /// hands every object to `keep`: through the smart enumerator when enabled, offered
    /// and `rows` is [`Rows::Many`], else `Next`. The references the server granted are
    /// added to `granted`.
    pub(crate) async fn query(
        &mut self,
        services: Uuid,
        wql: &str,
        rows: Rows,
        granted: &mut Vec<Held>,
        keep: &mut (dyn FnMut(Object) -> usize + Send),
    ) -> Result<(), ClientError> {
        let st = Stage::Query;
        let request = ExecQueryRequest::wql(orpc_this(), wql).encode();
        let resp: ExecQueryResponse = self
            .wmi_call(
                st,
                IWBEMSERVICES,
                ExecQueryRequest::OPNUM,
                services,
                request,
            )
            .await?;
        let p = required(resp.enumerator, st, "ExecQuery returned no enumerator")?;
        let enumerator = std_ref(&p, st)?;
        granted.push(enumerator);
        self.enumerate(enumerator.ipid, rows, granted, keep).await
    }

    async fn enumerate(
        &mut self,
        enum_ipid: Uuid,
        rows: Rows,
        granted: &mut Vec<Held>,
        keep: &mut (dyn FnMut(Object) -> usize + Send),
    ) -> Result<(), ClientError> {
        if self.opts.smart_enum && rows == Rows::Many {
            match self.smart_enum(enum_ipid, granted).await {
                Ok(smart) => return self.next_smart(smart, keep).await,
                Err(e) if answered(&e) || matches!(e.cause(), Cause::BindRejected(_)) => {
                    debug!(error = %e, "smart enumerator refused; falling back to Next");
                }
                Err(e) => return Err(e),
            }
        }
        self.next_plain(enum_ipid, keep).await
    }

    /// `RemQueryInterface(IWbemFetchSmartEnum)` then `GetSmartEnum` ([MS-WMI] 3.1.4.6).
    async fn smart_enum(
        &mut self,
        enum_ipid: Uuid,
        granted: &mut Vec<Held>,
    ) -> Result<Uuid, ClientError> {
        let st = Stage::Enumerate;
        let req = RemQueryInterfaceRequest {
            ipid: enum_ipid,
            refs: 1,
            iids: vec![IWBEMFETCHSMARTENUM.uuid],
        };
        let stub = encode_rem_query_interface_request(&orpc_this(), &req)
            .map_err(|e| ClientError::decode_at(st, e))?;
        let rem = self.rem_unknown;
        let resp = self
            .orpc(st, IREMUNKNOWN2, OPNUM_REM_QUERY_INTERFACE, rem, &stub)
            .await?;
        let (_, results, hr) = decode_rem_query_interface_response(&resp)
            .map_err(|e| ClientError::decode_at(st, e))?;
        check_hresult(st, hr)?;
        let r = required(results.first(), st, "RemQueryInterface returned no result")?;
        check_hresult(st, r.hresult)?;
        let fetch = held_of(&r.std);
        granted.push(fetch);
        let request = GetSmartEnumRequest { this: orpc_this() }.encode();
        let opnum = winv_wmi::enumerator::opnums::GET_SMART_ENUM;
        let resp: GetSmartEnumResponse = self
            .wmi_call(st, IWBEMFETCHSMARTENUM, opnum, fetch.ipid, request)
            .await?;
        let p = required(resp.smart_enum, st, "GetSmartEnum returned nothing")?;
        let smart = std_ref(&p, st)?;
        granted.push(smart);
        Ok(smart.ipid)
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.opts.enum_timeout.as_millis())
            .unwrap_or(i32::MAX)
            .max(0)
    }

    /// Whether an enumeration that has received nothing since `since` has run out of time.
    fn stalled(&self, since: Instant) -> Result<(), ClientError> {
        let after = self.opts.deadlines.call;
        if since.elapsed() >= after {
            return Err(ClientError::new(
                Stage::Enumerate,
                Cause::Timeout {
                    what: "query",
                    after,
                },
            ));
        }
        Ok(())
    }

    /// Counts a batch of `rows` holding `octets` in the enumeration's budget (and in the
    /// batch's shared octets when queries run at once).
    fn count(&self, b: &mut Budget, rows: usize, octets: usize) {
        b.add(rows, octets);
        if let Some(shared) = self.shared_octets {
            let total = shared
                .fetch_add(octets, Ordering::Relaxed)
                .saturating_add(octets);
            b.batch_octets = b.batch_octets.max(total);
        }
    }

    /// Checks an enumeration's budgets after a batch: rows, octets and time since it
    /// started. A server past one "kept sending data past the limit"
    /// ([`winv_kb::WINV_E_LIMIT_EXCEEDED`]); which limit is logged.
    fn check_cap(&self, b: &Budget) -> Result<(), ClientError> {
        match b.over(self.opts, b.started.elapsed()) {
            Some(limit) => {
                debug!(
                    rows = b.rows,
                    bytes = b.octets_counted(),
                    %limit,
                    "enumeration stopped: the host kept sending data past the limit"
                );
                Err(ClientError::new(
                    Stage::Enumerate,
                    Cause::Hresult(winv_kb::WINV_E_LIMIT_EXCEEDED),
                ))
            }
            None => Ok(()),
        }
    }

    async fn next_smart(
        &mut self,
        smart: Uuid,
        keep: &mut (dyn FnMut(Object) -> usize + Send),
    ) -> Result<(), ClientError> {
        let st = Stage::Enumerate;
        let proxy = fresh_uuid();
        let mut cache = ClassCache::with_memo(256, self.opts.class_memo.clone());
        let mut budget = Budget::new();
        let mut progress = Instant::now();
        loop {
            let request = SmartEnumNextRequest {
                this: orpc_this(),
                proxy_guid: proxy,
                timeout: self.timeout_ms(),
                count: self.opts.batch_size.max(1),
            }
            .encode();
            let opnum = winv_wmi::enumerator::opnums::SMART_NEXT;
            let resp: SmartEnumNextResponse = self
                .wmi_call(st, IWBEMWCOSMARTENUM, opnum, smart, request)
                .await?;
            let mut got = 0;
            if let Some(buf) = resp.buffer.as_deref().filter(|b| !b.is_empty()) {
                let arr = decode_object_array(buf, &mut cache)
                    .map_err(|e| ClientError::decode_at(st, e))?;
                got = arr.objects.len();
                let held = arr.objects.into_iter().map(&mut *keep).sum();
                self.count(&mut budget, got, held);
            }
            if self.after_next(&budget, got, resp.hresult, &mut progress)? {
                return Ok(());
            }
            if got == 0 {
                budget.back_off().await;
            }
        }
    }

    /// After a `Next` answer of `got` objects with `hresult`: whether the enumeration is
    /// over; if not, its budgets checked, and after an empty answer its stall deadline
    /// (the caller then pauses, [`Budget::back_off`], before the next `Next`).
    fn after_next(
        &self,
        budget: &Budget,
        got: usize,
        hresult: winv_wmi::Hresult,
        progress: &mut Instant,
    ) -> Result<bool, ClientError> {
        if got > 0 {
            *progress = Instant::now();
        }
        if matches!(hresult, WBEM_S_FALSE | WBEM_S_NO_MORE_DATA) {
            return Ok(true);
        }
        self.check_cap(budget)?;
        if got == 0 {
            self.stalled(*progress)?;
        }
        Ok(false)
    }

    async fn next_plain(
        &mut self,
        enum_ipid: Uuid,
        keep: &mut (dyn FnMut(Object) -> usize + Send),
    ) -> Result<(), ClientError> {
        let st = Stage::Enumerate;
        let mut budget = Budget::new();
        let mut progress = Instant::now();
        loop {
            let request = EnumNextRequest {
                this: orpc_this(),
                timeout: self.timeout_ms(),
                count: self.opts.batch_size.max(1),
            }
            .encode();
            let opnum = EnumNextRequest::OPNUM;
            let resp: EnumNextResponse = self
                .wmi_call(st, IENUMWBEMCLASSOBJECT, opnum, enum_ipid, request)
                .await?;
            let mut got = 0;
            let mut held = 0;
            for p in resp.objects.iter().flatten() {
                let o = decode_class_object(p, st, Some(&self.opts.class_memo))?;
                held += keep(o);
                got += 1;
            }
            self.count(&mut budget, got, held);
            if self.after_next(&budget, got, resp.hresult, &mut progress)? {
                return Ok(());
            }
            if got == 0 {
                budget.back_off().await;
            }
        }
    }
}

/// What one enumeration has received: rows, octets held, time since it started.
pub(crate) struct Budget {
    rows: usize,
    /// The octets this enumeration's objects hold.
    octets: usize,
    /// With queries made at once, the octets the batch's queries held together when this
    /// one last counted (0 alone).
    batch_octets: usize,
    started: Instant,
    /// Consecutive answers without an object.
    empty: u32,
}

impl Budget {
    /// The first pause after an empty answer; it doubles up to [`Budget::MAX_PAUSE`].
    const FIRST_PAUSE: Duration = Duration::from_millis(20);
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    fn new() -> Self {
        Budget {
            rows: 0,
            octets: 0,
            batch_octets: 0,
            started: Instant::now(),
            empty: 0,
        }
    }

    /// Which budget of `opts` this enumeration has passed after `elapsed`, if any.
    fn over(&self, opts: &WmiOptions, elapsed: Duration) -> Option<String> {
        if self.rows > opts.max_results {
            Some(format!("more than {} results", opts.max_results))
        } else if self.octets_counted() > opts.max_result_bytes {
            Some(format!(
                "more than {} octets of results",
                opts.max_result_bytes
            ))
        } else if elapsed >= opts.max_query_time {
            Some(format!(
                "enumeration still running after {:.0} s",
                opts.max_query_time.as_secs_f64()
            ))
        } else {
            None
        }
    }

    fn add(&mut self, rows: usize, octets: usize) {
        self.rows = self.rows.saturating_add(rows);
        self.octets = self.octets.saturating_add(octets);
        if rows > 0 {
            self.empty = 0;
        }
    }

    /// The octets counted against [`WmiOptions::max_result_bytes`]: this enumeration's,
    /// or with queries made at once the batch's together.
    fn octets_counted(&self) -> usize {
        self.octets.max(self.batch_octets)
    }

    /// The pause before asking again after the `n`-th empty answer in a row.
    fn pause(n: u32) -> Duration {
        Self::FIRST_PAUSE
            .saturating_mul(1 << n.saturating_sub(1).min(10))
            .min(Self::MAX_PAUSE)
    }

    /// Waits before the next `Next` after an answer without objects: a server that
    /// answers at once with nothing and S_OK is not polled in a busy loop. (Windows waits
    /// `lTimeout` before answering WBEM_S_TIMEDOUT, so the pause costs it nothing.)
    async fn back_off(&mut self) {
        self.empty = self.empty.saturating_add(1);
        tokio::time::sleep(Self::pause(self.empty)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn enumeration_budgets_rows_octets_time() {
        let opts = WmiOptions {
            max_results: 10,
            max_result_bytes: 1000,
            max_query_time: Duration::from_secs(5),
            ..WmiOptions::default()
        };
        let mut b = Budget::new();
        b.add(10, 1000);
        assert_eq!(b.over(&opts, Duration::from_secs(4)), None, "at the limits");
        b.add(1, 0);
        assert!(b
            .over(&opts, Duration::ZERO)
            .unwrap()
            .contains("10 results"));
        let mut b = Budget::new();
        b.add(1, 1001);
        assert!(b
            .over(&opts, Duration::ZERO)
            .unwrap()
            .contains("1000 octets"));
        let b = Budget::new();
        assert!(b
            .over(&opts, Duration::from_secs(5))
            .unwrap()
            .contains("after 5 s"));
        // Queries made at once count the batch's octets together.
        let mut b = Budget::new();
        b.add(1, 400);
        b.batch_octets = 1001;
        assert!(b
            .over(&opts, Duration::ZERO)
            .unwrap()
            .contains("1000 octets"));
        // The defaults: finite, and below what the issue measured (1.9 GB for 1 M rows).
        let d = WmiOptions::default();
        assert!(d.max_result_bytes <= 32 << 20);
        assert!(d.max_results <= 250_000);
        assert!(d.max_query_time <= Duration::from_secs(600));
        assert!(d.release_deadline < d.deadlines.call);
    }

    #[test]
    fn empty_answers_back_off_doubling_to_a_second() {
        assert_eq!(Budget::pause(1), Duration::from_millis(20));
        assert_eq!(Budget::pause(2), Duration::from_millis(40));
        assert_eq!(Budget::pause(3), Duration::from_millis(80));
        assert_eq!(Budget::pause(7), Duration::from_secs(1));
        assert_eq!(Budget::pause(u32::MAX), Duration::from_secs(1));
        // In the 60 s of a call deadline at most about 65 calls, not a busy loop.
        let mut spent = Duration::ZERO;
        let mut n = 0;
        while spent < Duration::from_secs(60) {
            n += 1;
            spent += Budget::pause(n);
        }
        assert!(n < 70, "{n} calls in 60 s");
        // An object resets the back-off.
        let mut b = Budget::new();
        b.empty = 5;
        b.add(1, 10);
        assert_eq!(b.empty, 0);
    }
}
