//! Kerberos ([MS-KILE]) and negotiate as [`Mechanism`]s of the one connection flow.
//!
//! * [`Kerberos`]: one account's tickets ([`winv_krb::Kerberos`], shared in an `Arc` by
//!   every computer of a scan: the TGT once per realm and account, a service ticket once
//!   per SPN). Before each bind the flow awaits [`Mechanism::prepare`], which gets the
//!   service ticket of the bind's SPN; [`Mechanism::context`] then builds the DCE-style
//!   three-leg context from the cached ticket. The SPN is the principal of the OXID
//!   security bindings when the server listed one (`service/host` form), else
//!   `host/<fqdn>` of the host as given (a short name gets the realm as its DNS suffix),
//!   unless overridden. An address-only target is refused with a clear error.
//! * [`Negotiate`]: Kerberos first; NTLM when the target is an address, or when the KDC
//!   says the service principal (the computer has no SPN: not in the domain) or the
//!   client principal is unknown. The choice is per host, and [`Mechanism::used_for`]
//!   says which one was used, for the record.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use winv_auth::kerberos::{codes, exchange as ex, KerberosClient, KerberosMech, KrbError};
use winv_auth::SecurityContext;
use winv_krb::KrbClientError;

use crate::error::{Cause, ClientError};
use crate::security::{BindTarget, Mechanism, Ntlm};

/// `RPC_C_AUTHN_GSS_NEGOTIATE` ([MS-RPCE] 2.2.1.1.7): SPNEGO.
pub const RPC_C_AUTHN_GSS_NEGOTIATE: u16 = 9;
/// `RPC_C_AUTHN_GSS_KERBEROS` ([MS-RPCE] 2.2.1.1.7): raw Kerberos.
pub const RPC_C_AUTHN_GSS_KERBEROS: u16 = 16;

/// A boxed future of [`Mechanism::prepare`].
pub type Prepare<'a> = Pin<Box<dyn Future<Output = Result<(), ClientError>> + Send + 'a>>;

/// Kerberos as one account.
#[derive(Clone, Debug)]
pub struct Kerberos {
    tickets: Arc<winv_krb::Kerberos>,
    spn: Option<String>,
    mech: KerberosMech,
}

impl Kerberos {
    /// Kerberos with `tickets` (shared by every computer of the scan), SPNEGO (auth type
    /// 9, what Windows' own WMI clients send), and `spn` overriding the computed SPN.
    pub fn new(tickets: Arc<winv_krb::Kerberos>, spn: Option<String>) -> Kerberos {
        Kerberos {
            tickets,
            spn,
            mech: KerberosMech::Spnego,
        }
    }

    /// Raw Kerberos (auth type 16) instead of SPNEGO.
    pub fn raw(mut self) -> Kerberos {
        self.mech = KerberosMech::Raw;
        self
    }

    /// The shared ticket source (its counters feed the benchmark).
    pub fn tickets(&self) -> &Arc<winv_krb::Kerberos> {
        &self.tickets
    }

    /// The SPN of a bind: the override, else the server's principal when it is an SPN,
    /// else `host/<fqdn>` of the host as given.
    pub fn spn_for(&self, target: &BindTarget<'_>) -> Result<String, KrbError> {
        if let Some(s) = &self.spn {
            return ex::spn_for(target.host, Some(s));
        }
        if let Some(p) = target.principal.filter(|p| p.contains('/') && !p.contains(' ')) {
            return Ok(p.trim_end_matches('\0').to_owned());
        }
        let host = target.host.trim().trim_end_matches('.');
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_err() && !host.is_empty() && !host.contains('.') {
            // A short name: the realm is the DNS suffix of the domain's computers.
            let realm = self.tickets.client().realm.to_ascii_lowercase();
            return ex::spn_for(&format!("{host}.{realm}"), None);
        }
        ex::spn_for(host, None)
    }
}

/// A Kerberos failure at the bind's stage.
pub fn kerberos_error(target: &BindTarget<'_>, e: KrbClientError) -> ClientError {
    ClientError::new(target.stage, Cause::Kerberos(e))
}

