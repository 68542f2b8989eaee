//! Encoding of classes and instances as `EncodingUnit` / `ObjectBlock` ([MS-WMIO] 2.2).
//!
//! The layout is canonical: value tables in declaration order, property lookup tables
//! sorted by name, qualifier names from the dictionary ([MS-WMIO] 2.2.77) when they are in
//! it, 8-bit strings when every character fits Latin-1 and UTF-16 otherwise.

use crate::decode::{
    inline_size, DICTIONARY, DICTIONARY_BIT, INHERITED_FLAG, MAX_DEPTH, ND_DEFAULT, ND_NULL,
    NO_REF, OBJECT_FLAG_CLASS, OBJECT_FLAG_DECORATION, OBJECT_FLAG_INSTANCE, SIGNATURE,
};
use crate::error::WmioError;
use crate::object::{ClassDef, Instance, Method, Object, ObjectKind, Qualifier, Slot};
use crate::value::{CimBase, CimType, Value};

fn len32(n: usize) -> Result<u32, WmioError> {
    u32::try_from(n).map_err(|_| WmioError::TooLarge)
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends an `EncodedString` ([MS-WMIO] 2.2.78).
pub(crate) fn write_encoded_string(out: &mut Vec<u8>, s: &str) -> Result<(), WmioError> {
    if s.contains('\0') {
        return Err(WmioError::Invalid("string with nul character"));
    }
    if s.chars().all(|c| u32::from(c) <= 0xff) {
        out.push(0);
        out.extend(s.chars().map(|c| u32::from(c) as u8));
        out.push(0);
    } else {
        out.push(1);
        for u in s.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
        out.extend_from_slice(&[0, 0]);
    }
    Ok(())
}

/// A heap being built ([MS-WMIO] 2.2.66).
struct HeapW {
    buf: Vec<u8>,
}

impl HeapW {
    fn new() -> Self {
        HeapW { buf: Vec::new() }
    }
    fn pos(&self) -> Result<u32, WmioError> {
        len32(self.buf.len()).and_then(|p| {
            if p < 0x7fff_ffff {
                Ok(p)
            } else {
                Err(WmioError::TooLarge)
            }
        })
    }
    fn string(&mut self, s: &str) -> Result<u32, WmioError> {
        let p = self.pos()?;
        write_encoded_string(&mut self.buf, s)?;
        Ok(p)
    }
    /// A qualifier name: a dictionary reference when the name is in the dictionary.
    fn name(&mut self, s: &str) -> Result<u32, WmioError> {
        if let Some(i) = DICTIONARY.iter().position(|d| !d.is_empty() && *d == s) {
            return Ok(DICTIONARY_BIT | len32(i)?);
        }
        self.string(s)
    }
    fn block(&mut self, obj: &Object, depth: usize) -> Result<u32, WmioError> {
        let bytes = encode_block(obj, depth + 1)?;
        let p = self.pos()?;
        put32(&mut self.buf, len32(bytes.len())?);
        self.buf.extend_from_slice(&bytes);
        Ok(p)
    }
    fn finish(self, out: &mut Vec<u8>) -> Result<(), WmioError> {
        let len = self.pos()?;
        put32(out, len | 0x8000_0000);
        out.extend_from_slice(&self.buf);
        Ok(())
    }
}

fn mismatch(name: &str, expected: CimType) -> WmioError {
    WmioError::TypeMismatch {
        name: name.to_string(),
        expected,
    }
}

/// Whether `v` is a value of type `t` (arrays: every item of the element type).
pub(crate) fn value_fits(v: &Value, t: CimType) -> bool {
    match v {
        Value::Array(base, items) => {
            t.array
                && *base == t.base
                && items.iter().all(|i| i.cim_type() == CimType::scalar(*base))
        }
        other => other.cim_type() == t,
    }
}

fn write_scalar(
    out: &mut Vec<u8>,
    heap: &mut HeapW,
    v: &Value,
    depth: usize,
) -> Result<(), WmioError> {
    match v {
        Value::Sint8(x) => out.push(*x as u8),
        Value::Uint8(x) => out.push(*x),
        Value::Sint16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Uint16(x) | Value::Char16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Sint32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Uint32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Sint64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Uint64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Real32(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::Real64(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { &[0xff, 0xff] } else { &[0, 0] }),
        Value::String(s) | Value::DateTime(s) | Value::Reference(s) => {
            let r = heap.string(s)?;
            put32(out, r);
        }
        Value::Object(o) => {
            let r = heap.block(o, depth)?;
            put32(out, r);
        }
        Value::Array(..) => return Err(WmioError::Invalid("nested array")),
    }
    Ok(())
}

/// Appends the `EncodedValue` ([MS-WMIO] 2.2.71) of `v`, checked against `t`.
fn write_value(
    out: &mut Vec<u8>,
    heap: &mut HeapW,
    v: &Value,
    t: CimType,
    name: &str,
    depth: usize,
) -> Result<(), WmioError> {
    if !value_fits(v, t) {
        return Err(mismatch(name, t));
    }
    match v {
        Value::Array(base, items) => {
            // Windows lays an array out as its count, its items and then the
            // heap items they refer to (strings, objects) in order; impacket
            // reads string and object arrays assuming exactly that layout.
            let p = heap.pos()?;
            put32(&mut heap.buf, len32(items.len())?);
            let by_ref = matches!(
                base,
                CimBase::String | CimBase::DateTime | CimBase::Reference | CimBase::Object
            );
            if by_ref {
                let table_at = heap.buf.len();
                heap.buf.resize(table_at + 4 * items.len(), 0);
                for (k, i) in items.iter().enumerate() {
                    let mut entry = Vec::with_capacity(4);
                    write_scalar(&mut entry, heap, i, depth)?;
                    let at = table_at + 4 * k;
                    // INVARIANT: a by-reference item encodes as one 4-byte HeapRef.
                    if let (Some(dst), 4) = (heap.buf.get_mut(at..at + 4), entry.len()) {
                        dst.copy_from_slice(&entry);
                    } else {
                        return Err(WmioError::Invalid("array heap reference"));
                    }
                }
            } else {
                let mut table = Vec::new();
                for i in items {
                    write_scalar(&mut table, heap, i, depth)?;
                }
                heap.buf.extend_from_slice(&table);
            }
            put32(out, p);
            Ok(())
        }
        scalar => write_scalar(out, heap, scalar, depth),
    }
}

/// A `QualifierSet` ([MS-WMIO] 2.2.59), names and values in `heap`.
fn qualifier_set(
    quals: &[Qualifier],
    heap: &mut HeapW,
    depth: usize,
) -> Result<Vec<u8>, WmioError> {
    let mut body = Vec::new();
    for q in quals {
        let name = heap.name(&q.name)?;
        put32(&mut body, name);
        body.push(q.flavor);
        let t = q.value.cim_type();
        put32(&mut body, t.to_u32());
        write_value(&mut body, heap, &q.value, t, &q.name, depth)?;
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    put32(&mut out, len32(body.len() + 4)?);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Appends the NdTable and value table of `slots` ([MS-WMIO] 2.2.26, 2.2.28); `defaults`
/// (for an instance, the class defaults) fill `Default` slots.
fn nd_value_table(
    class: &ClassDef,
    slots: &[&Slot],
    defaults: Option<&ClassDef>,
    heap: &mut HeapW,
    depth: usize,
) -> Result<Vec<u8>, WmioError> {
    let n = class.properties.len();
    let mut nd = vec![0u8; n.div_ceil(4)];
    let mut vt = Vec::new();
    for (i, (p, slot)) in class.properties.iter().zip(slots).enumerate() {
        let flags = match slot {
            Slot::Set(v) => {
                write_value(&mut vt, heap, v, p.cim_type, &p.name, depth)?;
                0
            }
            Slot::Null => {
                vt.resize(vt.len() + inline_size(p.cim_type), 0);
                ND_NULL
            }
            Slot::Default => match defaults
                .and_then(|c| c.properties.get(i))
                .map(|p| &p.default)
            {
                Some(Slot::Set(v)) => {
                    write_value(&mut vt, heap, v, p.cim_type, &p.name, depth)?;
                    ND_DEFAULT
                }
                _ => {
                    vt.resize(vt.len() + inline_size(p.cim_type), 0);
                    ND_DEFAULT | ND_NULL
                }
            },
        };
        if let Some(b) = nd.get_mut(i / 4) {
            *b |= flags << ((i % 4) * 2);
        }
    }
    nd.extend_from_slice(&vt);
    Ok(nd)
}

/// A `ClassPart` ([MS-WMIO] 2.2.15).
pub(crate) fn class_part(c: &ClassDef, depth: usize) -> Result<Vec<u8>, WmioError> {
    let mut heap = HeapW::new();
    let name_ref = if c.name.is_empty() {
        NO_REF
    } else {
        heap.string(&c.name)?
    };
    let mut dl = Vec::new();
    for d in &c.derivation {
        let mut s = Vec::new();
        write_encoded_string(&mut s, d)?;
        dl.extend_from_slice(&s);
        put32(&mut dl, len32(s.len())?);
    }
    let cq = qualifier_set(&c.qualifiers, &mut heap, depth)?;
    let mut entries = Vec::with_capacity(c.properties.len());
    let mut offset = 0u32;
    for (i, p) in c.properties.iter().enumerate() {
        if usize::from(p.order) != i {
            return Err(WmioError::Invalid("declaration order"));
        }
        let name_ref = heap.string(&p.name)?;
        let pq = qualifier_set(&p.qualifiers, &mut heap, depth)?;
        let info_ref = heap.pos()?;
        // PropertyInfo ([MS-WMIO] 2.2.30).
        let code = p.cim_type.to_u32() | if p.inherited { INHERITED_FLAG } else { 0 };
        put32(&mut heap.buf, code);
        heap.buf.extend_from_slice(&p.order.to_le_bytes());
        put32(&mut heap.buf, offset);
        put32(&mut heap.buf, p.origin);
        heap.buf.extend_from_slice(&pq);
        offset = offset
            .checked_add(len32(inline_size(p.cim_type))?)
            .ok_or(WmioError::TooLarge)?;
        entries.push((p.name.to_ascii_lowercase(), name_ref, info_ref));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let slots: Vec<&Slot> = c.properties.iter().map(|p| &p.default).collect();
    let ndvt = nd_value_table(c, &slots, None, &mut heap, depth)?;

    let mut body = Vec::new();
    put32(&mut body, len32(dl.len() + 4)?);
    body.extend_from_slice(&dl);
    body.extend_from_slice(&cq);
    put32(&mut body, len32(entries.len())?);
    for (_, n, i) in &entries {
        put32(&mut body, *n);
        put32(&mut body, *i);
    }
    body.extend_from_slice(&ndvt);
    heap.finish(&mut body)?;

    let mut out = Vec::with_capacity(body.len() + 13);
    put32(&mut out, len32(body.len() + 13)?);
    out.push(0);
    put32(&mut out, name_ref);
    put32(&mut out, len32(ndvt.len())?);
    out.extend_from_slice(&body);
    Ok(out)
}

/// A `MethodsPart` ([MS-WMIO] 2.2.38).
fn methods_part(methods: &[Method], depth: usize) -> Result<Vec<u8>, WmioError> {
    let count = u16::try_from(methods.len()).map_err(|_| WmioError::TooLarge)?;
    let mut heap = HeapW::new();
    let mut descs = Vec::with_capacity(methods.len() * 24);
    for m in methods {
        let name = heap.string(&m.name)?;
        let quals = if m.qualifiers.is_empty() {
            NO_REF
        } else {
            let set = qualifier_set(&m.qualifiers, &mut heap, depth)?;
            let p = heap.pos()?;
            heap.buf.extend_from_slice(&set);
            p
        };
        let sig = |heap: &mut HeapW, o: &Option<Box<Object>>| match o {
            None => Ok(NO_REF),
            Some(o) => heap.block(o, depth),
        };
        let input = sig(&mut heap, &m.input)?;
        let output = sig(&mut heap, &m.output)?;
        put32(&mut descs, name);
        descs.push(m.flags);
        descs.extend_from_slice(&[0, 0, 0]);
        put32(&mut descs, m.origin);
        put32(&mut descs, quals);
        put32(&mut descs, input);
        put32(&mut descs, output);
    }
    let mut body = Vec::new();
    body.extend_from_slice(&count.to_le_bytes());
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&descs);
    heap.finish(&mut body)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    put32(&mut out, len32(body.len() + 4)?);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The instance part of an `InstanceType` ([MS-WMIO] 2.2.53).
pub(crate) fn instance_part(i: &Instance, depth: usize) -> Result<Vec<u8>, WmioError> {
    let props = &i.class.properties;
    if i.values.len() != props.len() {
        return Err(WmioError::Invalid("instance value count"));
    }
    let mut heap = HeapW::new();
    let name_ref = heap.string(&i.class.name)?;
    let slots: Vec<&Slot> = i.values.iter().collect();
    let ndvt = nd_value_table(&i.class, &slots, Some(&i.class), &mut heap, depth)?;
    let iq = qualifier_set(&i.qualifiers, &mut heap, depth)?;
    let mut pq = Vec::new();
    if i.property_qualifiers.is_empty() {
        pq.push(1);
    } else {
        for (name, _) in &i.property_qualifiers {
            if i.class.property(name).is_none() {
                return Err(WmioError::UnknownProperty(name.clone()));
            }
        }
        pq.push(2);
        for p in props {
            let quals = i
                .property_qualifiers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&p.name))
                .map_or(&[][..], |(_, q)| q.as_slice());
            pq.extend_from_slice(&qualifier_set(quals, &mut heap, depth)?);
        }
    }
    let mut body = Vec::new();
    body.push(0); // InstanceFlags
    put32(&mut body, name_ref);
    body.extend_from_slice(&ndvt);
    body.extend_from_slice(&iq);
    body.extend_from_slice(&pq);
    heap.finish(&mut body)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    put32(&mut out, len32(body.len() + 4)?);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Appends `ObjectFlags` and the optional `Decoration` ([MS-WMIO] 2.2.6, 2.2.7).
pub(crate) fn write_flags_and_decoration(out: &mut Vec<u8>, obj: &Object) -> Result<(), WmioError> {
    let kind_flag = match &obj.kind {
        ObjectKind::Class { .. } => OBJECT_FLAG_CLASS,
        ObjectKind::Instance(_) => OBJECT_FLAG_INSTANCE,
    };
    match &obj.decoration {
        Some(d) => {
            out.push(kind_flag | OBJECT_FLAG_DECORATION);
            write_encoded_string(out, &d.server)?;
            write_encoded_string(out, &d.namespace)?;
        }
        None => out.push(kind_flag),
    }
    Ok(())
}

pub(crate) fn encode_block(obj: &Object, depth: usize) -> Result<Vec<u8>, WmioError> {
    if depth > MAX_DEPTH {
        return Err(WmioError::TooDeep);
    }
    let mut out = Vec::new();
    write_flags_and_decoration(&mut out, obj)?;
    match &obj.kind {
        ObjectKind::Class { parent, current } => {
            for c in [parent, current] {
                out.extend_from_slice(&class_part(c, depth)?);
                out.extend_from_slice(&methods_part(&c.methods, depth)?);
            }
        }
        ObjectKind::Instance(i) => {
            out.extend_from_slice(&class_part(&i.class, depth)?);
            out.extend_from_slice(&instance_part(i, depth)?);
        }
    }
    Ok(out)
}

/// Encodes `obj` as an `ObjectBlock` ([MS-WMIO] 2.2.5).
///
/// An instance's class part carries no methods part ([MS-WMIO] 2.2.53), so
/// `Instance::class.methods` is not encoded.
pub fn encode_object_block(obj: &Object) -> Result<Vec<u8>, WmioError> {
    encode_block(obj, 0)
}

/// Encodes `obj` as an `EncodingUnit` ([MS-WMIO] 2.2.1).
pub fn encode_encoding_unit(obj: &Object) -> Result<Vec<u8>, WmioError> {
    let block = encode_object_block(obj)?;
    let mut out = Vec::with_capacity(block.len() + 8);
    put32(&mut out, SIGNATURE);
    put32(&mut out, len32(block.len())?);
    out.extend_from_slice(&block);
    Ok(out)
}
