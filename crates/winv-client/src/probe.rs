//! The connection flow one step at a time, for `winventory diagnose`: what
//! [`WmiClient::connect`] does in one call, split so that the caller can time each step,
//! show what it returned (the OXID bindings of the activation, the endpoint reached) and
//! stop at the first that fails.
//!
//! ```text
//! tcp_connect(ADDR:135)            the TCP handshake alone
//! Probe::bind_activator(ADDR:135)  bind ISystemActivator with NTLM at the auth level
//! Probe::activate()                RemoteCreateInstance(CLSID_WbemLevel1Login): OXID bindings
//! tcp_connect(binding)             the TCP handshake to the dynamic endpoint
//! Probe::bind_dynamic(binding)     bind IWbemLevel1Login with NTLM
//! Probe::login(root\cimv2)         NTLMLogin; then Probe::client() for queries, StdRegProv
//! ```
//!
//! Every step fails with the same [`ClientError`] (stage and cause) that the one-call
//! connect gives for the same fault, so the engine's classification applies unchanged.
//! NTLM's last leg (auth3) gets no reply, so a refused logon shows on the first call
//! after a bind: [`Probe::activate`] returns it with stage [`Stage::Bind135`], and the
//! first [`Probe::login`] with [`Stage::BindDynamic`]. Every wait has the deadline of
//! [`WmiOptions::deadlines`].

use std::net::SocketAddr;
use std::time::Duration;

use tracing::debug;
use uuid::Uuid;
use winv_dcerpc::interfaces::{ISYSTEMACTIVATOR, IWBEMLEVEL1LOGIN};
use winv_dcerpc::{ClientConfig, SyntaxId};
use winv_dcom::activation::OPNUM_REMOTE_CREATE_INSTANCE;
use winv_dcom::clsid::CLSID_WBEM_LEVEL1_LOGIN;
use winv_dcom::{
    decode_remote_create_instance_response, encode_remote_create_instance_request,
    ActivationRequest, StringBinding,
};
use winv_rpc::transport::connect_tcp;
use winv_rpc::{Deadlines, RpcConnection, RpcError};

use crate::binding::{candidates, tcp_bindings, Candidate, TcpBinding};
use crate::client::{check_hresult, held_of, logon_stage, orpc_this, rpc_config, security, Held};
use crate::error::{Cause, ClientError};
use crate::{Credentials, Stage, WmiClient, WmiOptions};

/// Opens a TCP connection to `addr` within `deadline` and closes it: whether anything
/// listens there. A failure is a [`Cause::Connect`] at `stage`.
pub async fn tcp_connect(
    addr: SocketAddr,
    deadline: Duration,
    stage: Stage,
) -> Result<(), ClientError> {
    connect_tcp(addr, deadline)
        .await
        .map(drop)
        .map_err(|c| ClientError::new(stage, Cause::Connect(c)))
}

/// Whether an RPC server answers at `addr`: an unauthenticated bind of `interface`
/// within the deadlines. `Ok` for a bind_ack; a rejection (bind_nak, rejected context) is
/// a [`Cause::BindRejected`], which also means that an RPC server answered; silence is a
/// [`Cause::Timeout`]. No credentials are sent.
pub async fn rpc_answers(
    addr: SocketAddr,
    interface: SyntaxId,
    deadlines: Deadlines,
    stage: Stage,
) -> Result<(), ClientError> {
    match RpcConnection::connect(addr, interface, ClientConfig::default(), None, deadlines).await {
        Ok(_) => Ok(()),
        Err(RpcError::Connect(c)) => Err(ClientError::new(stage, Cause::Connect(c))),
        Err(e) => Err(ClientError::rpc_at(stage, e)),
    }
}

/// What `RemoteCreateInstance` of `CLSID_WbemLevel1Login` returned ([MS-DCOM] 3.1.2.5.2.3.3).
#[derive(Clone, Debug)]
pub struct Activation {
    /// The endpoint mapper address the activation went to.
    pub epm_addr: SocketAddr,
    /// The OXID of the WMI server process.
    pub oxid: u64,
    /// `authnHint`: the authentication level the server suggests.
    pub authn_hint: u32,
    /// Every string binding of the OXID, as the server listed them.
    pub string_bindings: Vec<StringBinding>,
    /// Its `ncacn_ip_tcp` bindings, parsed (`NAME[49670]`, `10.0.0.5[49670]`).
    pub tcp_bindings: Vec<TcpBinding>,
    pub(crate) ipid_rem_unknown: Uuid,
    pub(crate) login: Held,
}

