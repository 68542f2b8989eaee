//! The registry through WMI's `StdRegProv` class in `root\default`
//! ([MS-WMI] 3.1.4.3.22 ExecMethod; the class's methods as documented for `StdRegProv`):
//! the class is fetched once with `GetObject`, each call's in-parameters are an instance
//! of the method's input `__PARAMETERS` class, and the Win32 `ReturnValue` is mapped to a
//! named error.

use std::sync::Arc;

use winv_wmio::{ClassDef, Instance, Object, ObjectKind, Value};

use crate::client::WmiClient;
use crate::error::{Cause, ClientError, Stage};

/// The namespace of `StdRegProv`.
pub const STDREGPROV_NAMESPACE: &str = r"root\default";

/// A registry hive (`hDefKey`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hive {
    /// `HKEY_CLASSES_ROOT` 0x80000000.
    ClassesRoot,
    /// `HKEY_CURRENT_USER` 0x80000001.
    CurrentUser,
    /// `HKEY_LOCAL_MACHINE` 0x80000002.
    LocalMachine,
    /// `HKEY_USERS` 0x80000003.
    Users,
    /// `HKEY_CURRENT_CONFIG` 0x80000005.
    CurrentConfig,
}

impl Hive {
    /// The `hDefKey` value.
    pub fn code(self) -> u32 {
        match self {
            Hive::ClassesRoot => 0x8000_0000,
            Hive::CurrentUser => 0x8000_0001,
            Hive::LocalMachine => 0x8000_0002,
            Hive::Users => 0x8000_0003,
            Hive::CurrentConfig => 0x8000_0005,
        }
    }
}

/// A registry value type as `EnumValues` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegType {
    /// `REG_SZ` (1).
    String,
    /// `REG_EXPAND_SZ` (2).
    ExpandString,
    /// `REG_BINARY` (3).
    Binary,
    /// `REG_DWORD` (4).
    Dword,
    /// `REG_MULTI_SZ` (7).
    MultiString,
    /// `REG_QWORD` (11).
    Qword,
    /// Any other type code.
    Other(i64),
}

impl RegType {
    /// From the type code.
    pub fn from_code(c: i64) -> RegType {
        match c {
            1 => RegType::String,
            2 => RegType::ExpandString,
            3 => RegType::Binary,
            4 => RegType::Dword,
            7 => RegType::MultiString,
            11 => RegType::Qword,
            o => RegType::Other(o),
        }
    }
}

/// What `StdRegProv` returns when the key exists and the value does not.
pub const RET_VALUE_NOT_FOUND: u32 = 1;
/// Win32 `ERROR_ACCESS_DENIED` and `ERROR_FILE_NOT_FOUND`, as `StdRegProv` returns them.
pub use winv_dcerpc::status::{ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND};

/// One installed program from an Uninstall key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Software {
    /// `DisplayName`.
    pub name: String,
    /// `DisplayVersion`.
    pub version: Option<String>,
    /// `Publisher`.
    pub publisher: Option<String>,
    /// `InstallDate` (as written, usually `yyyymmdd`).
    pub install_date: Option<String>,
    /// The subkey name under the Uninstall key.
    pub key: String,
    /// Found in the 32-bit view (`WOW6432Node`).
    pub wow64: bool,
}

/// The Uninstall keys of both registry views: (path, is the 32-bit view).
pub const UNINSTALL_KEYS: [(&str, bool); 2] = [
    (
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
        false,
    ),
    (
        r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
        true,
    ),
];

