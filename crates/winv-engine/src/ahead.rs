//! Class queries collected at once. When the policy asks for a plain class query, the
//! plain queries that follow it in the attempt's order, in the same namespace, are run
//! with it over the session's connections ([`WmiClient::query_each_many_in`]); their
//! outcomes wait here until the policy asks for each, in its order.
//!
//! The policy ([`crate::policy`]) does not change: it still sees one item at a time, in
//! its order, and decides after each what comes next. An outcome it never asks for (a
//! retry-class error ended the attempt, a timeout replaced the connection) is dropped with
//! the octets it held, as if it had never been collected; the next attempt or connection
//! asks again. What changes is only when the host is asked: up to
//! [`QUERIES_PER_CONNECTION`] queries per connection before the first answer is judged.
//! Batches start only once the connection has answered a query whole (the engine's
//! rule): a host that breaks every query, or floods it, does so on one connection at a
//! time, as before, and its first error is met alone.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use winv_client::{ClientError, Rows, WmiClient};

use crate::policy::Now;
use crate::profile::{namespace_pattern, Item};
use crate::record::Instance;

/// Queries run at once per connection of the session, at most: the batch is
/// `connections × QUERIES_PER_CONNECTION` items. A few per connection keep every
/// connection busy while the slowest query of a batch ends; more would only put more
/// work at risk of being dropped when an early answer ends the attempt.
pub const QUERIES_PER_CONNECTION: usize = 3;

/// A plain class query: its namespace, when `item` can be collected with others (a
/// namespace pattern needs a listing first, and registry items have their own batches).
fn plain_query(item: &Item) -> Option<&str> {
    match item {
        Item::Wmi { namespace, .. } if namespace_pattern(namespace).is_none() => {
            Some(namespace.as_str())
        }
        _ => None,
    }
}

/// The items to collect at once with `first`: `first`, then the `upcoming` ones while
/// each is a plain class query in `first`'s namespace, `max` in all. Just `first` when it
/// is not a plain query itself or `max` is 1.
pub fn batch_of<'a>(
    first: &'a Item,
    upcoming: impl Iterator<Item = &'a Item>,
    max: usize,
) -> Vec<&'a Item> {
    let mut batch = vec![first];
    let Some(ns) = plain_query(first) else {
        return batch;
    };
    batch.extend(
        upcoming
            .take_while(|i| plain_query(i).is_some_and(|n| n.eq_ignore_ascii_case(ns)))
            .take(max.saturating_sub(1)),
    );
    batch
}

/// How a query of a batch ended.
#[derive(Debug)]
pub enum Ended {
    /// It returned: its rows as JSON, or its error.
    Returned(Result<Vec<Instance>, ClientError>),
    /// It was still running when the batch was cut: the policy meets the cut there, as it
    /// would have met it collecting the items one after another.
    Cut(Cut),
}

/// What cut a batch short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The scan is stopping.
    Stopped,
    /// The watchdog saw no progress.
    Watchdog,
    /// The attempt's time budget ran out.
    OutOfTime,
}

/// The outcome of an item collected ahead of the policy's asking: how it ended, when the
/// policy could have known it (the latest end of the batch's queries up to this one),
/// and the octets its rows hold of the computer's share.
#[derive(Debug)]
pub struct Early {
    /// The item's name ([`Item::name`]).
    pub name: String,
    /// How it ended.
    pub ended: Ended,
    /// When: the instant the policy is fed with it.
    pub at: Now,
    /// Octets the rows hold: counted in the computer's share when the policy takes them
    /// (nothing else is collected while outcomes wait).
    pub octets: usize,
}

/// Outcomes collected ahead, in the order the policy will ask for them.
#[derive(Debug, Default)]
pub struct Ahead {
    waiting: VecDeque<Early>,
}

impl Ahead {
    /// The outcome of `name` when it is the next one waiting. Anything else waiting is
    /// dropped (the policy went another way).
    pub fn take(&mut self, name: &str) -> Option<Early> {
        match self.waiting.front() {
            Some(e) if e.name == name => self.waiting.pop_front(),
            Some(_) => {
                self.discard();
                None
            }
            None => None,
        }
    }

