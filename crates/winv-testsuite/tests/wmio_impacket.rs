//! MS-WMIO objects of another real encoder: impacket's.
//!
//! `tests/python/wmio_corpus.py generate` writes, with impacket 0.13.1 of the test venv, a
//! class through impacket's `PutClass` path (`addNewAttribute` + `marshalMe`), a class and an
//! instance of impacket's MS-WMIO structures with every CIM type, scalar and array, empty and
//! NULL arrays, embedded objects and object arrays, qualifiers of several types and inherited
//! properties, an instance of impacket's `SpawnInstance` and one of its `PutInstance` path
//! (`marshalMe` after setting the attributes), each with the values impacket was given as
//! JSON beside it. Every object must decode completely with `winv-wmio` and give those
//! values, property by property (type, inheritance, qualifiers, value).
//!
//! The other way, impacket reads our encoding of the same objects: every instance decoded
//! above is encoded again by `winv-wmio` and read by impacket's parser, which must return the
//! values we decoded (in its reader's representation, [`impacket_view`]).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use winv_testsuite::python::{python_with, script};
use winv_wmio::{
    decode_encoding_unit, encode_encoding_unit, CimBase, CimType, ClassDef, Object, ObjectKind,
    Qualifier, Slot, Value,
};

/// The names the generator must write: a change that loses one fails here.
const CORPUS: [&str; 5] = [
    "putclass_scalars",
    "class_full",
    "instance_full",
    "spawn",
    "putinstance",
];

fn generate(py: &Path, dir: &Path) -> Vec<String> {
    let out = Command::new(py)
        .arg(script("wmio_corpus.py"))
        .arg("generate")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "generator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    v["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

/// Compares an expected JSON value with a decoded one; `Err` says where they differ.
fn same(expected: &Json, actual: Option<&Value>, at: &str) -> Result<(), String> {
    let fail = || Err(format!("{at}: expected {expected}, decoded {actual:?}"));
    match (expected, actual) {
        (Json::Null, None) => Ok(()),
        (Json::Null, Some(_)) | (_, None) => fail(),
        (Json::Bool(b), Some(Value::Boolean(v))) if b == v => Ok(()),
        (Json::Number(n), Some(v)) => {
            if let Some(i) = v.as_i128() {
                let want = n
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from));
                if want == Some(i) {
                    return Ok(());
                }
                return fail();
            }
            let got = match v {
                Value::Real32(x) => f64::from(*x),
                Value::Real64(x) => *x,
                _ => return fail(),
            };
            if n.as_f64() == Some(got) {
                Ok(())
            } else {
                fail()
            }
        }
        (Json::String(s), Some(v)) if v.as_str() == Some(s.as_str()) => Ok(()),
        (Json::Array(items), Some(Value::Array(_, got))) => {
            if items.len() != got.len() {
                return fail();
            }
            for (k, (e, g)) in items.iter().zip(got).enumerate() {
                same(e, Some(g), &format!("{at}[{k}]"))?;
            }
            Ok(())
        }
        (Json::Object(o), Some(Value::Object(obj))) => {
            let ObjectKind::Instance(i) = &obj.kind else {
                return fail();
            };
            if o["class"].as_str() != Some(i.class.name.as_str()) {
                return fail();
            }
            let props = o["properties"].as_object().unwrap();
            if props.len() != i.class.properties.len() {
                return fail();
            }
            for (name, e) in props {
                same(e, i.get(name), &format!("{at}.{name}"))?;
            }
            Ok(())
        }
        _ => fail(),
    }
}

fn qualifiers_same(expected: &Json, got: &[Qualifier], at: &str) -> Result<(), String> {
    let want = expected.as_object().unwrap();
    for (name, value) in want {
        let q = got
            .iter()
            .find(|q| q.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("{at}: qualifier {name} missing"))?;
        same(value, Some(&q.value), &format!("{at} qualifier {name}"))?;
    }
    if want.len() != got.len() {
        return Err(format!(
            "{at}: {} qualifiers expected, {} decoded",
            want.len(),
            got.len()
        ));
    }
    Ok(())
}

/// Checks one decoded object against the generator's JSON; returns the differences.
fn check(obj: &Object, exp: &Json) -> Vec<String> {
    let mut errors = Vec::new();
    let name = exp["name"].as_str().unwrap();
    let (class, instance): (&ClassDef, _) = match (&obj.kind, exp["kind"].as_str()) {
        (ObjectKind::Class { current, .. }, Some("class")) => (current, None),
        (ObjectKind::Instance(i), Some("instance")) => (&i.class, Some(i)),
        _ => return vec![format!("{name}: not a {}", exp["kind"])],
    };
    if class.name != exp["class"].as_str().unwrap() {
        errors.push(format!("{name}: class {}", class.name));
    }
    if let Err(e) = qualifiers_same(&exp["class_qualifiers"], &class.qualifiers, name) {
        errors.push(e);
    }
    let props = exp["properties"].as_array().unwrap();
    if props.len() != class.properties.len() {
        errors.push(format!(
            "{name}: {} properties expected, {} decoded",
            props.len(),
            class.properties.len()
        ));
    }
    for p in props {
        let pname = p["name"].as_str().unwrap();
        let at = format!("{name}.{pname}");
        let Some(prop) = class.property(pname) else {
            errors.push(format!("{at}: missing"));
            continue;
        };
        if prop.cim_type.to_string() != p["type"].as_str().unwrap() {
            errors.push(format!("{at}: type {}", prop.cim_type));
        }
        if prop.inherited != p["inherited"].as_bool().unwrap() {
            errors.push(format!("{at}: inherited {}", prop.inherited));
        }
        if let Err(e) = qualifiers_same(&p["qualifiers"], &prop.qualifiers, &at) {
            errors.push(e);
        }
        let value = match instance {
            Some(i) => i.get(pname),
            None => match &prop.default {
                Slot::Set(v) => Some(v),
                Slot::Null | Slot::Default => None,
            },
        };
        if let Err(e) = same(&p["value"], value, &at) {
            errors.push(e);
        }
    }
    errors
}