/// Whether a registry error means the key or the value does not exist (`ReturnValue` 1
/// for a missing value, 2 for a missing key).
pub fn is_not_found(e: &ClientError) -> bool {
    matches!(
        e.win32_code(),
        Some(RET_VALUE_NOT_FOUND | ERROR_FILE_NOT_FOUND)
    )
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(_, items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn missing(method: &str, what: &str) -> ClientError {
    ClientError::new(
        Stage::Registry,
        Cause::Protocol(format!("{method} returned no {what}")),
    )
}

/// One `StdRegProv` call of a batch: the method, the key, and the other string
/// parameters.
struct Call<'a> {
    method: &'a str,
    hive: Hive,
    path: String,
    args: Vec<(&'a str, &'a str)>,
}

/// The in-parameters' class of `method` of `class` (its `__PARAMETERS` signature), shared
/// by the inputs of every call of it.
fn signature(class: &ClassDef, method: &str) -> Result<Arc<ClassDef>, ClientError> {
    let m = class.method_named(method).ok_or_else(|| {
        ClientError::new(
            Stage::Registry,
            Cause::Protocol(format!("StdRegProv has no method {method}")),
        )
    })?;
    m.input
        .as_deref()
        .and_then(Object::class_def)
        .map(|c| Arc::new(c.clone()))
        .ok_or_else(|| missing(method, "input signature"))
}

/// The input parameters of a method of signature `sig` ([`signature`]): `hDefKey`,
/// `sSubKeyName` and `args`.
fn input(
    sig: &Arc<ClassDef>,
    hive: Hive,
    path: &str,
    args: &[(&str, &str)],
) -> Result<Instance, ClientError> {
    let mut inp = Instance::of(Arc::clone(sig));
    let bad = |e: winv_wmio::WmioError| ClientError::decode_at(Stage::Registry, e);
    inp.set("hDefKey", Value::Uint32(hive.code()))
        .map_err(bad)?;
    inp.set("sSubKeyName", Value::String(path.to_string()))
        .map_err(bad)?;
    for (k, v) in args {
        inp.set(k, Value::String((*v).to_string())).map_err(bad)?;
    }
    Ok(inp)
}

/// `method`'s output parameters after checking `ReturnValue` (non-zero: the Win32 error).
fn output(method: &str, out: Option<Instance>) -> Result<Instance, ClientError> {
    let out = out.ok_or_else(|| missing(method, "out-parameters"))?;
    let rv = out
        .get("ReturnValue")
        .and_then(Value::as_i128)
        .ok_or_else(|| missing(method, "ReturnValue"))?;
    let code = u32::try_from(rv).unwrap_or(u32::MAX);
    if code != 0 {
        return Err(ClientError::new(
            Stage::Registry,
            Cause::Win32 {
                method: method.to_string(),
                code,
            },
        ));
    }
    Ok(out)
}

/// A `GetStringValue` result as a value that may be absent: `None` when the value or the
/// key does not exist.
fn optional(r: Result<Instance, ClientError>) -> Result<Option<String>, ClientError> {
    match r {
        Ok(out) => out
            .get("sValue")
            .and_then(Value::as_str)
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| missing("GetStringValue", "string")),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `StdRegProv` calls on a [`WmiClient`]; see [`WmiClient::registry`].
pub struct Registry<'a> {
    client: &'a mut WmiClient,
}

impl WmiClient {
    /// The registry through `StdRegProv` (logs in to `root\default` on first use).
    pub fn registry(&mut self) -> Registry<'_> {
        Registry { client: self }
    }
}

