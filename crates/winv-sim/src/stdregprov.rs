//! `StdRegProv` methods ("StdRegProv class", WMI reference) as a pure function over a
//! [`Registry`]: an input `__PARAMETERS` instance in, an output `__PARAMETERS` instance
//! ([MS-WMIO] 2.2.47 method signatures; the classes are [`crate::data::classes::method_output`])
//! out.
//!
//! `ReturnValue` is a Win32 error code, as the real provider reports it:
//!
//! | situation | ReturnValue |
//! |---|---|
//! | success (also EnumKey / EnumValues of a key with no subkeys / values: `sNames` NULL) | 0 |
//! | the key does not exist | 2 (`ERROR_FILE_NOT_FOUND`) |
//! | the key exists, the value does not | 1 (what StdRegProv reports for a missing value) |
//! | the value has another type than the method reads | 2147749893 (`WBEM_E_TYPE_MISMATCH`, 0x80041005) |
//! | `hDefKey` is not a hive handle | 6 (`ERROR_INVALID_HANDLE`) |
//!
//! `GetStringValue` reads `REG_SZ` and (unexpanded) `REG_EXPAND_SZ`; `GetExpandedStringValue`
//! reads both and expands `%SystemRoot%`, `%windir%`, `%ProgramFiles%`,
//! `%ProgramFiles(x86)%`, `%SystemDrive%` in `REG_EXPAND_SZ` text. A NULL `sSubKeyName` is
//! the hive's root, a NULL `sValueName` the key's default value, a NULL `hDefKey` HKLM.
//!
//! The call itself fails (`Err(HRESULT)`) only for an unknown method
//! (`WBEM_E_INVALID_METHOD` 0x8004102E) or an in-parameter of the wrong type
//! (`WBEM_E_INVALID_METHOD_PARAMETERS` 0x8004102F).

use winv_wmio::{CimBase, Instance, Slot, Value};

use crate::codes::{WBEM_E_INVALID_METHOD, WBEM_E_INVALID_METHOD_PARAMETERS};
use crate::data::classes::{method_output, HKLM};
use crate::registry::{RegValue, Registry};

/// `ERROR_SUCCESS`.
pub const RET_SUCCESS: u32 = 0;
/// A value that does not exist in an existing key.
pub const RET_VALUE_NOT_FOUND: u32 = 1;
/// `ERROR_FILE_NOT_FOUND`: the key does not exist.
pub const RET_KEY_NOT_FOUND: u32 = 2;
/// `ERROR_INVALID_HANDLE`: `hDefKey` names no hive.
pub const RET_INVALID_HIVE: u32 = 6;
/// `WBEM_E_TYPE_MISMATCH` as a ReturnValue.
pub const RET_TYPE_MISMATCH: u32 = 0x8004_1005;

/// Calls `method` (case-insensitive) of `StdRegProv` with `in_params` against `registry`.
pub fn call(registry: &Registry, method: &str, in_params: &Instance) -> Result<Instance, u32> {
    let out_class = method_output(method).ok_or(WBEM_E_INVALID_METHOD)?;
    let hive = match in_params.get("hDefKey") {
        None => HKLM,
        Some(v) => v
            .as_i128()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(WBEM_E_INVALID_METHOD_PARAMETERS)?,
    };
    let sub_key = string_param(in_params, "sSubKeyName")?.unwrap_or_default();
    let value_name = string_param(in_params, "sValueName")?.unwrap_or_default();

    let mut out = Instance {
        class: std::sync::Arc::new(out_class.clone()),
        values: vec![Slot::Null; out_class.properties.len()],
        qualifiers: Vec::new(),
        property_qualifiers: Vec::new(),
    };
    let (ret, outputs) = run(registry, &out_class.name, method, hive, sub_key, value_name);
    set(&mut out, "ReturnValue", Value::Uint32(ret));
    for (name, value) in outputs {
        set(&mut out, name, value);
    }
    Ok(out)
}

fn string_param<'a>(params: &'a Instance, name: &str) -> Result<Option<&'a str>, u32> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(WBEM_E_INVALID_METHOD_PARAMETERS),
    }
}

