//! MS-WMIO fixtures (`../shared/fixtures/wmio/`): every `.bin` decodes, agrees with the
//! `.mof` beside it (read by the small MOF reader below, for the subset those files use),
//! and survives decode -> encode -> decode unchanged.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use winv_testsuite::fixtures::require_fixture;
use winv_wmio::{
    decode_encoding_unit, encode_encoding_unit, ClassDef, Method, Object, ObjectKind, Qualifier,
    Value,
};

// ---------------------------------------------------------------- a small MOF reader

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    P(char),
}

fn tokenize(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '"' {
            let mut s = String::new();
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' && i + 1 < c.len() {
                    i += 1;
                }
                s.push(c[i]);
                i += 1;
            }
            i += 1;
            // Adjacent string literals concatenate.
            if let Some(Tok::Str(prev)) = out.last_mut() {
                prev.push_str(&s);
            } else {
                out.push(Tok::Str(s));
            }
            continue;
        } else if ch.is_ascii_digit()
            || (ch == '-' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(c[start..i].iter().collect()));
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else {
            out.push(Tok::P(ch));
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum MofVal {
    Bool(bool),
    Str(String),
    Num(String),
    List(Vec<MofVal>),
    Null,
}

#[derive(Debug, Default)]
struct MofProp {
    quals: Vec<(String, MofVal)>,
    ty: String,
    name: String,
    default: Option<MofVal>,
}

#[derive(Debug)]
struct MofMethod {
    quals: Vec<(String, MofVal)>,
    ret: String,
    name: String,
    params: Vec<MofProp>,
}

#[derive(Debug, Default)]
struct MofClass {
    quals: Vec<(String, MofVal)>,
    name: String,
    supers: Vec<String>,
    props: Vec<MofProp>,
    methods: Vec<MofMethod>,
}

#[derive(Debug, Default)]
struct Mof {
    namespace: Option<String>,
    server: Option<String>,
    classes: Vec<MofClass>,
    instances: Vec<(String, Vec<(String, MofVal)>)>,
}

struct Parser {
    t: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Tok {
        let t = self.t.get(self.i).cloned().expect("mof: unexpected end");
        self.i += 1;
        t
    }
    fn is(&self, p: char) -> bool {
        self.peek() == Some(&Tok::P(p))
    }
    fn expect(&mut self, p: char) {
        let t = self.next();
        assert_eq!(t, Tok::P(p), "mof: expected {p:?}");
    }
    fn ident(&mut self) -> String {
        match self.next() {
            Tok::Ident(s) => s,
            t => panic!("mof: expected identifier, got {t:?}"),
        }
    }
    fn literal(&mut self) -> MofVal {
        match self.next() {
            Tok::Str(s) => MofVal::Str(s),
            Tok::Num(n) => MofVal::Num(n),
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => MofVal::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => MofVal::Bool(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => MofVal::Null,
            Tok::P('{') => {
                let mut items = Vec::new();
                while !self.is('}') {
                    items.push(self.literal());
                    if self.is(',') {
                        self.next();
                    }
                }
                self.expect('}');
                MofVal::List(items)
            }
            t => panic!("mof: expected literal, got {t:?}"),
        }
    }
    fn qualifiers(&mut self) -> Vec<(String, MofVal)> {
        let mut out = Vec::new();
        if !self.is('[') {
            return out;
        }
        self.next();
        loop {
            let name = self.ident();
            let value = if self.is('(') {
                self.next();
                let v = self.literal();
                self.expect(')');
                v
            } else if self.is('{') {
                self.literal()
            } else {
                MofVal::Bool(true)
            };
            out.push((name, value));
            if self.is(',') {
                self.next();
                continue;
            }
            self.expect(']');
            return out;
        }
    }
    fn class(&mut self, quals: Vec<(String, MofVal)>) -> MofClass {
        let name = self.ident();
        let mut supers = Vec::new();
        if self.is(':') {
            self.next();
            while let Some(Tok::Ident(_)) = self.peek() {
                supers.push(self.ident());
            }
        }
        self.expect('{');
        let mut c = MofClass {
            quals,
            name,
            supers,
            ..MofClass::default()
        };
        while !self.is('}') {
            let quals = self.qualifiers();
            let ty = self.ident();
            let name = self.ident();
            if self.is('(') {
                self.next();
                let mut params = Vec::new();
                while !self.is(')') {
                    let quals = self.qualifiers();
                    let ty = self.ident();
                    let name = self.ident();
                    if self.is('[') {
                        self.next();
                        self.expect(']');
                    }
                    params.push(MofProp {
                        quals,
                        ty,
                        name,
                        default: None,
                    });
                    if self.is(',') {
                        self.next();
                    }
                }
                self.expect(')');
                self.expect(';');
                c.methods.push(MofMethod {
                    quals,
                    ret: ty,
                    name,
                    params,
                });
            } else {
                if self.is('[') {
                    self.next();
                    self.expect(']');
                }
                let default = if self.is('=') {
                    self.next();
                    Some(self.literal())
                } else {
                    None
                };
                self.expect(';');
                c.props.push(MofProp {
                    quals,
                    ty,
                    name,
                    default,
                });
            }
        }
        self.expect('}');
        self.expect(';');
        c
    }
    fn file(&mut self) -> Mof {
        let mut m = Mof::default();
        while self.peek().is_some() {
            let quals = self.qualifiers();
            let kw = self.ident();
            if kw == "class" {
                let c = self.class(quals);
                m.classes.push(c);
            } else if kw == "instance" {
                assert_eq!(self.ident(), "of");
                let class = self.ident();
                self.expect('{');
                let mut values = Vec::new();
                while !self.is('}') {
                    let name = self.ident();
                    self.expect('=');
                    values.push((name, self.literal()));
                    self.expect(';');
                }
                self.expect('}');
                self.expect(';');
                m.instances.push((class, values));
            } else {
                panic!("mof: unexpected {kw}");
            }
        }
        m
    }
}

fn parse_mof(src: &str) -> Mof {
    let mut m = Parser {
        t: tokenize(src),
        i: 0,
    }
    .file();
    for line in src.lines() {
        let field = |tag: &str| {
            line.trim()
                .strip_prefix(tag)
                .map(|r| r.trim().trim_matches('"').replace("\\\\", "\\"))
        };
        if let Some(v) = field("// @namespace") {
            m.namespace = Some(v);
        }
        if let Some(v) = field("// @servername") {
            m.server = Some(v);
        }
    }
    m
}

// ---------------------------------------------------------------- comparing meaning

const BUILTIN: [&str; 15] = [
    "sint8", "uint8", "sint16", "uint16", "sint32", "uint32", "sint64", "uint64", "real32",
    "real64", "boolean", "string", "datetime", "char16", "object",
];

fn same_value(mof: &MofVal, v: &Value) -> bool {
    match (mof, v) {
        (MofVal::Bool(b), Value::Boolean(x)) => b == x,
        (MofVal::Str(s), other) => other.as_str() == Some(s.as_str()),
        (MofVal::Num(n), other) => {
            let parsed = if let Some(h) = n.strip_prefix("0x") {
                i128::from_str_radix(h, 16).ok()
            } else {
                n.parse::<i128>().ok()
            };
            match (parsed, other) {
                (Some(p), o) if o.as_i128().is_some() => o.as_i128() == Some(p),
                (_, Value::Real32(f)) => n.parse::<f32>().ok() == Some(*f),
                (_, Value::Real64(f)) => n.parse::<f64>().ok() == Some(*f),
                _ => false,
            }
        }
        (MofVal::List(items), Value::Array(_, vs)) => {
            items.len() == vs.len() && items.iter().zip(vs).all(|(a, b)| same_value(a, b))
        }
        _ => false,
    }
}

/// Every qualifier of the MOF is in the decoded set with the same value. Returns the
/// decoded qualifiers that the MOF does not show, except the two this MOF rendering
/// leaves out: `CIMTYPE`, which every property carries ([MS-WMI] 2.2.32), and the
/// qualifier of an element that has exactly one (the go-msrpc renderer prints a qualifier
/// list only when it has two or more entries: `[read, write] string Data1` is shown,
/// `[read] string Name` is not).
fn check_qualifiers(what: &str, mof: &[(String, MofVal)], got: &[Qualifier]) -> Vec<String> {
    for (name, val) in mof {
        let q = got
            .iter()
            .find(|q| q.name.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("{what}: qualifier {name} missing; decoded {got:?}"));
        assert!(
            same_value(val, &q.value),
            "{what}: qualifier {name}: mof {val:?}, decoded {:?}",
            q.value
        );
    }
    let extras: Vec<String> = got
        .iter()
        .filter(|q| !q.name.eq_ignore_ascii_case("CIMTYPE"))
        .filter(|q| !mof.iter().any(|(n, _)| n.eq_ignore_ascii_case(&q.name)))
        .map(|q| format!("{what}: {} flavor {:#x}", q.name, q.flavor))
        .collect();
    if mof.is_empty() && extras.len() == 1 {
        return Vec::new();
    }
    extras
}

/// The MOF type names the decoded property's CIM type (base type; a non-builtin name is
/// an embedded object of that class, named by the `CIMTYPE` qualifier).
fn check_type(what: &str, mof_ty: &str, p: &winv_wmio::Property) {
    if BUILTIN.contains(&mof_ty.to_ascii_lowercase().as_str()) {
        assert_eq!(
            p.cim_type.base.mof_name(),
            mof_ty.to_ascii_lowercase(),
            "{what}: type"
        );
    } else {
        assert_eq!(
            p.cim_type.base,
            winv_wmio::CimBase::Object,
            "{what}: type {mof_ty}"
        );
        let cimtype = p
            .qualifiers
            .iter()
            .find(|q| q.name.eq_ignore_ascii_case("CIMTYPE"));
        assert_eq!(
            cimtype
                .and_then(|q| q.value.as_str())
                .map(str::to_ascii_lowercase),
            Some(format!("object:{}", mof_ty.to_ascii_lowercase())),
            "{what}: CIMTYPE of embedded object"
        );
    }
}

fn params(o: &Option<Box<Object>>) -> &[winv_wmio::Property] {
    o.as_deref()
        .and_then(Object::class_def)
        .map_or(&[], |c| c.properties.as_slice())
}

fn check_method(class: &str, mm: &MofMethod, m: &Method, extras: &mut Vec<String>) {
    let what = format!("{class}.{}", mm.name);
    extras.extend(check_qualifiers(&what, &mm.quals, &m.qualifiers));
    let (ins, outs) = (params(&m.input), params(&m.output));
    for p in &mm.params {
        let has = |n: &str| p.quals.iter().any(|(q, _)| q.eq_ignore_ascii_case(n));
        let mut found = false;
        for (dir, list) in [("in", ins), ("out", outs)] {
            if has(dir) {
                let d = list
                    .iter()
                    .find(|d| d.name == p.name)
                    .unwrap_or_else(|| panic!("{what}: {dir} parameter {} missing", p.name));
                check_type(&format!("{what}({})", p.name), &p.ty, d);
                extras.extend(check_qualifiers(
                    &format!("{what}({})", p.name),
                    &p.quals,
                    &d.qualifiers,
                ));
                found = true;
            }
        }
        assert!(found, "{what}: parameter {} has neither in nor out", p.name);
    }
    let n_in = mm
        .params
        .iter()
        .filter(|p| p.quals.iter().any(|(q, _)| q.eq_ignore_ascii_case("in")))
        .count();
    assert_eq!(ins.len(), n_in, "{what}: in parameter count");
    let ret = outs
        .iter()
        .find(|p| p.name == "ReturnValue")
        .unwrap_or_else(|| panic!("{what}: no ReturnValue"));
    check_type(&format!("{what} return"), &mm.ret, ret);
}

fn check_class(mc: &MofClass, c: &ClassDef) -> Vec<String> {
    let mut extras = Vec::new();
    assert_eq!(mc.supers, c.derivation, "{}: derivation", mc.name);
    extras.extend(check_qualifiers(&mc.name, &mc.quals, &c.qualifiers));
    let names: Vec<&str> = c.properties.iter().map(|p| p.name.as_str()).collect();
    let mof_names: Vec<&str> = mc.props.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        mof_names, names,
        "{}: property names in declaration order",
        mc.name
    );
    for (mp, p) in mc.props.iter().zip(&c.properties) {
        let what = format!("{}.{}", mc.name, p.name);
        check_type(&what, &mp.ty, p);
        extras.extend(check_qualifiers(&what, &mp.quals, &p.qualifiers));
        match (&mp.default, &p.default) {
            (Some(v), winv_wmio::Slot::Set(d)) => {
                assert!(same_value(v, d), "{what}: default {v:?} vs {d:?}")
            }
            (Some(v), other) => panic!("{what}: mof default {v:?}, decoded {other:?}"),
            (None, winv_wmio::Slot::Set(d)) => {
                assert!(
                    p.inherited,
                    "{what}: decoded default {d:?} the mof does not show"
                )
            }
            (None, _) => {}
        }
    }
    let mnames: Vec<&str> = c.methods.iter().map(|m| m.name.as_str()).collect();
    let mof_mnames: Vec<&str> = mc.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(mof_mnames, mnames, "{}: methods", mc.name);
    for (mm, m) in mc.methods.iter().zip(&c.methods) {
        check_method(&mc.name, mm, m, &mut extras);
    }
    extras
}

fn load(name: &str) -> Option<(Vec<u8>, Option<Mof>)> {
    let dir = require_fixture("wmio")?;
    let bin = std::fs::read(dir.join(name)).expect("read fixture");
    let mof_path = dir.join(Path::new(name).with_extension("mof"));
    let mof = mof_path
        .exists()
        .then(|| parse_mof(&std::fs::read_to_string(mof_path).expect("read mof")));
    Some((bin, mof))
}

fn check_against_mof(obj: &Object, mof: &Mof) -> Vec<String> {
    let dec = obj.decoration.as_ref().expect("fixtures are decorated");
    assert_eq!(Some(&dec.namespace), mof.namespace.as_ref(), "namespace");
    assert_eq!(Some(&dec.server), mof.server.as_ref(), "server");
    let mut extras = Vec::new();
    match &obj.kind {
        ObjectKind::Class { parent, current } => {
            for mc in &mof.classes {
                let c = [parent, current]
                    .into_iter()
                    .find(|c| c.name == mc.name)
                    .unwrap_or_else(|| {
                        panic!("mof class {} is neither the parent nor the class", mc.name)
                    });
                extras.extend(check_class(mc, c));
            }
            assert!(
                mof.classes.iter().any(|c| c.name == current.name),
                "mof describes the class"
            );
        }
        ObjectKind::Instance(i) => {
            let mc = mof
                .classes
                .iter()
                .find(|c| c.name == i.class.name)
                .expect("mof class of the instance");
            extras.extend(check_class(mc, &i.class));
            let (class, values) = mof.instances.first().expect("mof instance");
            assert_eq!(class, &i.class.name);
            assert_eq!(
                values.len(),
                i.class.properties.len(),
                "every property has a value in the mof"
            );
            for (name, v) in values {
                let got = i.get(name);
                match v {
                    MofVal::Null => assert_eq!(got, None, "{name}"),
                    v => assert!(
                        got.is_some_and(|g| same_value(v, g)),
                        "{name}: mof {v:?}, decoded {got:?}"
                    ),
                }
            }
        }
    }
    extras.sort();
    extras.dedup();
    extras
}

fn round_trip(obj: &Object) {
    let bytes = encode_encoding_unit(obj).expect("encode");
    let again = decode_encoding_unit(&bytes).expect("decode re-encoded");
    assert_eq!(&again, obj, "decode -> encode -> decode changed the object");
}

fn summary(obj: &Object) -> (String, usize, usize) {
    let c = obj.class_def().expect("class");
    (c.name.clone(), c.properties.len(), c.methods.len())
}

fn fixture_case(name: &str, expect: (&str, usize, usize)) {
    let Some((bin, mof)) = load(name) else { return };
    let obj = decode_encoding_unit(&bin).expect("decode fixture");
    let s = summary(&obj);
    assert_eq!(
        (s.0.as_str(), s.1, s.2),
        expect,
        "{name}: class, properties, methods"
    );
    let mof = mof.expect("mof beside the bin");
    let extras = check_against_mof(&obj, &mof);
    assert!(
        extras.is_empty(),
        "{name}: qualifiers not in the mof: {extras:?}"
    );
    round_trip(&obj);
}

#[test]
fn structure_example_matches_mof() {
    fixture_case("structure_example.bin", ("MyClass", 4, 0));
}

#[test]
fn instance_encoding_matches_mof() {
    fixture_case("instance_encoding.bin", ("MyClass", 4, 0));
    let Some((bin, _)) = load("instance_encoding.bin") else {
        return;
    };
    let obj = decode_encoding_unit(&bin).unwrap();
    let i = obj.instance().expect("an instance");
    assert_eq!(i.get("Id"), Some(&Value::Sint32(123)));
    assert_eq!(i.get("Data1"), Some(&Value::String("StringField".into())));
    assert_eq!(
        i.get("Array"),
        Some(&Value::Array(
            winv_wmio::CimBase::Uint32,
            vec![Value::Uint32(1), Value::Uint32(2), Value::Uint32(3)]
        ))
    );
    assert_eq!(i.rel_path().as_deref(), Some("MyClass.Id=123"));
}

#[test]
fn class_encoding_with_methods_matches_mof() {
    fixture_case("class_encoding_with_methods.bin", ("MyClass2", 4, 1));
}

#[test]
fn win32_process_matches_mof() {
    fixture_case("win32_process.bin", ("Win32_Process", 45, 7));
}

/// The EncodingUnit inside an OBJREF_CUSTOM ([MS-DCOM] 2.2.18.6; [MS-WMI] 2.2.4.1): after
/// `MEOW`, flags, IID, CLSID, cbExtension and size (48 octets). Temporary: winv-dcom decodes
/// OBJREFs properly.
fn objref_custom_payload(b: &[u8]) -> &[u8] {
    assert_eq!(&b[..4], b"MEOW");
    assert_eq!(
        u32::from_le_bytes(b[4..8].try_into().unwrap()),
        4,
        "OBJREF_CUSTOM"
    );
    let cb_ext = u32::from_le_bytes(b[40..44].try_into().unwrap()) as usize;
    &b[48 + cb_ext..]
}

#[test]
fn impacket_win32_currenttime_objref() {
    let Some((bin, _)) = load("impacket_win32_currenttime.objref.bin") else {
        return;
    };
    let obj = decode_encoding_unit(objref_custom_payload(&bin)).expect("decode");
    let i = obj.instance().expect("an instance");
    assert_eq!(i.class.name, "Win32_UTCTime");
    assert_eq!(i.class.derivation, ["Win32_CurrentTime"]);
    for (name, v) in [
        ("Year", 2021),
        ("Month", 6),
        ("Day", 8),
        ("DayOfWeek", 2),
        ("Hour", 0),
        ("Minute", 0),
        ("Second", 35),
    ] {
        assert_eq!(i.get(name), Some(&Value::Uint32(v)), "{name}");
    }
    assert_eq!(i.get("Hour"), Some(&Value::Uint32(0)));
    assert_eq!(i.get("Milliseconds"), None);
    assert_eq!(
        i.slot("Milliseconds"),
        Some(&winv_wmio::Slot::Default),
        "NdTable: NULL, default"
    );
    let d = obj.decoration.as_ref().unwrap();
    assert_eq!(
        (d.server.as_str(), d.namespace.as_str()),
        ("SEVENX64", "root\\cimv2")
    );
    assert_eq!(i.rel_path().as_deref(), Some("Win32_UTCTime=@"));
    let j = winv_wmio::to_json(&obj);
    assert_eq!(j["Year"], 2021);
    assert!(j["Milliseconds"].is_null());
    round_trip(&obj);
}

#[test]
fn every_bin_decodes() {
    let Some(dir) = require_fixture("wmio") else {
        return;
    };
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "bin") {
            let b = std::fs::read(&p).unwrap();
            let data = if b.starts_with(b"MEOW") {
                objref_custom_payload(&b)
            } else {
                &b[..]
            };
            let obj = decode_encoding_unit(data).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            round_trip(&obj);
            n += 1;
        }
    }
    assert!(n >= 5, "expected the five fixtures, found {n}");
}

