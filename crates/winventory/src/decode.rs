//! `winventory decode`: decodes an MS-WMIO EncodingUnit or a whole OBJREF from a file
//! and prints it readably or as JSON. For debugging and tests.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;
use winv_dcom::clsid::CLSID_WBEM_CLASS_OBJECT;
use winv_dcom::{DualStringArray, MInterfacePointer, ObjRef};
use winv_wmio::{ClassDef, Object, ObjectKind, Slot};

use crate::query::value_text;

/// What the file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// An MS-WMIO EncodingUnit (signature 0x12345678) or a bare ObjectBlock.
    Wmio,
    /// An OBJREF ("MEOW"): standard, handler, extended or custom; a custom
    /// IWbemClassObject is decoded down to its object.
    Objref,
}

/// Arguments of `winventory decode`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// What the file holds.
    #[arg(value_enum)]
    pub kind: Kind,
    /// The file.
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn run(args: DecodeArgs) -> Result<ExitCode> {
    let data =
        std::fs::read(&args.file).with_context(|| format!("read {}", args.file.display()))?;
    let out = decode(args.kind, &data, args.json)?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Decodes `data` as `kind` and renders it.
pub fn decode(kind: Kind, data: &[u8], as_json: bool) -> Result<String> {
    match kind {
        Kind::Wmio => {
            let obj = decode_wmio(data)?;
            Ok(if as_json {
                format!("{:#}\n", winv_wmio::to_json(&obj))
            } else {
                object_text(&obj)
            })
        }
        Kind::Objref => {
            let objref = ObjRef::decode(data).context("decode objref")?;
            let object = match &objref {
                ObjRef::Custom { clsid, .. } if *clsid == CLSID_WBEM_CLASS_OBJECT => {
                    let p = MInterfacePointer {
                        data: data.to_vec(),
                    };
                    let unit = winv_wmi::marshal::class_object_from_pointer(&p)
                        .context("IWbemClassObject objref")?;
                    Some(winv_wmio::decode_encoding_unit(&unit).context("decode encoding unit")?)
                }
                _ => None,
            };
            Ok(if as_json {
                let mut j = objref_json(&objref);
                if let Some(o) = &object {
                    j["object"] = winv_wmio::to_json(o);
                }
                format!("{j:#}\n")
            } else {
                let mut s = objref_text(&objref);
                if let Some(o) = &object {
                    s.push_str(&object_text(o));
                }
                s
            })
        }
    }
}

fn decode_wmio(data: &[u8]) -> Result<Object> {
    if data.starts_with(&0x1234_5678u32.to_le_bytes()) {
        Ok(winv_wmio::decode_encoding_unit(data).context("decode encoding unit")?)
    } else if data.starts_with(b"MEOW") {
        bail!("this is an objref; use `winventory decode objref`")
    } else {
        Ok(winv_wmio::decode_object_block(data).context("decode object block")?)
    }
}

fn bindings_json(d: &DualStringArray) -> serde_json::Value {
    json!({
        "string_bindings": d.string_bindings.iter().map(|b| json!({
            "tower_id": b.tower_id, "network_addr": b.network_addr})).collect::<Vec<_>>(),
        "security_bindings": d.security_bindings.iter().map(|b| json!({
            "authn_svc": b.authn_svc, "principal_name": b.principal_name})).collect::<Vec<_>>(),
    })
}

fn objref_json(o: &ObjRef) -> serde_json::Value {
    let std_json = |s: &winv_dcom::StdObjRef| {
        json!({"flags": s.flags, "public_refs": s.public_refs,
               "oxid": format!("{:#018x}", s.oxid), "oid": format!("{:#018x}", s.oid),
               "ipid": s.ipid.to_string()})
    };
    match o {
        ObjRef::Standard { iid, std, resolver } => json!({"type": "standard",
            "iid": iid.to_string(), "std": std_json(std), "resolver": bindings_json(resolver)}),
        ObjRef::Handler {
            iid,
            std,
            clsid,
            resolver,
        } => json!({"type": "handler",
            "iid": iid.to_string(), "clsid": clsid.to_string(), "std": std_json(std),
            "resolver": bindings_json(resolver)}),
        ObjRef::Extended {
            iid,
            std,
            resolver,
            elements,
        } => json!({"type": "extended",
            "iid": iid.to_string(), "std": std_json(std), "resolver": bindings_json(resolver),
            "elements_len": elements.len()}),
        ObjRef::Custom {
            iid,
            clsid,
            extension,
            reserved,
            object_data,
        } => json!({"type": "custom",
            "iid": iid.to_string(), "clsid": clsid.to_string(), "extension": extension,
            "reserved": reserved, "object_data_len": object_data.len()}),
    }
}

fn iface_name(u: &uuid::Uuid) -> String {
    match winv_dcerpc::interfaces::name(u) {
        Some(n) => format!("{u} ({n})"),
        None => u.to_string(),
    }
}

fn objref_text(o: &ObjRef) -> String {
    let mut s = String::new();
    let std_text = |s: &mut String, st: &winv_dcom::StdObjRef| {
        let _ = writeln!(
            s,
            "std: flags {:#x} public_refs {} oxid {:#018x} oid {:#018x} ipid {}",
            st.flags, st.public_refs, st.oxid, st.oid, st.ipid
        );
    };
    let res_text = |s: &mut String, d: &DualStringArray| {
        for b in &d.string_bindings {
            let _ = writeln!(s, "binding: tower {:#x} {}", b.tower_id, b.network_addr);
        }
        for b in &d.security_bindings {
            let _ = writeln!(
                s,
                "security binding: authn {:#x} {}",
                b.authn_svc, b.principal_name
            );
        }
    };
    match o {
        ObjRef::Standard { iid, std, resolver } => {
            let _ = writeln!(s, "objref standard iid {}", iface_name(iid));
            std_text(&mut s, std);
            res_text(&mut s, resolver);
        }
        ObjRef::Handler {
            iid,
            std,
            clsid,
            resolver,
        } => {
            let _ = writeln!(s, "objref handler iid {} clsid {clsid}", iface_name(iid));
            std_text(&mut s, std);
            res_text(&mut s, resolver);
        }
        ObjRef::Extended {
            iid,
            std,
            resolver,
            elements,
        } => {
            let _ = writeln!(s, "objref extended iid {}", iface_name(iid));
            std_text(&mut s, std);
            res_text(&mut s, resolver);
            let _ = writeln!(s, "elements: {} bytes", elements.len());
        }
        ObjRef::Custom {
            iid,
            clsid,
            object_data,
            ..
        } => {
            let _ = writeln!(
                s,
                "objref custom iid {} clsid {clsid} ({} bytes of object data)",
                iface_name(iid),
                object_data.len()
            );
        }
    }
    s
}

fn class_text(s: &mut String, c: &ClassDef) {
    let sup = c
        .superclass()
        .map(|p| format!(" : {p}"))
        .unwrap_or_default();
    let _ = writeln!(s, "class {}{sup}", c.name);
    for q in &c.qualifiers {
        let _ = writeln!(s, "  [{} = {}]", q.name, value_text(Some(&q.value)));
    }
    for p in &c.properties {
        let quals: Vec<String> = p.qualifiers.iter().map(|q| q.name.clone()).collect();
        let def = match &p.default {
            Slot::Set(v) => format!(" = {}", value_text(Some(v))),
            Slot::Null => String::new(),
            Slot::Default => " (inherited default)".into(),
        };
        let q = if quals.is_empty() {
            String::new()
        } else {
            format!("[{}] ", quals.join(", "))
        };
        let _ = writeln!(s, "  {q}{} {}{def}", p.cim_type, p.name);
    }
    for m in &c.methods {
        let sig = |o: &Option<Box<Object>>| {
            o.as_deref()
                .and_then(Object::class_def)
                .map(|c| {
                    c.properties
                        .iter()
                        .map(|p| format!("{} {}", p.cim_type, p.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let _ = writeln!(
            s,
            "  method {}({}) -> ({})",
            m.name,
            sig(&m.input),
            sig(&m.output)
        );
    }
}

/// An object as text: a class with its properties, qualifiers and methods, or an
/// instance with one `name = value` line per property.
pub fn object_text(o: &Object) -> String {
    let mut s = String::new();
    if let Some(d) = &o.decoration {
        let _ = writeln!(s, "from \\\\{}\\{}", d.server, d.namespace);
    }
    match &o.kind {
        ObjectKind::Class { current, .. } => class_text(&mut s, current),
        ObjectKind::Instance(i) => {
            let _ = writeln!(s, "instance of {}", i.class.name);
            for (p, slot) in i.class.properties.iter().zip(&i.values) {
                let v = match slot {
                    Slot::Null => "NULL".to_string(),
                    _ => i
                        .get(&p.name)
                        .map_or_else(|| "NULL".to_string(), |v| value_text(Some(v))),
                };
                let _ = writeln!(s, "  {} = {v}", p.name);
            }
        }
    }
    s
}