impl Registry<'_> {
    async fn class(&mut self) -> Result<Arc<ClassDef>, ClientError> {
        if let Some(c) = &self.client.stdregprov {
            return Ok(Arc::clone(c));
        }
        let obj = self
            .client
            .get_object_in(STDREGPROV_NAMESPACE, "StdRegProv")
            .await?;
        let class = match obj.kind {
            ObjectKind::Class { current, .. } => Arc::new(current),
            ObjectKind::Instance(i) => i.class,
        };
        self.client.stdregprov = Some(Arc::clone(&class));
        Ok(class)
    }

    /// Calls `method` with `hDefKey`, `sSubKeyName` and the other string parameters in
    /// `args`, and returns the output parameters after checking `ReturnValue`.
    async fn call(
        &mut self,
        method: &str,
        hive: Hive,
        path: &str,
        args: &[(&str, &str)],
    ) -> Result<Instance, ClientError> {
        let class = self.class().await?;
        let inp = input(&signature(&class, method)?, hive, path, args)?;
        let out = self
            .client
            .exec_method_in(STDREGPROV_NAMESPACE, "StdRegProv", method, Some(inp))
            .await?;
        output(method, out)
    }

    /// [`Self::call`] for several calls that do not depend on each other, made at once
    /// over the session's connections ([`crate::lanes`]): call `i`'s result, what
    /// [`Self::call`] would have returned, goes to `keep` as it arrives, and what `keep`
    /// makes of it is returned, in order. Each call's input is made when a connection takes
    /// it, on its method's one signature.
    async fn calls<T: Send>(
        &mut self,
        calls: &[Call<'_>],
        keep: impl Fn(Result<Instance, ClientError>) -> T + Sync,
    ) -> Vec<T> {
        let class = match self.class().await {
            Ok(c) => c,
            Err(e) => {
                let first = crate::lanes::first_error(e, calls.len(), Stage::Registry);
                return first.into_iter().map(keep).collect();
            }
        };
        // The batch's methods, each with its signature (none: the call's error says why).
        let mut sigs: Vec<(&str, Option<Arc<ClassDef>>)> = Vec::new();
        for c in calls {
            if !sigs.iter().any(|(m, _)| *m == c.method) {
                sigs.push((c.method, signature(&class, c.method).ok()));
            }
        }
        let make = |i: usize| {
            let c = calls.get(i).ok_or_else(|| missing("a batch", "call"))?;
            let known = sigs.iter().find(|(m, _)| *m == c.method);
            let sig = match known.and_then(|(_, s)| s.as_ref()) {
                Some(sig) => Arc::clone(sig),
                None => signature(&class, c.method)?,
            };
            Ok((c.method, input(&sig, c.hive, &c.path, &c.args)?))
        };
        let answered = |i: usize, r: Result<Option<Instance>, ClientError>| {
            let method = calls.get(i).map_or("", |c| c.method);
            keep(r.and_then(|out| output(method, out)))
        };
        self.client
            .exec_methods_in(
                STDREGPROV_NAMESPACE,
                "StdRegProv",
                calls.len(),
                make,
                answered,
            )
            .await
    }

    /// `EnumKey`: the subkey names of `path`.
    pub async fn enum_key(&mut self, hive: Hive, path: &str) -> Result<Vec<String>, ClientError> {
        let out = self.call("EnumKey", hive, path, &[]).await?;
        Ok(strings(out.get("sNames")))
    }

    /// `EnumValues`: the value names of `path` and their types.
    pub async fn enum_values(
        &mut self,
        hive: Hive,
        path: &str,
    ) -> Result<Vec<(String, RegType)>, ClientError> {
        let out = self.call("EnumValues", hive, path, &[]).await?;
        let names = strings(out.get("sNames"));
        let types: Vec<i64> = match out.get("Types") {
            Some(Value::Array(_, items)) => items
                .iter()
                .map(|v| v.as_i128().and_then(|x| i64::try_from(x).ok()).unwrap_or(0))
                .collect(),
            _ => Vec::new(),
        };
        Ok(names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, RegType::from_code(types.get(i).copied().unwrap_or(0))))
            .collect())
    }

    async fn value(
        &mut self,
        method: &str,
        hive: Hive,
        path: &str,
        name: &str,
        out_name: &str,
    ) -> Result<Value, ClientError> {
        let out = self
            .call(method, hive, path, &[("sValueName", name)])
            .await?;
        out.get(out_name)
            .cloned()
            .ok_or_else(|| missing(method, out_name))
    }

    /// `GetStringValue` (REG_SZ).
    pub async fn get_string_value(
        &mut self,
        hive: Hive,
        path: &str,
        name: &str,
    ) -> Result<String, ClientError> {
        self.string_value("GetStringValue", hive, path, name).await
    }

    /// `GetExpandedStringValue` (REG_EXPAND_SZ, expanded by the server).
    pub async fn get_expanded_string_value(
        &mut self,
        hive: Hive,
        path: &str,
        name: &str,
    ) -> Result<String, ClientError> {
        self.string_value("GetExpandedStringValue", hive, path, name)
            .await
    }

    /// A string-valued getter: `method`'s `sValue`.
    async fn string_value(
        &mut self,
        method: &str,
        hive: Hive,
        path: &str,
        name: &str,
    ) -> Result<String, ClientError> {
        let v = self.value(method, hive, path, name, "sValue").await?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| missing(method, "string"))
    }

    /// `GetMultiStringValue` (REG_MULTI_SZ).
    pub async fn get_multi_string_value(
        &mut self,
        hive: Hive,
        path: &str,
        name: &str,
    ) -> Result<Vec<String>, ClientError> {
        let v = self
            .value("GetMultiStringValue", hive, path, name, "sValue")
            .await?;
        Ok(strings(Some(&v)))
    }

    /// `GetDWORDValue` (REG_DWORD).
    pub async fn get_dword_value(
        &mut self,
        hive: Hive,
        path: &str,
        name: &str,
    ) -> Result<u32, ClientError> {
        let v = self
            .value("GetDWORDValue", hive, path, name, "uValue")
            .await?;
        v.as_i128()
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(|| missing("GetDWORDValue", "uint32"))
    }

    /// `GetQWORDValue` (REG_QWORD).
    pub async fn get_qword_value(
        &mut self,
        hive: Hive,
        path: &str,
        name: &str,
    ) -> Result<u64, ClientError> {
        let v = self
            .value("GetQWORDValue", hive, path, name, "uValue")
            .await?;
        v.as_i128()
            .and_then(|x| u64::try_from(x).ok())
            .ok_or_else(|| missing("GetQWORDValue", "uint64"))
    }

    /// `GetBinaryValue` (REG_BINARY).
    pub async fn get_binary_value(
        &mut self,
        hive: Hive,
        path: &str,
        name: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let v = self
            .value("GetBinaryValue", hive, path, name, "uValue")
            .await?;
        match v {
            Value::Array(_, items) => items
                .iter()
                .map(|i| match i {
                    Value::Uint8(b) => Ok(*b),
                    _ => Err(missing("GetBinaryValue", "uint8 array")),
                })
                .collect(),
            _ => Err(missing("GetBinaryValue", "uint8 array")),
        }
    }

    /// Installed software from the Uninstall keys of both views (never `Win32_Product`,
    /// whose enumeration triggers MSI consistency checks and repairs on the target).
    /// Entries without `DisplayName` are skipped; a view whose key is absent is skipped.
    ///
    /// The reads go in three batches, each made at once over the session's connections
    /// ([`crate::lanes`]): both views' `EnumKey`, then every subkey's `DisplayName`, then
    /// the other three values of the subkeys that have one: the same calls as one after
    /// another, and the same result, the first error in that order included.
    pub async fn installed_software(&mut self) -> Result<Vec<Software>, ClientError> {
        let get = |path: &str, name: &'static str| Call {
            method: "GetStringValue",
            hive: Hive::LocalMachine,
            path: path.to_string(),
            args: vec![("sValueName", name)],
        };
        let views: Vec<Call<'_>> = UNINSTALL_KEYS
            .iter()
            .map(|(base, _)| Call {
                method: "EnumKey",
                hive: Hive::LocalMachine,
                path: (*base).to_string(),
                args: Vec::new(),
            })
            .collect();
        // (view, subkey) in the order one after another would read them.
        let mut keys: Vec<(usize, String)> = Vec::new();
        let subkeys = |r: Result<Instance, ClientError>| r.map(|out| strings(out.get("sNames")));
        for (v, r) in self.calls(&views, subkeys).await.into_iter().enumerate() {
            match r {
                Ok(names) => keys.extend(names.into_iter().map(|k| (v, k))),
                Err(e) if is_not_found(&e) => {}
                // Later views' keys would only have been read after this one's.
                Err(e) => return Err(e),
            }
        }
        let path = |&(v, ref key): &(usize, String)| format!("{}\\{key}", UNINSTALL_KEYS[v].0);
        let names: Vec<Call<'_>> = keys.iter().map(|k| get(&path(k), "DisplayName")).collect();
        let mut named: Vec<(usize, String)> = Vec::new();
        let mut failed_name: Option<(usize, ClientError)> = None;
        for (i, r) in self.calls(&names, optional).await.into_iter().enumerate() {
            match r {
                Ok(Some(name)) if !name.trim().is_empty() => named.push((i, name)),
                Ok(_) => {}
                Err(e) => {
                    failed_name = Some((i, e));
                    break;
                }
            }
        }
        const OTHERS: [&str; 3] = ["DisplayVersion", "Publisher", "InstallDate"];
        let rest: Vec<Call<'_>> = named
            .iter()
            .flat_map(|(i, _)| OTHERS.map(|n| get(&path(&keys[*i]), n)))
            .collect();
        let mut values = self.calls(&rest, optional).await.into_iter();
        let mut out = Vec::new();
        for (i, name) in named {
            let mut next = || values.next().unwrap_or(Ok(None));
            // One after another, a subkey's three values come before the next subkey's
            // name (every named subkey is before the first name that failed): an error
            // among them is the first.
            let (version, publisher, install_date) = (next()?, next()?, next()?);
            let (v, key) = &keys[i];
            out.push(Software {
                name,
                version,
                publisher,
                install_date,
                key: key.clone(),
                wow64: UNINSTALL_KEYS[*v].1,
            });
        }
        match failed_name {
            Some((_, e)) => Err(e),
            None => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_codes() {
        assert_eq!(Hive::LocalMachine.code(), 0x8000_0002);
        assert_eq!(Hive::Users.code(), 0x8000_0003);
        assert_eq!(RegType::from_code(4), RegType::Dword);
        assert_eq!(RegType::from_code(99), RegType::Other(99));
    }

    #[test]
    fn win32_return_value_is_named() {
        let e = ClientError::new(
            Stage::Registry,
            Cause::Win32 {
                method: "GetStringValue".into(),
                code: 2,
            },
        );
        assert!(is_not_found(&e));
        assert_eq!(
            e.to_string(),
            "registry: GetStringValue returned 2 ERROR_FILE_NOT_FOUND"
        );
    }
}