/// The real Windows instance (its class part as Windows encodes it, every property with its
/// qualifiers) sent by two enumerators in an `ObjectArray` ([MS-WMI] 2.2.14.3): the class
/// memo keeps its part (Windows' encoding spends no more than the memo allows) and the
/// second enumerator decodes the same object without decoding the part again.
#[test]
fn a_real_windows_class_part_is_remembered_by_the_class_memo() {
    use std::sync::Arc;
    use winv_wmio::object_array::{decode_object_array, ClassCache, ClassMemo, TYPE_INSTANCE};
    let Some((bin, _)) = load("impacket_win32_currenttime.objref.bin") else {
        return;
    };
    let unit = objref_custom_payload(&bin);
    let len = u32::from_le_bytes(unit[4..8].try_into().unwrap()) as usize;
    let block = &unit[8..8 + len];
    let put = |v: &mut Vec<u8>, n: usize| v.extend_from_slice(&(n as u32).to_le_bytes());
    let mut inner = Vec::new();
    put(&mut inner, 0x18);
    put(&mut inner, block.len());
    inner.extend_from_slice(&[7; 16]);
    inner.extend_from_slice(block);
    let mut d3 = Vec::new();
    put(&mut d3, 12);
    put(&mut d3, 9 + inner.len());
    put(&mut d3, 1);
    put(&mut d3, 9);
    put(&mut d3, inner.len());
    d3.push(TYPE_INSTANCE);
    d3.extend_from_slice(&inner);
    let mut array = Vec::new();
    put(&mut array, 0);
    array.extend_from_slice(b"WBEMDATA");
    put(&mut array, 0x1a);
    put(&mut array, d3.len() + 8);
    put(&mut array, 0);
    array.extend_from_slice(&[1, 0]);
    put(&mut array, 8);
    put(&mut array, d3.len());
    array.extend_from_slice(&d3);

    let alone = decode_encoding_unit(unit).expect("decode");
    let memo = Arc::new(ClassMemo::new(8, 1 << 20));
    for _ in 0..2 {
        let mut cache = ClassCache::with_memo(4, memo.clone());
        let got = decode_object_array(&array, &mut cache).expect("object array");
        assert_eq!(got.objects, std::slice::from_ref(&alone));
    }
    assert_eq!((memo.len(), memo.hits()), (1, 1));
}
