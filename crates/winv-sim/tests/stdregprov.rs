#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use winv_sim::data::classes::{method_input, method_output, stdregprov};
use winv_sim::data::host::HostData;
use winv_sim::data::profile::profile;
use winv_sim::registry::{RegValue, Registry, HKEY_LOCAL_MACHINE as HKLM, HKEY_USERS};
use winv_sim::stdregprov::{call, in_params};
use winv_wmio::{CimBase, Instance, Value};

fn reg() -> Registry {
    let mut r = Registry::new();
    r.set(HKLM, "SOFTWARE\\Test", "Str", RegValue::Sz("hello".into()));
    r.set(
        HKLM,
        "SOFTWARE\\Test",
        "Exp",
        RegValue::ExpandSz("%SystemRoot%\\x".into()),
    );
    r.set(
        HKLM,
        "SOFTWARE\\Test",
        "Multi",
        RegValue::MultiSz(vec!["a".into(), "b".into()]),
    );
    r.set(HKLM, "SOFTWARE\\Test", "Dw", RegValue::Dword(42));
    r.set(HKLM, "SOFTWARE\\Test", "Qw", RegValue::Qword(1 << 40));
    r.set(HKLM, "SOFTWARE\\Test", "Bin", RegValue::Binary(vec![1, 2]));
    r.key_mut(HKLM, "SOFTWARE\\Test\\Leaf");
    r
}

fn run(r: &Registry, m: &str, sub: &str, name: Option<&str>) -> Instance {
    let mut v = vec![("sSubKeyName", Value::String(sub.into()))];
    if let Some(n) = name {
        v.push(("sValueName", Value::String(n.into())));
    }
    call(r, m, &in_params(m, &v).expect("method")).expect("call")
}

fn ret(i: &Instance) -> u32 {
    match i.get("ReturnValue") {
        Some(Value::Uint32(n)) => *n,
        other => panic!("{other:?}"),
    }
}

#[test]
fn get_values_by_type() {
    let r = reg();
    let s = |v: &str| Some(Value::String(v.into()));
    let i = run(&r, "GetStringValue", "software\\test", Some("str"));
    assert_eq!((ret(&i), i.get("sValue").cloned()), (0, s("hello")));
    let i = run(&r, "GetExpandedStringValue", "SOFTWARE\\Test", Some("Exp"));
    assert_eq!(i.get("sValue").cloned(), s("C:\\Windows\\x"));
    let i = run(&r, "GetMultiStringValue", "SOFTWARE\\Test", Some("Multi"));
    assert_eq!(
        i.get("sValue"),
        Some(&Value::Array(
            CimBase::String,
            vec![Value::String("a".into()), Value::String("b".into())]
        ))
    );
    let i = run(&r, "GetDWORDValue", "SOFTWARE\\Test", Some("Dw"));
    assert_eq!(i.get("uValue"), Some(&Value::Uint32(42)));
    let i = run(&r, "GetQWORDValue", "SOFTWARE\\Test", Some("Qw"));
    assert_eq!(i.get("uValue"), Some(&Value::Uint64(1 << 40)));
    let i = run(&r, "GetBinaryValue", "SOFTWARE\\Test", Some("Bin"));
    assert_eq!(
        i.get("uValue"),
        Some(&Value::Array(
            CimBase::Uint8,
            vec![Value::Uint8(1), Value::Uint8(2)]
        ))
    );
    assert_eq!(i.class.name, "__PARAMETERS");
}

#[test]
fn not_found_and_type_mismatch() {
    let r = reg();
    for m in [
        "GetStringValue",
        "GetDWORDValue",
        "GetQWORDValue",
        "GetBinaryValue",
        "GetMultiStringValue",
        "GetExpandedStringValue",
    ] {
        let i = run(&r, m, "SOFTWARE\\Nope", Some("x"));
        assert_eq!(ret(&i), 2, "{m} missing key");
        let i = run(&r, m, "SOFTWARE\\Test", Some("missing"));
        assert_eq!(ret(&i), 1, "{m} missing value");
    }
    let i = run(&r, "GetStringValue", "SOFTWARE\\Test", Some("Dw"));
    assert_eq!(ret(&i), 0x8004_1005);
    assert_eq!(i.get("sValue"), None);
    let i = run(&r, "GetDWORDValue", "SOFTWARE\\Test", Some("Str"));
    assert_eq!(ret(&i), 0x8004_1005);
    assert_eq!(ret(&run(&r, "EnumKey", "SOFTWARE\\Nope", None)), 2);
    assert_eq!(ret(&run(&r, "EnumValues", "SOFTWARE\\Nope", None)), 2);
}

