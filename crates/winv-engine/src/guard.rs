//! The lockout guard: a scan must never lock out the accounts it is given.
//!
//! Active Directory locks a domain account after `lockoutThreshold` bad passwords in a row
//! (a successful logon resets the count). A credential list whose first domain account has
//! a wrong password would otherwise be tried, and refused, on every computer of the run.
//! The guard, shared by every computer of a run, is a pure bookkeeper (no I/O, no clock):
//!
//! - a domain account refused as a wrong password or an unknown user ([`Verdict::of`]) on
//!   [`AccountGuard::limit`] connects ([`LOCKOUT_GUARD`] by default) before any computer
//!   accepted it is **retired** for the rest of the run: no computer tries it again;
//! - an account not proven in this run (no computer accepted its logon yet) is in flight
//!   on at most `limit - refusals` computers at once, so that 256 parallel attempts cannot
//!   spend the threshold together: the others wait ([`Admit::Wait`]);
//! - an account once accepted has a right password: a later refusal comes from a computer
//!   where it does not apply (another domain, a workgroup), which its domain controller
//!   never sees, so it is neither counted nor capped (else the first account of a
//!   two-domain list would be retired by the other domain's computers);
//! - a local account (`.\user`, or `HOST\user` on the computer `HOST`) belongs to each
//!   computer's own account database: it is never capped nor retired by another
//!   computer's refusal;
//! - a limit of 0 turns the guard off.
//!
//! The guard sees one process. When several scanners share a run, each also asks the
//! run's ledger ([`crate::work::AccountLedger`], kept in the database) before an unproven
//! account's connect and tells it the verdict, so the limit holds across them all: the
//! engine then [`AccountGuard::release`]s a place the ledger refused and
//! [`AccountGuard::prove`]s an account another scanner saw accepted.
//!
//! Per account it keeps what the summary and `status` show: the computers it was tried on,
//! accepted by and refused by, and whether (and after how many refusals) it was retired.

use std::collections::HashSet;

use winv_client::Account;

use crate::record::{DeniedBy, Failure, FailureStage};

/// Refusals of one domain account (since its last accepted logon) that retire it. Below
/// the usual domain lockout thresholds (5 to 10 in Microsoft's baselines; some domains
/// use 3, so a refusal from elsewhere during the scan still leaves a margin of none).
pub const LOCKOUT_GUARD: u32 = 3;

/// Kerberos codes that mean the account itself was refused ([RFC 4120] 7.5.9): the client
/// unknown (6), revoked: disabled or locked (18), its password expired (23), and the
/// pre-authentication with the password failed (24): the one that counts toward lockout.
const KDC_ACCOUNT_REFUSALS: [u32; 4] = [6, 18, 23, 24];

/// What a connect said about the account it used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The logon was accepted (even if DCOM or WMI refused afterwards).
    Accepted,
    /// The logon was refused: a wrong password, an unknown, disabled or expired account.
    Refused,
    /// Nothing was learnt about the account (the network, the server, the run stopped).
    Unknown,
}

impl Verdict {
    /// The verdict of a connect that failed with `f`.
    pub fn of(f: &Failure) -> Verdict {
        match f.denied_by {
            Some(DeniedBy::Authentication) => match f.stage {
                // A KDC answer: only the account's own refusals count; an unknown SPN
                // or an unsupported etype says nothing of the password.
                FailureStage::Kdc => match f.code {
                    Some(c) if KDC_ACCOUNT_REFUSALS.contains(&c) => Verdict::Refused,
                    _ => Verdict::Unknown,
                },
                // A keytab or ticket file of ours: no host saw the account.
                FailureStage::Credentials => Verdict::Unknown,
                // A reply that failed verification (tampered, unsigned): the server's
                // answer, not the account, is in question.
                _ if f.message.contains(winv_client::error::UNVERIFIED) => Verdict::Unknown,
                // The host's Kerberos acceptor refused a ticket the KDC issued: the
                // password was proven to the KDC.
                _ if f.message.contains(winv_client::error::ACCEPTOR_REFUSED) => Verdict::Unknown,
                _ => Verdict::Refused,
            },
            // DCOM or WMI refused an authenticated user: the password is right.
            Some(DeniedBy::Dcom | DeniedBy::WmiNamespace | DeniedBy::Registry) => Verdict::Accepted,
            None => Verdict::Unknown,
        }
    }
}

/// May a connect with the account start now?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Yes; hand the pass back to [`AccountGuard::report`].
    Go(Pass),
    /// Not yet: as many unproven connects are in flight as the guard allows. Ask again
    /// when another connect has reported.
    Wait,
    /// Never: the account is retired for this run.
    Retired,
}

/// A started connect, as the guard counted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    /// It took one of the unproven account's in-flight places.
    counted: bool,
}

impl Pass {
    /// Whether the connect took one of an unproven account's places (the run's ledger,
    /// when several scanners share the run, must then admit it too).
    pub fn counted(&self) -> bool {
        self.counted
    }
}

/// What the guard knows of one account.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    account: Account,
    /// Refused before any computer accepted it.
    refusals: u32,
    /// A computer accepted its logon in this run.
    proven: bool,
    /// Unproven connects in flight.
    in_flight: u32,
    retired: Option<u32>,
    tried: HashSet<String>,
    accepted: HashSet<String>,
    refused: HashSet<String>,
}