fn set(out: &mut Instance, name: &str, value: Value) {
    if let Some(i) = out
        .class
        .properties
        .iter()
        .position(|p| p.name.eq_ignore_ascii_case(name))
    {
        if let Some(slot) = out.values.get_mut(i) {
            *slot = Slot::Set(value);
        }
    }
}

fn strings(items: Vec<String>) -> Value {
    Value::Array(
        CimBase::String,
        items.into_iter().map(Value::String).collect(),
    )
}

fn expand(text: &str) -> String {
    const VARS: [(&str, &str); 6] = [
        ("%systemroot%", "C:\\Windows"),
        ("%windir%", "C:\\Windows"),
        ("%programfiles%", "C:\\Program Files"),
        ("%programfiles(x86)%", "C:\\Program Files (x86)"),
        ("%systemdrive%", "C:"),
        ("%programdata%", "C:\\ProgramData"),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (var, val) in VARS {
            if rest.len() >= var.len()
                && rest.is_char_boundary(var.len())
                && rest[..var.len()].eq_ignore_ascii_case(var)
            {
                out.push_str(val);
                rest = &rest[var.len()..];
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

type Outputs = Vec<(&'static str, Value)>;

fn run(
    registry: &Registry,
    _class: &str,
    method: &str,
    hive: u32,
    sub_key: &str,
    value_name: &str,
) -> (u32, Outputs) {
    if registry.hive(hive).is_none() {
        return (RET_INVALID_HIVE, Vec::new());
    }
    let Some(key) = registry.key(hive, sub_key) else {
        return (RET_KEY_NOT_FOUND, Vec::new());
    };
    let m = method.to_ascii_lowercase();
    match m.as_str() {
        "enumkey" => {
            if key.subkeys.is_empty() {
                return (RET_SUCCESS, Vec::new());
            }
            let names = key.subkeys.iter().map(|k| k.name.clone()).collect();
            (RET_SUCCESS, vec![("sNames", strings(names))])
        }
        "enumvalues" => {
            if key.values.is_empty() {
                return (RET_SUCCESS, Vec::new());
            }
            let names = key.values.iter().map(|(n, _)| n.clone()).collect();
            let types = key
                .values
                .iter()
                .map(|(_, v)| Value::Sint32(v.type_code()))
                .collect();
            (
                RET_SUCCESS,
                vec![
                    ("sNames", strings(names)),
                    ("Types", Value::Array(CimBase::Sint32, types)),
                ],
            )
        }
        _ => {
            let Some(value) = key.value(value_name) else {
                return (RET_VALUE_NOT_FOUND, Vec::new());
            };
            let out = match (m.as_str(), value) {
                ("getstringvalue", RegValue::Sz(s) | RegValue::ExpandSz(s)) => {
                    ("sValue", Value::String(s.clone()))
                }
                ("getexpandedstringvalue", RegValue::Sz(s)) => ("sValue", Value::String(s.clone())),
                ("getexpandedstringvalue", RegValue::ExpandSz(s)) => {
                    ("sValue", Value::String(expand(s)))
                }
                ("getmultistringvalue", RegValue::MultiSz(items)) => {
                    ("sValue", strings(items.clone()))
                }
                ("getdwordvalue", RegValue::Dword(d)) => ("uValue", Value::Uint32(*d)),
                ("getqwordvalue", RegValue::Qword(q)) => ("uValue", Value::Uint64(*q)),
                ("getbinaryvalue", RegValue::Binary(b)) => (
                    "uValue",
                    Value::Array(CimBase::Uint8, b.iter().map(|x| Value::Uint8(*x)).collect()),
                ),
                _ => return (RET_TYPE_MISMATCH, Vec::new()),
            };
            (RET_SUCCESS, vec![out])
        }
    }
}

/// An input-parameters instance for `method` with the given values (for tests and for the
/// server's own use); `None` for an unknown method. Unset parameters keep the class
/// default (`hDefKey` = HKLM).
pub fn in_params(method: &str, values: &[(&str, Value)]) -> Option<Instance> {
    let class = crate::data::classes::method_input(method)?;
    let mut inst = Instance {
        class: std::sync::Arc::new(class.clone()),
        values: vec![Slot::Default; class.properties.len()],
        qualifiers: Vec::new(),
        property_qualifiers: Vec::new(),
    };
    for (name, value) in values {
        set(&mut inst, name, value.clone());
    }
    Some(inst)
}
