//! A WMI client over DCOM ([MS-DCOM], [MS-WMI]) for Linux: activation of
//! `CLSID_WbemLevel1Login` on port 135, the choice of the OXID binding, `NTLMLogin` to a
//! namespace, WQL queries with a finite enumeration timeout (smart enumerator first,
//! `IEnumWbemClassObject::Next` as fallback), `GetObject`, `ExecMethod`, the registry
//! through `StdRegProv`, and the release of every reference granted.
//!
//! The connection flow (resolve, TCP/135, bind, activation, binding choice, dynamic port,
//! bind, login) is written once, in [`flow`]: a pure step machine and the async loop that
//! drives it; the security mechanism ([`security::Mechanism`]) and the name resolver are its
//! parameters.
//!
//! I/O tier: it drives the pure wire crates (`winv-dcom`, `winv-wmi`, `winv-wmio`) over
//! [`winv_rpc::RpcConnection`]. Every network wait has a deadline ([`WmiOptions::deadlines`],
//! [`WmiOptions::enum_timeout`]); every failure is a [`ClientError`] that names the
//! [`Stage`] and the [`Cause`] (a connect failure, an RPC fault, an HRESULT by name...).
//!
//! # Example
//!
//! ```no_run
//! use winv_client::{Credentials, WmiClient, WmiOptions};
//! use winv_client::registry::Hive;
//!
//! # async fn run() -> Result<(), winv_client::ClientError> {
//! let creds = Credentials::with_password("admin", "LAB", "the password");
//! let mut wmi = WmiClient::connect("10.0.0.5", creds, WmiOptions::default()).await?;
//! for os in wmi.query("SELECT Caption, Version FROM Win32_OperatingSystem").await? {
//!     println!("{:?} {:?}", os.get("Caption"), os.get("Version"));
//! }
//! let product = wmi
//!     .registry()
//!     .get_string_value(Hive::LocalMachine, r"SOFTWARE\Microsoft\Windows NT\CurrentVersion", "ProductName")
//!     .await?;
//! println!("{product}");
//! wmi.close().await?; // releases every reference the server granted
//! # Ok(())
//! # }
//! ```

pub mod binding;
mod client;
pub mod error;
pub mod flow;
pub mod kerberos;
pub mod lanes;
mod line;
pub mod rate;
pub mod registry;
pub mod security;

pub use client::{Rows, WmiClient, WmiOptions};
pub use error::{code_with_name, Cause, ClientError, Stage};
pub use flow::{FlowConfig, FlowObserver, FlowStep, NameResolver, Target};
pub use kerberos::{Kerberos, Negotiate};
pub use rate::ConnectRate;
pub use security::{Account, Credentials, Mechanism, Ntlm};
pub use winv_auth::ntlm::NtlmSecret;
pub use winv_auth::{AuthLevel, SecurityContext};
pub use winv_krb as krb;
pub use winv_rpc::Deadlines;
pub use winv_wmio::{Instance, Object, Value};