impl Activation {
    /// The endpoints to try for the OXID, in the client's order: the address port 135
    /// was reached at with each binding's port, then each binding's own address or name.
    pub fn candidates(&self) -> Vec<Candidate> {
        candidates(self.epm_addr.ip(), &self.tcp_bindings)
    }
}

/// `RemoteCreateInstance` of `CLSID_WbemLevel1Login` for `IWbemLevel1Login` on a bound
/// `ISystemActivator` connection.
pub(crate) async fn remote_create_instance(
    conn: &mut RpcConnection,
) -> Result<Activation, ClientError> {
    let st = Stage::Activation;
    let req = ActivationRequest::new(CLSID_WBEM_LEVEL1_LOGIN, vec![IWBEMLEVEL1LOGIN.uuid]);
    let stub = encode_remote_create_instance_request(&orpc_this(), &req)
        .map_err(|e| ClientError::decode_at(st, e))?;
    let resp = conn
        .call(OPNUM_REMOTE_CREATE_INSTANCE, &stub)
        .await
        .map_err(|e| logon_stage(ClientError::rpc_at(st, e), Stage::Bind135))?;
    let (_, reply) =
        decode_remote_create_instance_response(&resp).map_err(|e| ClientError::decode_at(st, e))?;
    let reply = reply.map_err(|hr| ClientError::hresult_at(st, hr.0))?;
    let iface = reply
        .interfaces
        .iter()
        .find(|i| i.iid == IWBEMLEVEL1LOGIN.uuid)
        .ok_or_else(|| {
            ClientError::new(
                st,
                Cause::Protocol("activation reply lacks IWbemLevel1Login".into()),
            )
        })?;
    check_hresult(st, iface.hresult)?;
    let login = iface
        .objref
        .as_ref()
        .and_then(|o| o.std())
        .map(held_of)
        .ok_or_else(|| {
            ClientError::new(
                st,
                Cause::Protocol("activation reply lacks the IWbemLevel1Login reference".into()),
            )
        })?;
    Ok(Activation {
        epm_addr: conn.peer(),
        oxid: reply.oxid,
        authn_hint: reply.authn_hint,
        tcp_bindings: tcp_bindings(&reply.oxid_bindings.string_bindings),
        string_bindings: reply.oxid_bindings.string_bindings,
        ipid_rem_unknown: reply.ipid_rem_unknown,
        login,
    })
}

/// One walk through the connection flow, a step per call; see the module documentation.
/// Steps called out of order fail with a [`Cause::Protocol`] error.
pub struct Probe {
    host: String,
    creds: Credentials,
    opts: WmiOptions,
    activator: Option<RpcConnection>,
    activation: Option<Activation>,
    client: Option<WmiClient>,
    logon_confirmed: bool,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("host", &self.host)
            .field("user", &self.creds.user)
            .field("auth_level", &self.opts.auth_level)
            .finish_non_exhaustive()
    }
}

fn out_of_order(stage: Stage, what: &str) -> ClientError {
    ClientError::new(
        stage,
        Cause::Protocol(format!("probe step out of order: {what}")),
    )
}

impl Probe {
    /// A probe of `host` (the name or address the user gave: it goes into `NTLMLogin`'s
    /// `\\HOST\namespace`) with `creds` and `opts` (auth level, deadlines).
    pub fn new(host: &str, creds: Credentials, opts: WmiOptions) -> Probe {
        Probe {
            host: host.to_string(),
            creds,
            opts,
            activator: None,
            activation: None,
            client: None,
            logon_confirmed: false,
        }
    }

    /// The options in use.
    pub fn options(&self) -> &WmiOptions {
        &self.opts
    }

    /// Connects to `addr` (port 135 or `opts.epm_port`) and binds `ISystemActivator`
    /// with NTLM at the options' level. A refused TCP connect is [`Stage::Connect135`].
    pub async fn bind_activator(&mut self, addr: SocketAddr) -> Result<(), ClientError> {
        let conn = RpcConnection::connect(
            addr,
            ISYSTEMACTIVATOR,
            rpc_config(&self.opts),
            security(&self.creds, &self.opts),
            self.opts.deadlines,
        )
        .await
        .map_err(|e| match e {
            RpcError::Connect(c) => ClientError::new(Stage::Connect135, Cause::Connect(c)),
            e => ClientError::rpc_at(Stage::Bind135, e),
        })?;
        self.activator = Some(conn);
        Ok(())
    }

    /// `RemoteCreateInstance` of `CLSID_WbemLevel1Login` on the bound activator; the
    /// connection to port 135 is closed afterwards, as the client does.
    pub async fn activate(&mut self) -> Result<&Activation, ClientError> {
        let mut conn = self
            .activator
            .take()
            .ok_or_else(|| out_of_order(Stage::Activation, "bind the activator first"))?;
        let act = remote_create_instance(&mut conn).await?;
        debug!(oxid = act.oxid, bindings = ?act.string_bindings, "activated");
        Ok(self.activation.insert(act))
    }