impl Mechanism for Kerberos {
    fn name(&self) -> &'static str {
        "kerberos"
    }

    fn authn_service(&self) -> u16 {
        match self.mech {
            KerberosMech::Spnego => RPC_C_AUTHN_GSS_NEGOTIATE,
            KerberosMech::Raw => RPC_C_AUTHN_GSS_KERBEROS,
        }
    }

    fn account(&self) -> String {
        self.tickets.client().to_string()
    }

    fn prepare<'a>(&'a self, target: BindTarget<'a>) -> Prepare<'a> {
        Box::pin(async move {
            let spn = self
                .spn_for(&target)
                .map_err(|e| kerberos_error(&target, e.into()))?;
            self.tickets
                .service_ticket(&spn)
                .await
                .map(|_| ())
                .map_err(|e| kerberos_error(&target, e))
        })
    }

    fn context(&self, target: &BindTarget<'_>) -> Result<Box<dyn SecurityContext>, ClientError> {
        let spn = self
            .spn_for(target)
            .map_err(|e| kerberos_error(target, e.into()))?;
        let cred = self.tickets.cached_service_ticket(&spn).ok_or_else(|| {
            kerberos_error(target, KrbError::State("no service ticket: prepare first").into())
        })?;
        let (t, usec) = winv_krb::now();
        KerberosClient::new(self.mech, cred, target.level, t, usec)
            .map(|c| Box::new(c) as Box<dyn SecurityContext>)
            .map_err(|e| kerberos_error(target, e.into()))
    }
}

/// Whether negotiate falls back to NTLM after this Kerberos failure: no name to build an
/// SPN from, or the KDC does not know the service (a computer outside the domain) or
/// the client.
pub fn falls_back(e: &ClientError) -> bool {
    match e.cause() {
        Cause::Kerberos(KrbClientError::Kerberos(KrbError::AddressOnly(_))) => true,
        Cause::Kerberos(k) => matches!(
            k.code(),
            Some(codes::KDC_ERR_S_PRINCIPAL_UNKNOWN | codes::KDC_ERR_C_PRINCIPAL_UNKNOWN)
        ),
        _ => false,
    }
}

/// Kerberos, else NTLM (see the module documentation).
#[derive(Debug)]
pub struct Negotiate {
    kerberos: Kerberos,
    ntlm: Ntlm,
    /// Per host: whether NTLM was chosen. Bounded by the number of targets of the scan.
    chosen: Mutex<HashMap<String, bool>>,
}

impl Negotiate {
    /// Negotiate between `kerberos` and `ntlm` (the same account).
    pub fn new(kerberos: Kerberos, ntlm: Ntlm) -> Negotiate {
        Negotiate {
            kerberos,
            ntlm,
            chosen: Mutex::new(HashMap::new()),
        }
    }

    fn uses_ntlm(&self, host: &str) -> bool {
        self.chosen
            .lock()
            .map(|m| m.get(&host.to_ascii_lowercase()).copied().unwrap_or(false))
            .unwrap_or(false)
    }

    fn choose(&self, host: &str, ntlm: bool) {
        if let Ok(mut m) = self.chosen.lock() {
            m.insert(host.to_ascii_lowercase(), ntlm);
        }
    }
}

