//! JSON rendering of CIM objects and values ([MS-WMIO] 2.2 objects, 2.2.82 types).
//!
//! An instance is `{ "__CLASS": name, prop: value, ... }` with NULL as `null`; a class is a
//! description of its properties, types, qualifiers and methods.

use serde_json::{json, Map, Number, Value as Json};

use crate::object::{ClassDef, Method, Object, ObjectKind, Qualifier, Slot};
use crate::value::Value;

/// A CIM value as JSON: integers (64-bit included) as numbers, reals as numbers (`null`
/// when not finite), datetimes, references and strings as strings, char16 as a one-char
/// string (a number when it is a lone surrogate), arrays as arrays, objects nested.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Sint8(x) => json!(x),
        Value::Uint8(x) => json!(x),
        Value::Sint16(x) => json!(x),
        Value::Uint16(x) => json!(x),
        Value::Sint32(x) => json!(x),
        Value::Uint32(x) => json!(x),
        Value::Sint64(x) => json!(x),
        Value::Uint64(x) => json!(x),
        Value::Real32(x) => Number::from_f64(f64::from(*x)).map_or(Json::Null, Json::Number),
        Value::Real64(x) => Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => json!(b),
        Value::String(s) | Value::DateTime(s) | Value::Reference(s) => json!(s),
        Value::Char16(c) => match char::from_u32(u32::from(*c)) {
            Some(ch) => json!(ch.to_string()),
            None => json!(c),
        },
        Value::Object(o) => to_json(o),
        Value::Array(_, items) => Json::Array(items.iter().map(value_to_json).collect()),
    }
}

fn slot_json(s: &Slot) -> Json {
    match s {
        Slot::Set(v) => value_to_json(v),
        Slot::Null | Slot::Default => Json::Null,
    }
}

fn qualifiers_json(qs: &[Qualifier]) -> Json {
    let mut m = Map::new();
    for q in qs {
        m.insert(q.name.clone(), value_to_json(&q.value));
    }
    Json::Object(m)
}

fn params_json(o: &Option<Box<Object>>) -> Json {
    match o.as_deref().and_then(Object::class_def) {
        Some(c) => Json::Array(
            c.properties
                .iter()
                .map(|p| json!({"name": p.name, "type": p.cim_type.to_string(), "qualifiers": qualifiers_json(&p.qualifiers)}))
                .collect(),
        ),
        None => Json::Null,
    }
}

fn method_json(m: &Method) -> Json {
    json!({
        "name": m.name,
        "qualifiers": qualifiers_json(&m.qualifiers),
        "in": params_json(&m.input),
        "out": params_json(&m.output),
    })
}

fn class_json(c: &ClassDef) -> Json {
    let props: Vec<Json> = c
        .properties
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "type": p.cim_type.to_string(),
                "inherited": p.inherited,
                "qualifiers": qualifiers_json(&p.qualifiers),
                "default": slot_json(&p.default),
            })
        })
        .collect();
    json!({
        "__CLASS": c.name,
        "__SUPERCLASS": c.superclass(),
        "__DERIVATION": c.derivation,
        "qualifiers": qualifiers_json(&c.qualifiers),
        "properties": props,
        "methods": c.methods.iter().map(method_json).collect::<Vec<_>>(),
    })
}

/// An object as JSON: an instance as `{ "__CLASS": ..., props... }` (a `Default` slot shows
/// the class default), a class as its description.
pub fn to_json(obj: &Object) -> Json {
    match &obj.kind {
        ObjectKind::Instance(i) => {
            let mut m = Map::new();
            m.insert("__CLASS".into(), json!(i.class.name));
            for p in &i.class.properties {
                m.insert(
                    p.name.clone(),
                    i.get(&p.name).map_or(Json::Null, value_to_json),
                );
            }
            Json::Object(m)
        }
        ObjectKind::Class { current, .. } => class_json(current),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::object::Instance;
    use crate::value::{CimBase, CimType};

    #[test]
    fn instance_json_keeps_null_and_large_integers() {
        let c = ClassDef::new("C", &[])
            .with_property("Big", CimType::scalar(CimBase::Uint64), vec![])
            .with_property("Gone", CimType::scalar(CimBase::String), vec![])
            .with_property("When", CimType::scalar(CimBase::DateTime), vec![])
            .with_property("L", CimType::array_of(CimBase::Sint8), vec![]);
        let mut i = Instance::new(c);
        i.set("Big", Value::Uint64(u64::MAX)).unwrap();
        i.set("When", Value::DateTime("20210608000035.000000+000".into()))
            .unwrap();
        i.set(
            "L",
            Value::Array(CimBase::Sint8, vec![Value::Sint8(-1), Value::Sint8(2)]),
        )
        .unwrap();
        let j = to_json(&Object::from_instance(i));
        assert_eq!(j["__CLASS"], "C");
        assert_eq!(j["Big"].as_u64(), Some(u64::MAX));
        assert!(j["Gone"].is_null());
        assert_eq!(j["When"], "20210608000035.000000+000");
        assert_eq!(j["L"], json!([-1, 2]));
    }

    #[test]
    fn class_json_lists_properties_and_methods() {
        let c = ClassDef::new("C", &["P"])
            .with_property(
                "A",
                CimType::scalar(CimBase::Uint32),
                vec![Qualifier::key()],
            )
            .with_method(
                "M",
                Some(ClassDef::parameters(
                    &[("X", CimType::scalar(CimBase::String))],
                    true,
                )),
                None,
            );
        let j = to_json(&Object::class(c));
        assert_eq!(j["__SUPERCLASS"], "P");
        assert_eq!(j["properties"][0]["type"], "uint32");
        assert_eq!(j["properties"][0]["qualifiers"]["key"], true);
        assert_eq!(j["methods"][0]["in"][0]["name"], "X");
        assert!(j["methods"][0]["out"].is_null());
    }
}