    /// The activation's result, once [`Probe::activate`] succeeded.
    pub fn activation(&self) -> Option<&Activation> {
        self.activation.as_ref()
    }

    /// Connects to the OXID endpoint `addr` (one of [`Activation::candidates`], resolved)
    /// and binds `IWbemLevel1Login` with NTLM. A TCP failure is [`Stage::ConnectDynamic`].
    pub async fn bind_dynamic(&mut self, addr: SocketAddr) -> Result<(), ClientError> {
        let act = self
            .activation
            .as_ref()
            .ok_or_else(|| out_of_order(Stage::BindDynamic, "activate first"))?;
        let conn = RpcConnection::connect(
            addr,
            IWBEMLEVEL1LOGIN,
            rpc_config(&self.opts),
            security(&self.creds, &self.opts),
            self.opts.deadlines,
        )
        .await
        .map_err(|e| match e {
            RpcError::Connect(c) => ClientError::new(Stage::ConnectDynamic, Cause::Connect(c)),
            e => ClientError::rpc_at(Stage::BindDynamic, e),
        })?;
        let login_ctx = conn.context_id();
        self.client = Some(WmiClient {
            host: self.host.clone(),
            epm_addr: act.epm_addr,
            creds: self.creds.clone(),
            opts: self.opts.clone(),
            binding_used: conn.peer(),
            conn,
            contexts: vec![(IWBEMLEVEL1LOGIN.uuid, login_ctx)],
            oxid: act.oxid,
            ipid_rem_unknown: act.ipid_rem_unknown,
            login_ipid: act.login.ipid,
            namespaces: Vec::new(),
            held: vec![act.login],
            pinger: None,
            stdregprov: None,
        });
        Ok(())
    }

    /// `NTLMLogin` to `namespace` on the dynamic connection. The first call on that
    /// connection also confirms the NTLM logon of its bind: a refusal comes back with
    /// stage [`Stage::BindDynamic`].
    pub async fn login(&mut self, namespace: &str) -> Result<(), ClientError> {
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| out_of_order(Stage::Login, "bind the dynamic endpoint first"))?;
        let r = client.open_namespace(namespace).await;
        if std::mem::replace(&mut self.logon_confirmed, true) {
            r
        } else {
            r.map_err(|e| logon_stage(e, Stage::BindDynamic))
        }
    }

    /// The WMI session, once [`Probe::bind_dynamic`] succeeded: queries, `GetObject`,
    /// the registry.
    pub fn client(&mut self) -> Option<&mut WmiClient> {
        self.client.as_mut()
    }

    /// Releases every reference the server granted and closes the connections.
    pub async fn close(mut self) {
        self.activator = None;
        if let Some(c) = self.client.take() {
            if let Err(e) = c.close().await {
                debug!(error = %e, "probe close failed");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_connect_refused_is_classified_at_the_given_stage() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = tcp_connect(addr, Duration::from_secs(2), Stage::ConnectDynamic)
            .await
            .unwrap_err();
        assert_eq!(e.stage(), Stage::ConnectDynamic);
        assert_eq!(
            e.connect_failure(),
            Some(winv_rpc::transport::ConnectFailure::Refused)
        );
    }

    #[tokio::test]
    async fn steps_out_of_order_are_errors_not_panics() {
        let mut p = Probe::new(
            "127.0.0.1",
            Credentials::with_password("u", "d", "p"),
            WmiOptions::default(),
        );
        let e = p.activate().await.unwrap_err();
        assert_eq!(e.stage(), Stage::Activation);
        let e = p
            .bind_dynamic("127.0.0.1:1".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.stage(), Stage::BindDynamic);
        let e = p.login(r"root\cimv2").await.unwrap_err();
        assert_eq!(e.stage(), Stage::Login);
        assert!(p.client().is_none());
        assert!(p.activation().is_none());
        p.close().await;
    }

    #[tokio::test]
    async fn silent_server_is_a_timeout_for_rpc_answers() {
        // Accepts and never answers: the bind's deadline ends the wait.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let d = Deadlines {
            connect: Duration::from_secs(1),
            read: Duration::from_millis(300),
            call: Duration::from_millis(300),
        };
        let e = rpc_answers(addr, IWBEMLEVEL1LOGIN, d, Stage::BindDynamic)
            .await
            .unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert_eq!(e.stage(), Stage::BindDynamic);
        hold.abort();
    }
}