fn impacket_read(py: &Path, files: &[std::path::PathBuf]) -> Json {
    let out = Command::new(py)
        .arg(script("wmio_corpus.py"))
        .arg("read")
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "impacket reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn impacket_encoded_objects_decode_to_what_impacket_meant_and_impacket_reads_ours() {
    let Some(py) = python_with("impacket") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let written = generate(&py, dir.path());
    assert_eq!(written, CORPUS, "the generator wrote another corpus");

    let mut errors = Vec::new();
    let mut ours = Vec::new();
    for name in CORPUS {
        let bytes = std::fs::read(dir.path().join(format!("{name}.bin"))).unwrap();
        let exp: Json = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let obj = match decode_encoding_unit(&bytes) {
            Ok(o) => o,
            Err(e) => {
                errors.push(format!("{name}: does not decode: {e}"));
                continue;
            }
        };
        errors.extend(check(&obj, &exp));
        // Ours, encoded again, must decode to the same values (ours reads ours) ...
        let again = encode_encoding_unit(&obj).unwrap();
        let back = decode_encoding_unit(&again).unwrap();
        errors.extend(
            check(&back, &exp)
                .into_iter()
                .map(|e| format!("re-encoded {e}")),
        );
        let ours_path = dir.path().join(format!("ours_{name}.bin"));
        std::fs::write(&ours_path, &again).unwrap();
        ours.push(ours_path);
    }
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );

    // ... and impacket must read in ours the values we decoded (what impacket meant), as its
    // reader shows them. Its own objects are no oracle: its writer and reader disagree with
    // each other (see `impacket_view`).
    let read = impacket_read(&py, &ours);
    let mut compared = 0;
    for (name, path) in CORPUS.iter().zip(&ours) {
        let seen = &read[path.to_str().unwrap()];
        let obj = decode_encoding_unit(&std::fs::read(path).unwrap()).unwrap();
        let ObjectKind::Instance(inst) = &obj.kind else {
            continue; // impacket's class reader prints defaults with "%s" and drops 0 and below
        };
        if let Some(e) = seen.get("error") {
            // Its instance reader takes a real scalar for a HeapRef: a TypeError.
            let has_real = inst.class.properties.iter().any(|p| {
                !p.cim_type.array && matches!(p.cim_type.base, CimBase::Real32 | CimBase::Real64)
            });
            if !has_real {
                errors.push(format!("{name}: impacket cannot read ours: {e}"));
            }
            continue;
        }
        if seen["class"].as_str() != Some(inst.class.name.as_str()) {
            errors.push(format!("{name}: impacket reads class {}", seen["class"]));
        }
        for p in &inst.class.properties {
            let Some(want) = impacket_view(inst.get(&p.name), p.cim_type) else {
                continue;
            };
            compared += 1;
            let got = &seen["values"][&p.name];
            if *got != want {
                errors.push(format!(
                    "{name}.{}: impacket reads {got} in ours, want {want}",
                    p.name
                ));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert!(compared > 60, "impacket compared only {compared} values");
}

/// A value as impacket 0.13.1's instance reader returns it from a correct encoding, or
/// `None` where that reader cannot return it: arrays of datetimes and references (it reads
/// their HeapRefs as numbers). Booleans are the strings "True" (0xFFFF) and "False",
/// boolean array items the raw 16-bit words, char16 numbers, embedded objects nested.
fn impacket_view(v: Option<&Value>, t: CimType) -> Option<Json> {
    if t.array && matches!(t.base, CimBase::DateTime | CimBase::Reference) {
        return None;
    }
    let Some(v) = v else {
        return Some(Json::Null);
    };
    Some(match v {
        Value::Boolean(b) => Json::from(if *b { "True" } else { "False" }),
        Value::Char16(c) => Json::from(*c),
        Value::Array(CimBase::Boolean, items) => Json::Array(
            items
                .iter()
                .map(|i| {
                    Json::from(if matches!(i, Value::Boolean(true)) {
                        0xffff
                    } else {
                        0
                    })
                })
                .collect(),
        ),
        Value::Array(base, items) => Json::Array(
            items
                .iter()
                .map(|i| impacket_view(Some(i), CimType::scalar(*base)).unwrap_or(Json::Null))
                .collect(),
        ),
        Value::Object(o) => match &o.kind {
            ObjectKind::Instance(i) => {
                let mut values = serde_json::Map::new();
                for p in &i.class.properties {
                    let pv = impacket_view(i.get(&p.name), p.cim_type).unwrap_or(Json::Null);
                    values.insert(p.name.clone(), pv);
                }
                serde_json::json!({"class": i.class.name, "instance": true, "values": values})
            }
            ObjectKind::Class { .. } => Json::Null,
        },
        other => winv_wmio::value_to_json(other),
    })
}
