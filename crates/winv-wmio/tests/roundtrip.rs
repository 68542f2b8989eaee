//! Round trips of random classes and instances, and "arbitrary bytes never panic".

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use proptest::prelude::*;
use winv_wmio::object_array::{decode_object_array, encode_object_array, ClassCache, SentClasses};
use winv_wmio::{
    decode_encoding_unit, decode_object_block, encode_encoding_unit, encode_object_block,
    fuzz_decode, CimBase, CimType, ClassDef, Decoration, Instance, Method, Object, ObjectKind,
    Property, Qualifier, Slot, Value,
};

/// Strings mixing ASCII, Latin-1 (8-bit encoding) and characters that force UTF-16,
/// including one outside the BMP (a surrogate pair).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _é\u{ff}€\u{1F600}\\\\\"]{0,8}"
}

fn ident() -> impl Strategy<Value = String> {
    "[A-Z][a-z0-9_]{0,8}"
}

fn leaf_object(n: u32, s: String) -> Object {
    let c = ClassDef::new("Leaf", &["LeafBase"])
        .with_property(
            "N",
            CimType::scalar(CimBase::Uint32),
            vec![Qualifier::key()],
        )
        .with_property("S", CimType::scalar(CimBase::String), vec![]);
    let mut i = Instance::new(c);
    i.set("N", Value::Uint32(n)).unwrap();
    i.set("S", Value::String(s)).unwrap();
    Object::from_instance(i)
}

fn scalar(base: CimBase) -> BoxedStrategy<Value> {
    match base {
        CimBase::Sint8 => any::<i8>().prop_map(Value::Sint8).boxed(),
        CimBase::Uint8 => any::<u8>().prop_map(Value::Uint8).boxed(),
        CimBase::Sint16 => any::<i16>().prop_map(Value::Sint16).boxed(),
        CimBase::Uint16 => any::<u16>().prop_map(Value::Uint16).boxed(),
        CimBase::Sint32 => any::<i32>().prop_map(Value::Sint32).boxed(),
        CimBase::Uint32 => any::<u32>().prop_map(Value::Uint32).boxed(),
        CimBase::Sint64 => any::<i64>().prop_map(Value::Sint64).boxed(),
        CimBase::Uint64 => any::<u64>().prop_map(Value::Uint64).boxed(),
        CimBase::Real32 => any::<i32>()
            .prop_map(|x| Value::Real32(x as f32 / 8.0))
            .boxed(),
        CimBase::Real64 => any::<i64>()
            .prop_map(|x| Value::Real64(x as f64 / 3.0))
            .boxed(),
        CimBase::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        CimBase::Char16 => any::<u16>().prop_map(Value::Char16).boxed(),
        CimBase::String => text().prop_map(Value::String).boxed(),
        CimBase::DateTime => prop_oneof![
            Just(Value::DateTime("20210608000035.000000+000".into())),
            Just(Value::DateTime("00000001123456.000000:000".into())),
        ]
        .boxed(),
        CimBase::Reference => text()
            .prop_map(|s| Value::Reference(format!("Leaf.N={}", s.len())))
            .boxed(),
        CimBase::Object => (any::<u32>(), text())
            .prop_map(|(n, s)| Value::Object(Box::new(leaf_object(n, s))))
            .boxed(),
    }
}

fn cim_type() -> impl Strategy<Value = CimType> {
    (prop::sample::select(CimBase::ALL.to_vec()), any::<bool>())
        .prop_map(|(base, array)| CimType { base, array })
}

fn value(t: CimType) -> BoxedStrategy<Value> {
    if t.array {
        prop::collection::vec(scalar(t.base), 0..4)
            .prop_map(move |v| Value::Array(t.base, v))
            .boxed()
    } else {
        scalar(t.base)
    }
}

fn qualifier() -> impl Strategy<Value = Qualifier> {
    (
        prop_oneof![
            ident(),
            Just("key".to_string()),
            Just("CIMTYPE".to_string()),
            Just("read".to_string())
        ],
        any::<u8>(),
        cim_type(),
    )
        .prop_flat_map(|(name, flavor, t)| {
            value(t).prop_map(move |value| Qualifier {
                name: name.clone(),
                flavor,
                value,
            })
        })
}

fn qualifiers() -> impl Strategy<Value = Vec<Qualifier>> {
    prop::collection::vec(qualifier(), 0..3)
}

fn slot(t: CimType) -> BoxedStrategy<Slot> {
    prop_oneof![
        Just(Slot::Null),
        Just(Slot::Default),
        value(t).prop_map(Slot::Set)
    ]
    .boxed()
}