/// One account's counts, for the summary and the database.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccountStats {
    /// The account as written.
    pub account: String,
    /// Computers a connect with it started on.
    pub tried: u64,
    /// Computers that accepted its logon.
    pub accepted: u64,
    /// Computers that refused it (wrong password, unknown account).
    pub refused: u64,
    /// Retired by the guard, after this many refusals (before any acceptance).
    pub retired_after: Option<u32>,
}

/// An account just retired: said loudly by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retirement {
    /// The account as written.
    pub account: String,
    /// The refusals that retired it.
    pub refusals: u32,
}

/// The guard of one run; see the module documentation.
#[derive(Clone, Debug)]
pub struct AccountGuard {
    limit: u32,
    entries: Vec<Entry>,
}

impl AccountGuard {
    /// A guard over the credential list's `accounts` (in order) retiring a domain account
    /// after `limit` refusals before any acceptance (0: off).
    pub fn new(accounts: &[String], limit: u32) -> AccountGuard {
        AccountGuard {
            limit,
            entries: accounts
                .iter()
                .map(|a| Entry {
                    name: a.clone(),
                    account: Account::parse(a),
                    refusals: 0,
                    proven: false,
                    in_flight: 0,
                    retired: None,
                    tried: HashSet::new(),
                    accepted: HashSet::new(),
                    refused: HashSet::new(),
                })
                .collect(),
        }
    }

    /// The refusals that retire an account (0: the guard is off).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Retires `account` as an earlier part of the run did (a resumed run keeps it).
    pub fn retire(&mut self, account: &str, refusals: u32) {
        for e in self.entries.iter_mut().filter(|e| e.name == account) {
            e.retired = Some(refusals);
        }
    }

    fn guarded(&self, e: &Entry, target: &str) -> bool {
        self.limit > 0 && !e.account.is_local_to(target)
    }

    /// Whether a connect to `target` with credential `index` may start.
    pub fn admit(&mut self, index: usize, target: &str) -> Admit {
        let Some(e) = self.entries.get(index) else {
            return Admit::Retired;
        };
        if !self.guarded(e, target) {
            self.mark_tried(index, target);
            return Admit::Go(Pass { counted: false });
        }
        if e.retired.is_some() {
            return Admit::Retired;
        }
        let counted = !e.proven;
        if counted && e.in_flight.saturating_add(e.refusals) >= self.limit {
            return Admit::Wait;
        }
        self.mark_tried(index, target);
        if let Some(e) = self.entries.get_mut(index) {
            if counted {
                e.in_flight += 1;
            }
        }
        Admit::Go(Pass { counted })
    }

    fn mark_tried(&mut self, index: usize, target: &str) {
        if let Some(e) = self.entries.get_mut(index) {
            if !e.tried.contains(target) {
                e.tried.insert(target.to_string());
            }
        }
    }

    /// How the connect admitted with `pass` went. Returns the retirement it caused, once.
    pub fn report(
        &mut self,
        index: usize,
        target: &str,
        pass: Pass,
        verdict: Verdict,
    ) -> Option<Retirement> {
        let limit = self.limit;
        let guarded = self
            .entries
            .get(index)
            .is_some_and(|e| self.guarded(e, target));
        let e = self.entries.get_mut(index)?;
        if pass.counted {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
        match verdict {
            Verdict::Unknown => None,
            Verdict::Accepted => {
                e.accepted.insert(target.to_string());
                if guarded {
                    e.proven = true;
                }
                None
            }
            Verdict::Refused => {
                e.refused.insert(target.to_string());
                if !guarded || e.proven {
                    return None;
                }
                e.refusals = e.refusals.saturating_add(1);
                if e.retired.is_none() && e.refusals >= limit {
                    e.retired = Some(e.refusals);
                    return Some(Retirement {
                        account: e.name.clone(),
                        refusals: e.refusals,
                    });
                }
                None
            }
        }
    }

    /// Gives back the place `pass` took without a verdict: the connect did not start
    /// (the run's ledger said wait, or retired the account). Returns an uncounted pass.
    pub fn release(&mut self, index: usize, pass: Pass) -> Pass {
        if pass.counted {
            if let Some(e) = self.entries.get_mut(index) {
                e.in_flight = e.in_flight.saturating_sub(1);
            }
        }
        Pass { counted: false }
    }

    /// Marks credential `index` accepted elsewhere in the run (another scanner's
    /// computer): it is neither counted nor capped any more here.
    pub fn prove(&mut self, index: usize) {
        if let Some(e) = self.entries.get_mut(index) {
            e.proven = true;
        }
    }

    /// The account of credential `index`, as written.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.entries.get(index).map(|e| e.name.as_str())
    }

    /// Whether credential `index` is retired.
    pub fn is_retired(&self, index: usize) -> bool {
        self.entries.get(index).is_some_and(|e| e.retired.is_some())
    }

    /// The counts of every account, in the list's order.
    pub fn stats(&self) -> Vec<AccountStats> {
        let n = |s: &HashSet<String>| u64::try_from(s.len()).unwrap_or(u64::MAX);
        self.entries
            .iter()
            .map(|e| AccountStats {
                account: e.name.clone(),
                tried: n(&e.tried),
                accepted: n(&e.accepted),
                refused: n(&e.refused),
                retired_after: e.retired,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