    /// Adds outcomes after those waiting.
    pub fn push(&mut self, early: Early) {
        self.waiting.push_back(early);
    }

    /// Drops everything waiting (the connection is replaced or the attempt ends).
    pub fn discard(&mut self) {
        self.waiting.clear();
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// One query's share of a batch while it runs: its rows so far, their octets, its end
/// and when.
#[derive(Default)]
struct Slot {
    rows: Vec<Instance>,
    octets: usize,
    end: Option<(Result<(), ClientError>, Now)>,
}

/// Where a batch's queries put what they collect, outside the batch's future: when the
/// watchdog, the attempt's deadline or a stop ends the batch, the queries that had ended
/// keep their outcomes.
pub struct Slots {
    slots: Mutex<Vec<Slot>>,
    /// Signalled when a query ends.
    changed: tokio::sync::Notify,
}

/// Where the policy is in a running batch: the query it waits for and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The first query of the batch that has not ended (the batch's length when all have).
    pub at: usize,
    /// When the queries before it had all ended (`None`: it is the first).
    pub since: Option<Instant>,
}

impl Slots {
    /// Slots for `n` queries.
    pub fn new(n: usize) -> Slots {
        Slots {
            slots: Mutex::new((0..n).map(|_| Slot::default()).collect()),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The query the policy waits for: as collecting one after another would be at it,
    /// the step shown for the computer and the one the watchdog times from when the
    /// queries before it ended.
    pub fn waiting(&self) -> Waiting {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut since: Option<Instant> = None;
        for (at, s) in slots.iter().enumerate() {
            let Some((_, end)) = &s.end else {
                return Waiting { at, since };
            };
            since = Some(since.map_or(end.mono, |k| k.max(end.mono)));
        }
        Waiting {
            at: slots.len(),
            since,
        }
    }

    /// Resolves when a query has ended since the last call (or since the start).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The outcomes of `batch`'s queries that ended, from the first, stopping at the
    /// first that did not, which gets `cut` (the batch was cut short) when there is one.
    /// Each is fed to the policy at the instant all those before it had ended too.
    pub fn ended(self, batch: &[&Item], cut: Option<(Cut, Now)>) -> Vec<Early> {
        let slots = self.slots.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut known: Option<Now> = None;
        for (s, item) in slots.into_iter().zip(batch) {
            let name = item.name();
            let Some((end, at)) = s.end else {
                if let Some((cut, at)) = cut {
                    let at = known.map_or(at, |k| later(k, at));
                    out.push(Early {
                        name,
                        ended: Ended::Cut(cut),
                        at,
                        octets: 0,
                    });
                }
                break;
            };
            let at = known.map_or(at, |k| later(k, at));
            known = Some(at);
            let ended = Ended::Returned(end.map(|()| s.rows));
            out.push(Early {
                name,
                ended,
                at,
                octets: s.octets,
            });
        }
        out
    }

    fn keep(&self, i: usize, row: Instance, octets: usize) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slots.get_mut(i) {
            s.rows.push(row);
            s.octets += octets;
        }
    }

    fn end(&self, i: usize, r: Result<(), ClientError>, at: Now) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slots.get_mut(i) {
            s.end = Some((r, at));
        }
        drop(slots);
        // INVARIANT: `notify_one` keeps a permit when no one waits, so an end between two
        // looks of the step reporter is not missed.
        self.changed.notify_one();
    }
}

/// The later of two instants.
fn later(a: Now, b: Now) -> Now {
    if b.mono >= a.mono {
        b
    } else {
        a
    }
}

/// Runs the plain class queries of `batch` (from [`batch_of`]) at once, each instance
/// kept as JSON in `slots` as its batch arrives (the octets counted as
/// [`crate::engine`]'s single queries count them).
pub async fn collect_batch(client: &mut WmiClient, batch: &[&Item], slots: &Slots) {
    let Some(ns) = batch.first().and_then(|i| plain_query(i)) else {
        return;
    };
    let queries: Vec<(&str, Rows)> = batch
        .iter()
        .map(|i| match i {
            Item::Wmi { wql, .. } => (wql.as_str(), i.rows()),
            _ => ("", Rows::Many),
        })
        .collect();
    let mut keeps: Vec<_> = (0..batch.len())
        .map(|i| {
            move |o: winv_wmio::Object| match crate::engine::kept(&o) {
                Some((row, n)) => {
                    slots.keep(i, row, n);
                    n
                }
                None => 0,
            }
        })
        .collect();
    let finished = |i: usize, r: Result<(), ClientError>| slots.end(i, r, crate::engine::now());
    client
        .query_each_many_in(ns, &queries, &mut keeps, &finished)
        .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::profile::RegistryTable;

    fn wmi(class: &str, ns: &str) -> Item {
        Item::Wmi {
            class: class.into(),
            namespace: ns.into(),
            wql: format!("SELECT * FROM {class}"),
            optional: false,
            few_rows: false,
        }
    }

    fn names(b: &[&Item]) -> Vec<String> {
        b.iter().map(|i| i.name()).collect()
    }

    #[test]
    fn a_batch_is_the_plain_queries_that_follow_in_one_namespace() {
        let cimv2 = r"root\cimv2";
        let items = [
            wmi("A", cimv2),
            wmi("B", r"ROOT\CIMV2"),
            wmi("C", cimv2),
            wmi("D", r"root\virtualization\v2"),
            wmi("E", cimv2),
        ];
        let b = batch_of(&items[0], items[1..].iter(), 8);
        assert_eq!(
            names(&b),
            ["A", "B", "C"],
            "the namespace compared as Windows does"
        );
        let b = batch_of(&items[0], items[1..].iter(), 2);
        assert_eq!(names(&b), ["A", "B"], "at most max");
        let b = batch_of(&items[0], items[1..].iter(), 1);
        assert_eq!(names(&b), ["A"]);
        let b = batch_of(&items[0], items[1..].iter(), 0);
        assert_eq!(names(&b), ["A"], "the item asked for is always collected");
        let b = batch_of(&items[3], items[4..].iter(), 8);
        assert_eq!(names(&b), ["D"], "another namespace stops the batch");
    }

    #[test]
    fn patterns_and_registry_items_are_collected_alone_and_stop_a_batch() {
        let cimv2 = r"root\cimv2";
        let pattern = wmi(
            "SqlService",
            r"root\Microsoft\SqlServer\ComputerManagement*",
        );
        let reg = Item::RegistryValue {
            name: "os-edition".into(),
            key: "K".into(),
            value: "V".into(),
        };
        let table = Item::RegistryTable(RegistryTable {
            name: "t".into(),
            list: "L".into(),
            detail: "D".into(),
            values: Vec::new(),
            optional: false,
        });
        let after = [wmi("B", cimv2)];
        for alone in [&pattern, &reg, &Item::Software, &table] {
            assert_eq!(
                batch_of(alone, after.iter(), 8).len(),
                1,
                "{}",
                alone.name()
            );
        }
        let items = [wmi("A", cimv2), reg.clone(), wmi("C", cimv2)];
        assert_eq!(names(&batch_of(&items[0], items[1..].iter(), 8)), ["A"]);
        let items = [wmi("A", cimv2), pattern.clone(), wmi("C", cimv2)];
        assert_eq!(names(&batch_of(&items[0], items[1..].iter(), 8)), ["A"]);
    }

    fn at(ms: u64) -> Now {
        Now {
            mono: BASE.with(|b| *b) + std::time::Duration::from_millis(ms),
            wall_ms: ms as i64,
        }
    }

    thread_local! {
        static BASE: std::time::Instant = std::time::Instant::now();
    }

    fn early(name: &str, octets: usize) -> Early {
        Early {
            name: name.into(),
            ended: Ended::Returned(Ok(vec![serde_json::json!({ "Name": name }).into()])),
            at: at(0),
            octets,
        }
    }

    #[test]
    fn outcomes_wait_in_order_and_a_different_ask_drops_them() {
        let mut a = Ahead::default();
        assert!(a.is_empty());
        a.push(early("B", 10));
        a.push(early("C", 20));
        a.push(early("D", 40));
        let b = a.take("B").unwrap();
        assert_eq!((b.name.as_str(), b.octets), ("B", 10));
        // The policy asks for something else (D before C cannot happen in its order):
        // all that waits is dropped, and C is collected again when asked for.
        assert!(a.take("D").is_none());
        assert!(a.is_empty());
        assert!(a.take("C").is_none(), "nothing waits");
        a.push(early("E", 5));
        a.discard();
        assert!(a.is_empty());
    }

    fn returned(e: &Early) -> &Result<Vec<Instance>, ClientError> {
        match &e.ended {
            Ended::Returned(r) => r,
            Ended::Cut(c) => panic!("{}: cut {c:?}", e.name),
        }
    }

    /// A batch cut by the attempt's budget: the queries that ended before the first that
    /// did not keep their rows, that one meets the cut (the policy records it as still
    /// running), and what comes after it is dropped, as if never started. Each is fed at
    /// the instant every query before it had ended.
    #[test]
    fn a_cut_batch_keeps_what_ended_before_the_query_still_running() {
        let cimv2 = r"root\cimv2";
        let items = [
            wmi("A", cimv2),
            wmi("B", cimv2),
            wmi("C", cimv2),
            wmi("D", cimv2),
        ];
        let batch: Vec<&Item> = items.iter().collect();
        let s = Slots::new(4);
        s.keep(0, serde_json::json!(1).into(), 3);
        s.keep(0, serde_json::json!(2).into(), 4);
        s.end(
            1,
            Err(ClientError::new(
                winv_client::Stage::Query,
                winv_client::Cause::Hresult(0x8004_1010),
            )),
            at(10),
        );
        s.end(0, Ok(()), at(30));
        // C was still running; D had ended but comes after it.
        s.keep(2, serde_json::json!(3).into(), 5);
        s.end(3, Ok(()), at(20));
        s.keep(9, serde_json::json!(4).into(), 1);
        let ended = s.ended(&batch, Some((Cut::OutOfTime, at(40))));
        assert_eq!(ended.len(), 3);
        assert_eq!(returned(&ended[0]).as_ref().unwrap().len(), 2);
        assert_eq!((ended[0].octets, ended[0].at), (7, at(30)));
        assert!(returned(&ended[1]).is_err());
        assert_eq!(
            ended[1].at,
            at(30),
            "B is known when A, before it, had ended"
        );
        assert_eq!(ended[2].name, "C");
        assert!(matches!(ended[2].ended, Ended::Cut(Cut::OutOfTime)));
        assert_eq!((ended[2].at, ended[2].octets), (at(40), 0));

        // Not cut: everything ended.
        let s = Slots::new(2);
        s.end(0, Ok(()), at(5));
        s.end(1, Ok(()), at(1));
        let ended = s.ended(&batch[..2], None);
        assert_eq!(ended.len(), 2);
        assert_eq!(ended[1].at, at(5));
    }

    /// The step shown and the watchdog follow the first query that has not ended, from
    /// the instant all before it had; an end out of order moves neither.
    #[test]
    fn the_query_waited_for_is_the_first_not_ended() {
        let s = Slots::new(3);
        assert_eq!(s.waiting(), Waiting { at: 0, since: None });
        s.end(1, Ok(()), at(50));
        assert_eq!(
            s.waiting(),
            Waiting { at: 0, since: None },
            "B ended before A"
        );
        s.end(0, Ok(()), at(20));
        assert_eq!(
            s.waiting(),
            Waiting {
                at: 2,
                since: Some(at(50).mono)
            }
        );
        s.end(2, Ok(()), at(60));
        assert_eq!(
            s.waiting(),
            Waiting {
                at: 3,
                since: Some(at(60).mono)
            }
        );
        // Each end leaves a signal for the reporter, even with no one waiting.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), s.changed())
                .await
                .unwrap();
        });
    }
}