impl Mechanism for Negotiate {
    fn name(&self) -> &'static str {
        "negotiate"
    }

    fn authn_service(&self) -> u16 {
        self.kerberos.authn_service()
    }

    fn account(&self) -> String {
        self.ntlm.account()
    }

    fn used_for(&self, host: &str) -> &'static str {
        if self.uses_ntlm(host) {
            self.ntlm.name()
        } else {
            self.kerberos.name()
        }
    }

    fn prepare<'a>(&'a self, target: BindTarget<'a>) -> Prepare<'a> {
        Box::pin(async move {
            // The ping and dynamic binds follow the choice of the first bind.
            if target.stage != crate::Stage::Bind135 && self.uses_ntlm(target.host) {
                return Ok(());
            }
            match self.kerberos.prepare(target).await {
                Ok(()) => {
                    self.choose(target.host, false);
                    Ok(())
                }
                Err(e) if falls_back(&e) => {
                    tracing::debug!(host = target.host, error = %e, "negotiate: ntlm");
                    self.choose(target.host, true);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })
    }

    fn context(&self, target: &BindTarget<'_>) -> Result<Box<dyn SecurityContext>, ClientError> {
        if self.uses_ntlm(target.host) {
            self.ntlm.context(target)
        } else {
            self.kerberos.context(target)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use winv_auth::kerberos::exchange::Password;
    use winv_auth::kerberos::Principal;

    fn mech(spn: Option<&str>) -> Kerberos {
        let tickets = winv_krb::Kerberos::new(
            winv_krb::Source::Password {
                client: Principal::user("inventory", "LAB.TEST"),
                password: Password::new("x".into()),
            },
            winv_krb::KerberosConfig::default(),
        )
        .unwrap();
        Kerberos::new(Arc::new(tickets), spn.map(str::to_owned))
    }

    fn target<'a>(host: &'a str, principal: Option<&'a str>) -> BindTarget<'a> {
        BindTarget {
            host,
            addr: "127.0.0.1:135".parse().unwrap(),
            stage: crate::Stage::BindDynamic,
            principal,
            level: winv_auth::AuthLevel::PktPrivacy,
        }
    }

    #[test]
    fn spn_from_bindings_else_host_fqdn_else_override() {
        let k = mech(None);
        assert_eq!(k.spn_for(&target("WS01.lab.test", None)).unwrap(), "host/ws01.lab.test");
        assert_eq!(k.spn_for(&target("ws01", None)).unwrap(), "host/ws01.lab.test");
        assert_eq!(
            k.spn_for(&target("10.0.0.5", Some("host/ws01.lab.test"))).unwrap(),
            "host/ws01.lab.test"
        );
        // A principal that is not an SPN (`WS01$`) is not used.
        assert_eq!(k.spn_for(&target("ws01.lab.test", Some("WS01$"))).unwrap(), "host/ws01.lab.test");
        let e = k.spn_for(&target("10.0.0.5", None)).unwrap_err();
        assert!(matches!(e, KrbError::AddressOnly(_)), "{e}");
        assert!(e.to_string().contains("needs a host name"), "{e}");
        let e = k.spn_for(&target("[::1]", None)).unwrap_err();
        assert!(matches!(e, KrbError::AddressOnly(_)), "{e}");
        let o = mech(Some("cifs/alias.lab.test"));
        assert_eq!(o.spn_for(&target("10.0.0.5", Some("host/x"))).unwrap(), "cifs/alias.lab.test");
        assert_eq!(o.authn_service(), RPC_C_AUTHN_GSS_NEGOTIATE);
        assert_eq!(mech(None).raw().authn_service(), RPC_C_AUTHN_GSS_KERBEROS);
    }

    #[test]
    fn negotiate_falls_back_only_for_addresses_and_unknown_principals() {
        let t = target("ws01.lab.test", None);
        let fb = |e: KrbError| falls_back(&kerberos_error(&t, e.into()));
        assert!(fb(KrbError::AddressOnly("10.0.0.5".into())));
        assert!(fb(KrbError::protocol(codes::KDC_ERR_S_PRINCIPAL_UNKNOWN, None)));
        assert!(fb(KrbError::protocol(codes::KDC_ERR_C_PRINCIPAL_UNKNOWN, None)));
        assert!(!fb(KrbError::protocol(codes::KDC_ERR_PREAUTH_FAILED, None)));
        assert!(!fb(KrbError::protocol(codes::KRB_AP_ERR_SKEW, Some(600))));
        assert!(!fb(KrbError::Rc4Refused));
        // An address goes to NTLM without asking the KDC, and is recorded so.
        let n = Negotiate::new(mech(None), Ntlm::new(crate::Credentials::with_password("a", "LAB", "p"), ""));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut t135 = target("10.0.0.5", None);
        t135.stage = crate::Stage::Bind135;
        rt.block_on(n.prepare(t135)).unwrap();
        assert_eq!(n.used_for("10.0.0.5"), "ntlm");
        assert!(n.context(&t135).is_ok());
        assert_eq!(n.used_for("ws01.lab.test"), "kerberos");
    }
}