/// A class part without methods: unique (case-insensitive) property names, random types,
/// qualifiers, defaults, origin and inherited flags.
fn class_part() -> BoxedStrategy<ClassDef> {
    (
        ident(),
        prop::collection::vec(ident(), 0..3),
        qualifiers(),
        prop::collection::btree_set("[a-z][a-z0-9_]{0,6}", 0..6),
    )
        .prop_flat_map(|(name, derivation, quals, names)| {
            let props: Vec<_> = names
                .into_iter()
                .map(|n| {
                    (cim_type(), qualifiers(), any::<bool>(), 0u32..4).prop_flat_map(
                        move |(t, q, inh, origin)| {
                            let n = n.clone();
                            slot(t).prop_map(move |default| {
                                (n.to_uppercase(), t, q.clone(), inh, origin, default)
                            })
                        },
                    )
                })
                .collect();
            (Just((name, derivation, quals)), props)
        })
        .prop_map(|((name, derivation, qualifiers), props)| ClassDef {
            name,
            derivation,
            qualifiers,
            properties: props
                .into_iter()
                .enumerate()
                .map(
                    |(i, (name, cim_type, qualifiers, inherited, origin, default))| Property {
                        name,
                        cim_type,
                        order: i as u16,
                        origin,
                        inherited,
                        qualifiers,
                        default,
                    },
                )
                .collect(),
            methods: Vec::new(),
        })
        .boxed()
}

fn method() -> impl Strategy<Value = Method> {
    (
        ident(),
        any::<u8>(),
        0u32..3,
        qualifiers(),
        prop::option::of(class_part()),
        prop::option::of(class_part()),
    )
        .prop_map(|(name, flags, origin, qualifiers, i, o)| Method {
            name,
            flags,
            origin,
            qualifiers,
            input: i.map(|c| Box::new(Object::class(c))),
            output: o.map(|c| Box::new(Object::class(c))),
        })
}

fn class_with_methods() -> impl Strategy<Value = ClassDef> {
    (class_part(), prop::collection::vec(method(), 0..3)).prop_map(|(mut c, m)| {
        c.methods = m;
        c
    })
}

fn decoration() -> impl Strategy<Value = Option<Decoration>> {
    prop::option::of(
        (text(), text()).prop_map(|(server, namespace)| Decoration { server, namespace }),
    )
}

fn instance() -> impl Strategy<Value = Instance> {
    class_part()
        .prop_flat_map(|class| {
            let slots: Vec<_> = class.properties.iter().map(|p| slot(p.cim_type)).collect();
            let pq: Vec<_> = class
                .properties
                .iter()
                .map(|p| {
                    prop::option::of(prop::collection::vec(qualifier(), 1..3)).prop_map({
                        let n = p.name.clone();
                        move |q| q.map(|q| (n.clone(), q))
                    })
                })
                .collect();
            (Just(class), slots, qualifiers(), pq)
        })
        .prop_map(|(class, values, qualifiers, pq)| Instance {
            class: class.into(),
            values,
            qualifiers,
            property_qualifiers: pq.into_iter().flatten().collect(),
        })
}