#[test]
fn enumeration() {
    let r = reg();
    let i = run(&r, "EnumKey", "SOFTWARE", None);
    assert_eq!(
        i.get("sNames"),
        Some(&Value::Array(
            CimBase::String,
            vec![Value::String("Test".into())]
        ))
    );
    let i = run(&r, "EnumKey", "SOFTWARE\\Test\\Leaf", None);
    assert_eq!(
        (ret(&i), i.get("sNames")),
        (0, None),
        "no subkeys: success and NULL"
    );
    let i = run(&r, "EnumValues", "SOFTWARE\\Test\\Leaf", None);
    assert_eq!((ret(&i), i.get("sNames"), i.get("Types")), (0, None, None));
    let i = run(&r, "EnumValues", "SOFTWARE\\Test", None);
    assert_eq!(
        i.get("Types"),
        Some(&Value::Array(
            CimBase::Sint32,
            [1, 2, 7, 4, 11, 3]
                .iter()
                .map(|t| Value::Sint32(*t))
                .collect()
        ))
    );
}

#[test]
fn hive_and_method_errors() {
    let r = reg();
    let p = in_params("EnumKey", &[("hDefKey", Value::Uint32(0x8000_0009))]).unwrap();
    assert_eq!(ret(&call(&r, "EnumKey", &p).unwrap()), 6);
    let p = in_params("EnumKey", &[("hDefKey", Value::Uint32(HKEY_USERS))]).unwrap();
    assert_eq!(ret(&call(&r, "EnumKey", &p).unwrap()), 0);
    assert_eq!(call(&r, "SetStringValue", &p).unwrap_err(), 0x8004_102E);
    assert_eq!(call(&r, "DeleteKey", &p).unwrap_err(), 0x8004_102E);
    let bad = in_params("GetStringValue", &[("sSubKeyName", Value::Uint32(5))]).unwrap();
    assert_eq!(call(&r, "GetStringValue", &bad).unwrap_err(), 0x8004_102F);
}

#[test]
fn signatures_have_ids_and_directions() {
    let c = stdregprov();
    assert_eq!(c.methods.len(), 8);
    let input = method_input("GetStringValue").unwrap();
    let names: Vec<_> = input.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["hDefKey", "sSubKeyName", "sValueName"]);
    let id = |p: &winv_wmio::Property| {
        p.qualifiers
            .iter()
            .find(|q| q.name == "ID")
            .map(|q| q.value.clone())
    };
    assert_eq!(id(&input.properties[2]), Some(Value::Sint32(2)));
    assert_eq!(
        input.properties[0].default,
        winv_wmio::Slot::Set(Value::Uint32(0x8000_0002))
    );
    assert!(input
        .properties
        .iter()
        .all(|p| p.qualifiers.iter().any(|q| q.name == "in")));
    let out = method_output("GetStringValue").unwrap();
    assert_eq!(out.properties[0].name, "ReturnValue");
    assert_eq!(id(&out.properties[1]), Some(Value::Sint32(3)));
}

#[test]
fn generated_host_answers_product_name() {
    let a: IpAddr = "127.0.9.1".parse().unwrap();
    let h = HostData::generate(1, profile("server-2022").unwrap(), "SRV", a, "lab.local");
    let i = run(
        &h.registry,
        "GetStringValue",
        "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
        Some("ProductName"),
    );
    assert_eq!(
        i.get("sValue"),
        Some(&Value::String("Windows Server 2022 Datacenter".into()))
    );
}