fn object() -> impl Strategy<Value = Object> {
    prop_oneof![
        (decoration(), class_with_methods(), class_with_methods()).prop_map(
            |(decoration, parent, current)| Object {
                decoration,
                kind: ObjectKind::Class { parent, current }
            }
        ),
        (decoration(), instance()).prop_map(|(decoration, i)| Object {
            decoration,
            kind: ObjectKind::Instance(i)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn encoding_unit_round_trips(obj in object()) {
        let bytes = encode_encoding_unit(&obj).unwrap();
        prop_assert_eq!(decode_encoding_unit(&bytes).unwrap(), obj.clone());
        let block = encode_object_block(&obj).unwrap();
        prop_assert_eq!(&bytes[8..], &block[..]);
        prop_assert_eq!(decode_object_block(&block).unwrap(), obj);
    }

    #[test]
    fn object_array_round_trips_and_survives_mutation(
        objs in prop::collection::vec(object(), 0..4),
        dup in any::<bool>(),
        flip in (any::<prop::sample::Index>(), 1u8..),
    ) {
        let mut objs = objs;
        if dup {
            // Repeat the instances so that the no-class form is used.
            let again: Vec<Object> = objs.iter().filter(|o| o.instance().is_some()).cloned().collect();
            objs.extend(again);
        }
        let bytes = encode_object_array(&objs, 0, &mut SentClasses::new()).unwrap();
        let arr = decode_object_array(&bytes, &mut ClassCache::new(16)).unwrap();
        prop_assert_eq!(&arr.objects, &objs);
        let mut bad = bytes.clone();
        let at = flip.0.index(bad.len());
        bad[at] ^= flip.1;
        let _ = decode_object_array(&bad, &mut ClassCache::new(16));
        fuzz_decode(&bad);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        fuzz_decode(&data);
    }

    #[test]
    fn mutated_encodings_never_panic(obj in object(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut bytes = encode_encoding_unit(&obj).unwrap();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] ^= b | 1;
        }
        fuzz_decode(&bytes);
        let end = cut.index(bytes.len() + 1);
        fuzz_decode(&bytes[..end]);
        // A truncated valid encoding is an error, never a success with fewer data.
        let good = encode_encoding_unit(&obj).unwrap();
        if end < good.len() {
            prop_assert!(decode_encoding_unit(&good[..end]).is_err());
        }
    }
}

#[test]
fn stored_zero_is_a_value_and_null_is_not() {
    let c = ClassDef::new("T", &[])
        .with_property("Hour", CimType::scalar(CimBase::Uint32), vec![])
        .with_property("Ms", CimType::scalar(CimBase::Uint32), vec![])
        .with_property("S", CimType::scalar(CimBase::String), vec![]);
    let mut i = Instance::new(c);
    i.set("Hour", Value::Uint32(0)).unwrap();
    i.set_null("Ms").unwrap();
    i.set("S", Value::String(String::new())).unwrap();
    let back =
        decode_encoding_unit(&encode_encoding_unit(&Object::from_instance(i)).unwrap()).unwrap();
    let bi = back.instance().unwrap();
    assert_eq!(bi.get("Hour"), Some(&Value::Uint32(0)));
    assert_eq!(bi.get("Ms"), None);
    assert_eq!(bi.slot("Ms"), Some(&Slot::Null));
    assert_eq!(bi.get("S"), Some(&Value::String(String::new())));
}

#[test]
fn instance_default_resolves_to_class_default_after_round_trip() {
    let c = ClassDef::new("T", &[])
        .with_property("D", CimType::scalar(CimBase::String), vec![])
        .default_value(Value::String("dflt".into()));
    let back = decode_encoding_unit(
        &encode_encoding_unit(&Object::from_instance(Instance::new(c))).unwrap(),
    )
    .unwrap();
    let bi = back.instance().unwrap();
    assert_eq!(bi.slot("D"), Some(&Slot::Default));
    assert_eq!(bi.get("D"), Some(&Value::String("dflt".into())));
}

#[test]
fn strings_use_8_bit_or_utf16_as_needed() {
    for (s, flag) in [("abc\u{e9}", 0u8), ("\u{20ac}", 1u8)] {
        let c = ClassDef::new(s, &[]);
        let bytes = encode_object_block(&Object::from_instance(Instance::new(c))).unwrap();
        // The class name is the first item of the class heap; find its flag octet.
        let mut needle = vec![flag];
        if flag == 0 {
            needle.extend(s.chars().map(|c| c as u8));
        } else {
            needle.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        }
        assert!(
            bytes.windows(needle.len()).any(|w| w == needle),
            "{s:?} not encoded with flag {flag}"
        );
        assert_eq!(decode_object_block(&bytes).unwrap().class_name(), s);
    }
}

#[test]
fn embedded_objects_nest_only_so_deep() {
    let mut obj = leaf_object(1, "x".into());
    for _ in 0..20 {
        let c =
            ClassDef::new("Wrap", &[]).with_property("O", CimType::scalar(CimBase::Object), vec![]);
        let mut i = Instance::new(c);
        i.set("O", Value::Object(Box::new(obj))).unwrap();
        obj = Object::from_instance(i);
    }
    assert_eq!(
        encode_encoding_unit(&obj),
        Err(winv_wmio::WmioError::TooDeep)
    );
}

#[test]
fn rejects_bad_signature_and_type_mismatch() {
    assert_eq!(
        decode_encoding_unit(&[0, 0, 0, 0, 0, 0, 0, 0]),
        Err(winv_wmio::WmioError::BadSignature(0))
    );
    let c = ClassDef::new("T", &[]).with_property("A", CimType::scalar(CimBase::Uint8), vec![]);
    let mut i = Instance::new(c);
    i.values[0] = Slot::Set(Value::Sint8(1));
    assert!(matches!(
        encode_encoding_unit(&Object::from_instance(i)),
        Err(winv_wmio::WmioError::TypeMismatch { .. })
    ));
}
