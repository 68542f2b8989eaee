//! Decoding of `EncodingUnit` and `ObjectBlock` ([MS-WMIO] 2.2.1 - 2.2.82).
//!
//! Every offset and length comes from the input and is checked against the bytes that are
//! really there; allocation is capped by the remaining input; embedded objects nest at most
//! [`MAX_DEPTH`] deep.

use std::cell::Cell;
use std::sync::Arc;

use crate::error::WmioError;
use crate::object::{
    ClassDef, Decoration, Instance, Method, Object, ObjectKind, Property, Qualifier, Slot,
};
use crate::object_array::ClassMemo;
use crate::value::{CimBase, CimType, Value};

/// `Signature` of an `EncodingUnit` ([MS-WMIO] 2.2.77).
pub const SIGNATURE: u32 = 0x1234_5678;
/// Deepest nesting of embedded objects and method signatures accepted.
pub const MAX_DEPTH: usize = 16;

/// `ObjectFlags` ([MS-WMIO] 2.2.6): the object is a CIM class.
pub const OBJECT_FLAG_CLASS: u8 = 0x01;
/// `ObjectFlags` ([MS-WMIO] 2.2.6): the object is a CIM instance.
pub const OBJECT_FLAG_INSTANCE: u8 = 0x02;
/// `ObjectFlags` ([MS-WMIO] 2.2.6): a `Decoration` follows.
pub const OBJECT_FLAG_DECORATION: u8 = 0x04;

/// The `Inherited` flag of a property's `CimType` ([MS-WMIO] 2.2.32).
pub const INHERITED_FLAG: u32 = 0x4000;
/// The "no reference" `HeapRef` value.
pub const NO_REF: u32 = 0xffff_ffff;
/// The dictionary bit of a `HeapStringRef` ([MS-WMIO] 2.2.68).
pub const DICTIONARY_BIT: u32 = 0x8000_0000;

/// The well-known string dictionary ([MS-WMIO] 2.2.77 `DictionaryReference`).
pub const DICTIONARY: [&str; 11] = [
    "\"", "key", "", "read", "write", "volatile", "provider", "dynamic", "cimwin32", "DWORD",
    "CIMTYPE",
];

/// `NullAndDefaultFlag` ([MS-WMIO] 2.2.27) bit 0: the value is NULL.
///
/// Mapping to [`crate::Slot`]: in an instance, bit 1 set is `Default` (the class default
/// applies), else bit 0 set is `Null`, else `Set`. In a class, bit 0 set is `Null`, or
/// `Default` (inherited NULL) when bit 1 is also set; a stored value is `Set` (an inherited
/// non-NULL default keeps its value and `Property::inherited`).
pub const ND_NULL: u8 = 0x1;
/// `NullAndDefaultFlag` ([MS-WMIO] 2.2.27) bit 1: the value is the default (the class
/// default in an instance, the inherited default in a class).
pub const ND_DEFAULT: u8 = 0x2;

/// A bounds-checked reader.
#[derive(Clone)]
pub(crate) struct Cur<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cur { data, pos: 0 }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WmioError> {
        let end = self.pos.checked_add(n).ok_or(WmioError::Truncated(what))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(WmioError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }
    /// What is left to read, without consuming it.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, WmioError> {
        Ok(self.take(1, what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, WmioError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, WmioError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, WmioError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

fn usize_of(v: u32) -> usize {
    // INVARIANT: usize is at least 32 bits on every supported target.
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// A `Heap` ([MS-WMIO] 2.2.66): `HeapRef`s are offsets into its items.
#[derive(Clone, Copy)]
struct Heap<'a, 'b> {
    items: &'a [u8],
    ctx: Ctx<'b>,
}

/// Decoding context: nesting level and the work budget shared by one decode call.
///
/// INVARIANT: heap items can be referenced many times (strings, arrays, embedded objects
/// shared by several values); every dereference spends its size from one budget that is a
/// fixed multiple of the input length, so work and output stay linear in the input.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'b> {
    pub(crate) level: usize,
    budget: &'b Cell<usize>,
}

impl<'b> Ctx<'b> {
    pub(crate) fn root(budget: &'b Cell<usize>) -> Ctx<'b> {
        Ctx { level: 0, budget }
    }
    fn deeper(self) -> Ctx<'b> {
        Ctx {
            level: self.level + 1,
            budget: self.budget,
        }
    }
    fn spend(self, n: usize) -> Result<(), WmioError> {
        let left = self
            .budget
            .get()
            .checked_sub(n)
            .ok_or(WmioError::Invalid("shared heap references beyond budget"))?;
        self.budget.set(left);
        Ok(())
    }
}

/// The budget of one decode of `len` input octets (see [`Ctx`]).
pub(crate) fn budget_for(len: usize) -> Cell<usize> {
    Cell::new(len.saturating_mul(8).saturating_add(4096))
}

impl<'a, 'b> Heap<'a, 'b> {
    fn read(cur: &mut Cur<'a>, ctx: Ctx<'b>) -> Result<Self, WmioError> {
        let len = cur.u32("heap length")? & 0x7fff_ffff;
        Ok(Heap {
            items: cur.take(usize_of(len), "heap")?,
            ctx,
        })
    }
    fn at(&self, r: u32) -> Result<Cur<'a>, WmioError> {
        let s = self
            .items
            .get(usize_of(r)..)
            .ok_or(WmioError::BadHeapRef(r))?;
        if r == NO_REF {
            return Err(WmioError::BadHeapRef(r));
        }
        Ok(Cur::new(s))
    }
    /// A `HeapStringRef` ([MS-WMIO] 2.2.68): a dictionary index or an `EncodedString`.
    fn string(&self, r: u32) -> Result<String, WmioError> {
        if r & DICTIONARY_BIT != 0 && r != NO_REF {
            let i = r & !DICTIONARY_BIT;
            return DICTIONARY
                .get(usize_of(i))
                .map(|s| (*s).to_string())
                .ok_or(WmioError::BadDictionaryRef(i));
        }
        let mut c = self.at(r)?;
        let before = c.remaining();
        let s = read_encoded_string(&mut c)?;
        self.ctx.spend(before - c.remaining())?;
        Ok(s)
    }
}

/// Reads an `EncodedString` ([MS-WMIO] 2.2.78): a flag octet (0 = 8-bit Latin-1, 1 = UTF-16LE)
/// and NUL-terminated characters.
pub(crate) fn read_encoded_string(cur: &mut Cur<'_>) -> Result<String, WmioError> {
    match cur.u8("string flag")? {
        0 => {
            let rest = cur.rest();
            let len = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(WmioError::Truncated("latin-1 string"))?;
            let text = cur.take(len + 1, "latin-1 string")?;
            // INVARIANT: `len` is the terminator's index, so `text[..len]` holds no NUL.
            Ok(latin1(&text[..len]))
        }
        1 => {
            let rest = cur.rest();
            let units = rest
                .chunks_exact(2)
                .position(|u| u == [0, 0])
                .ok_or(WmioError::Truncated("utf-16 string"))?;
            let text = cur.take(2 * units + 2, "utf-16 string")?;
            let mut s = String::with_capacity(units);
            s.extend(
                char::decode_utf16(
                    text[..2 * units]
                        .chunks_exact(2)
                        .map(|u| u16::from_le_bytes([u[0], u[1]])),
                )
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
            );
            Ok(s)
        }
        _ => Err(WmioError::Invalid("string flag")),
    }
}

/// Latin-1 octets as a string, in one allocation: ASCII as it is (the common case: one
/// copy), any other octet as the code point of its value.
fn latin1(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        // INVARIANT: ASCII is valid UTF-8.
        return String::from_utf8(bytes.to_vec()).unwrap_or_default();
    }
    let extra = bytes.iter().filter(|b| !b.is_ascii()).count();
    let mut s = String::with_capacity(bytes.len() + extra);
    s.extend(bytes.iter().map(|&b| char::from(b)));
    s
}

/// Size in the value table (and in a qualifier) of a value of type `t` ([MS-WMIO] 2.2.71).
pub(crate) fn inline_size(t: CimType) -> usize {
    if t.array {
        return 4;
    }
    match t.base {
        CimBase::Sint8 | CimBase::Uint8 => 1,
        CimBase::Sint16 | CimBase::Uint16 | CimBase::Boolean | CimBase::Char16 => 2,
        CimBase::Sint32 | CimBase::Uint32 | CimBase::Real32 => 4,
        CimBase::Sint64 | CimBase::Uint64 | CimBase::Real64 => 8,
        CimBase::String | CimBase::DateTime | CimBase::Reference | CimBase::Object => 4,
    }
}

fn cim_type(code: u32) -> Result<CimType, WmioError> {
    if code & !(INHERITED_FLAG | 0xffff) != 0 {
        return Err(WmioError::UnknownCimType(code));
    }
    CimType::from_u32(code & !INHERITED_FLAG).ok_or(WmioError::UnknownCimType(code))
}

/// Reads one scalar of `base` in place (fixed-size types) or through the heap.
fn read_scalar(
    cur: &mut Cur<'_>,
    base: CimBase,
    heap: &Heap<'_, '_>,
    depth: Ctx<'_>,
) -> Result<Value, WmioError> {
    Ok(match base {
        CimBase::Sint8 => Value::Sint8(cur.u8("sint8")? as i8),
        CimBase::Uint8 => Value::Uint8(cur.u8("uint8")?),
        CimBase::Sint16 => Value::Sint16(cur.u16("sint16")? as i16),
        CimBase::Uint16 => Value::Uint16(cur.u16("uint16")?),
        CimBase::Sint32 => Value::Sint32(cur.u32("sint32")? as i32),
        CimBase::Uint32 => Value::Uint32(cur.u32("uint32")?),
        CimBase::Sint64 => Value::Sint64(cur.u64("sint64")? as i64),
        CimBase::Uint64 => Value::Uint64(cur.u64("uint64")?),
        CimBase::Real32 => Value::Real32(f32::from_bits(cur.u32("real32")?)),
        CimBase::Real64 => Value::Real64(f64::from_bits(cur.u64("real64")?)),
        CimBase::Boolean => Value::Boolean(cur.u16("boolean")? != 0),
        CimBase::Char16 => Value::Char16(cur.u16("char16")?),
        CimBase::String => Value::String(heap.string(cur.u32("string ref")?)?),
        CimBase::DateTime => Value::DateTime(heap.string(cur.u32("datetime ref")?)?),
        CimBase::Reference => Value::Reference(heap.string(cur.u32("reference ref")?)?),
        CimBase::Object => {
            let r = cur.u32("object ref")?;
            let mut h = heap.at(r)?;
            let len = h.u32("object length")?;
            let block = h.take(usize_of(len), "embedded object")?;
            depth.spend(block.len())?;
            Value::Object(Box::new(decode_block(block, depth.deeper())?))
        }
    })
}

/// Reads an `EncodedValue` ([MS-WMIO] 2.2.71) of type `t` from `cur`.
fn read_value(
    cur: &mut Cur<'_>,
    t: CimType,
    heap: &Heap<'_, '_>,
    depth: Ctx<'_>,
) -> Result<Value, WmioError> {
    if !t.array {
        return read_scalar(cur, t.base, heap, depth);
    }
    let r = cur.u32("array ref")?;
    let mut h = heap.at(r)?;
    let count = usize_of(h.u32("array count")?);
    let item = inline_size(CimType::scalar(t.base));
    // Every item takes at least `item` bytes of the heap: refuse counts the heap cannot hold.
    if count.checked_mul(item).is_none_or(|n| n > h.remaining()) {
        return Err(WmioError::Truncated("array items"));
    }
    depth.spend(count.saturating_mul(item))?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(read_scalar(&mut h, t.base, heap, depth)?);
    }
    Ok(Value::Array(t.base, items))
}

/// Reads a `QualifierSet` ([MS-WMIO] 2.2.59) whose names and values live in `heap`.
fn read_qualifier_set(
    cur: &mut Cur<'_>,
    heap: &Heap<'_, '_>,
    depth: Ctx<'_>,
) -> Result<Vec<Qualifier>, WmioError> {
    let len = usize_of(cur.u32("qualifier set length")?);
    let body = cur.take(
        len.checked_sub(4)
            .ok_or(WmioError::Invalid("qualifier set length"))?,
        "qualifier set",
    )?;
    read_qualifiers(body, heap, depth)
}

fn read_qualifiers(
    body: &[u8],
    heap: &Heap<'_, '_>,
    depth: Ctx<'_>,
) -> Result<Vec<Qualifier>, WmioError> {
    let mut q = Cur::new(body);
    let mut out = Vec::with_capacity(body.len() / 10);
    while q.remaining() > 0 {
        let name = heap.string(q.u32("qualifier name")?)?;
        let flavor = q.u8("qualifier flavor")?;
        let t = cim_type(q.u32("qualifier type")?)?;
        let value = read_value(&mut q, t, heap, depth)?;
        out.push(Qualifier {
            name,
            flavor,
            value,
        });
    }
    Ok(out)
}

/// A decoded `ClassPart` with the layout facts an instance of it needs. Cloned for each
/// instance an `ObjectArray` sends without its class ([MS-WMI] 2.2.14.4): the class is
/// shared, not copied (a class of sixty properties with their qualifiers is kilobytes,
/// and a batch holds up to 64 instances of it).
#[derive(Clone)]
pub(crate) struct ClassPartInfo {
    pub(crate) class: Arc<ClassDef>,
    /// `ValueTableOffset` per property, in declaration order.
    offsets: Arc<[u32]>,
    nd_vt_len: usize,
}

fn nd_len(count: usize) -> usize {
    count.div_ceil(4)
}

fn nd_flags(nd: &[u8], i: usize) -> u8 {
    nd.get(i / 4).map_or(0, |b| (b >> ((i % 4) * 2)) & 0x3)
}

/// Reads a `ClassPart` ([MS-WMIO] 2.2.15).
fn read_class_part(cur: &mut Cur<'_>, depth: Ctx<'_>) -> Result<ClassPartInfo, WmioError> {
    let start = cur.clone();
    // ClassHeader ([MS-WMIO] 2.2.16).
    let enc_len = usize_of(cur.u32("class part length")?);
    let mut part = Cur::new(start.clone().take(enc_len, "class part")?);
    part.take(4, "class part length")?;
    let _reserved = part.u8("reserved octet")?;
    let name_ref = part.u32("class name ref")?;
    let nd_vt_len = usize_of(part.u32("ndtable value table length")?);
    // DerivationList ([MS-WMIO] 2.2.17).
    let dl_len = usize_of(part.u32("derivation list length")?);
    let dl = part.take(
        dl_len
            .checked_sub(4)
            .ok_or(WmioError::Invalid("derivation list length"))?,
        "derivation list",
    )?;
    let mut d = Cur::new(dl);
    let mut derivation = Vec::new();
    while d.remaining() > 0 {
        derivation.push(read_encoded_string(&mut d)?);
        let _len = d.u32("class name encoding length")?;
    }
    // ClassQualifierSet (2.2.20): read later, once the heap is known.
    let cq_len = usize_of(part.u32("class qualifier set length")?);
    let cq = part.take(
        cq_len
            .checked_sub(4)
            .ok_or(WmioError::Invalid("qualifier set length"))?,
        "class qualifier set",
    )?;
    // PropertyLookupTable (2.2.21).
    let count = usize_of(part.u32("property count")?);
    let lookups = part.take(
        count
            .checked_mul(8)
            .ok_or(WmioError::Truncated("property lookup"))?,
        "property lookup",
    )?;
    let ndvt = part.take(nd_vt_len, "ndtable and value table")?;
    let heap = Heap::read(&mut part, depth)?;
    // The header's length covers the whole part; skip what follows the heap.
    *cur = start;
    cur.take(enc_len, "class part")?;

    let name = if name_ref == NO_REF {
        String::new()
    } else {
        heap.string(name_ref)?
    };
    let qualifiers = read_qualifiers(cq, &heap, depth)?;
    let nd_bytes = nd_len(count);
    let nd = ndvt
        .get(..nd_bytes)
        .ok_or(WmioError::Truncated("ndtable"))?;
    let vt = ndvt.get(nd_bytes..).unwrap_or(&[]);

    let mut slots: Vec<Option<(Property, u32)>> = Vec::with_capacity(count);
    slots.resize(count, None);
    let mut l = Cur::new(lookups);
    for _ in 0..count {
        let pname = heap.string(l.u32("property name ref")?)?;
        let info_ref = l.u32("property info ref")?;
        let mut info = heap.at(info_ref)?;
        let code = info.u32("property type")?;
        let cim = cim_type(code)?;
        let order = info.u16("declaration order")?;
        let offset = info.u32("value table offset")?;
        let origin = info.u32("class of origin")?;
        let pq = read_qualifier_set(&mut info, &heap, depth)?;
        let slot = slots
            .get_mut(usize::from(order))
            .ok_or(WmioError::Invalid("declaration order"))?;
        if slot.is_some() {
            return Err(WmioError::Invalid("declaration order"));
        }
        let prop = Property {
            name: pname,
            cim_type: cim,
            order,
            origin,
            inherited: code & INHERITED_FLAG != 0,
            qualifiers: pq,
            default: Slot::Null,
        };
        *slot = Some((prop, offset));
    }
    let mut properties = Vec::with_capacity(count);
    let mut offsets = Vec::with_capacity(count);
    for (i, s) in slots.into_iter().enumerate() {
        let (mut p, off) = s.ok_or(WmioError::Invalid("declaration order"))?;
        p.default = read_slot(vt, off, p.cim_type, nd_flags(nd, i), &heap, false, depth)?;
        properties.push(p);
        offsets.push(off);
    }
    Ok(ClassPartInfo {
        class: Arc::new(ClassDef {
            name,
            derivation,
            qualifiers,
            properties,
            methods: Vec::new(),
        }),
        offsets: offsets.into(),
        nd_vt_len,
    })
}

/// The slot of one property from its NdTable flags and value table entry. In a class
/// (`instance == false`) a NULL inherited default is `Default`, a stored one is `Set`.
fn read_slot(
    vt: &[u8],
    offset: u32,
    t: CimType,
    flags: u8,
    heap: &Heap<'_, '_>,
    instance: bool,
    depth: Ctx<'_>,
) -> Result<Slot, WmioError> {
    let null = flags & ND_NULL != 0;
    let default = flags & ND_DEFAULT != 0;
    if instance && default {
        return Ok(Slot::Default);
    }
    if null {
        return Ok(if default { Slot::Default } else { Slot::Null });
    }
    let mut c = Cur::new(
        vt.get(usize_of(offset)..)
            .ok_or(WmioError::Invalid("value table offset"))?,
    );
    if is_unwritten(c.clone(), t) {
        return Ok(Slot::Default);
    }
    Ok(Slot::Set(read_value(&mut c, t, heap, depth)?))
}

/// Whether the value table entry at `c` is impacket's "no value written" for an array or
/// an embedded object: a `HeapRef` of 0 without the NULL flag.
///
/// impacket's `SpawnInstance` writes every array that way ("not yet ready"), its
/// `marshalMe` (`PutInstance`, `PutClass`) every embedded object and every array set to
/// `None` (with the NdTable bits swapped), and its reader takes a 0 there for "no value of
/// its own" (the class default for an inherited property). Offset 0 of a heap is never an
/// array or an object in Windows' encoding or ours: it holds the class name (an
/// instance's heap, and a class part's) or, in a class part without a name, the first
/// property's name, written before any value. So the entry is read as `Default`: the
/// class default applies (in a class part: NULL unless a parent gives one), as for a
/// fresh instance of `IWbemClassObject::SpawnInstance`.
fn is_unwritten(mut c: Cur<'_>, t: CimType) -> bool {
    (t.array || t.base == CimBase::Object) && c.u32("heap reference").is_ok_and(|r| r == 0)
}

/// Reads a `MethodsPart` ([MS-WMIO] 2.2.38).
fn read_methods_part(cur: &mut Cur<'_>, depth: Ctx<'_>) -> Result<Vec<Method>, WmioError> {
    let start = cur.clone();
    let enc_len = usize_of(cur.u32("methods part length")?);
    let mut part = Cur::new(start.clone().take(enc_len, "methods part")?);
    part.take(4, "methods part length")?;
    let count = usize::from(part.u16("method count")?);
    let _padding = part.u16("method count padding")?;
    let descs = part.take(
        count
            .checked_mul(24)
            .ok_or(WmioError::Truncated("method"))?,
        "method descriptions",
    )?;
    let heap = Heap::read(&mut part, depth)?;
    *cur = start;
    cur.take(enc_len, "methods part")?;
    let mut d = Cur::new(descs);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        // MethodDescription ([MS-WMIO] 2.2.41).
        let name = heap.string(d.u32("method name")?)?;
        let flags = d.u8("method flags")?;
        d.take(3, "method padding")?;
        let origin = d.u32("method origin")?;
        let qref = d.u32("method qualifiers")?;
        let inref = d.u32("input signature")?;
        let outref = d.u32("output signature")?;
        let qualifiers = if qref == NO_REF {
            Vec::new()
        } else {
            read_qualifier_set(&mut heap.at(qref)?, &heap, depth)?
        };
        let sig = |r: u32| -> Result<Option<Box<Object>>, WmioError> {
            if r == NO_REF {
                return Ok(None);
            }
            // MethodSignatureBlock ([MS-WMIO] 2.2.47): EncodingLength then an ObjectBlock.
            let mut h = heap.at(r)?;
            let len = usize_of(h.u32("signature length")?);
            if len == 0 {
                return Ok(None);
            }
            let block = h.take(len, "method signature")?;
            depth.spend(block.len())?;
            Ok(Some(Box::new(decode_block(block, depth.deeper())?)))
        };
        out.push(Method {
            name,
            flags,
            origin,
            qualifiers,
            input: sig(inref)?,
            output: sig(outref)?,
        });
    }
    Ok(out)
}

fn read_class_and_methods(cur: &mut Cur<'_>, depth: Ctx<'_>) -> Result<ClassDef, WmioError> {
    let info = read_class_part(cur, depth)?;
    // INVARIANT: the class was just made, so nothing else shares it: no copy here.
    let mut class = Arc::unwrap_or_clone(info.class);
    class.methods = read_methods_part(cur, depth)?;
    Ok(class)
}

/// Reads the instance part of an `InstanceType` ([MS-WMIO] 2.2.53) given its class part.
pub(crate) fn read_instance(
    cur: &mut Cur<'_>,
    info: ClassPartInfo,
    depth: Ctx<'_>,
) -> Result<Instance, WmioError> {
    let start = cur.clone();
    let enc_len = usize_of(cur.u32("instance length")?);
    let mut part = Cur::new(start.clone().take(enc_len, "instance part")?);
    part.take(4, "instance length")?;
    let _flags = part.u8("instance flags")?;
    let _class_name = part.u32("instance class name")?;
    let ndvt = part.take(info.nd_vt_len, "instance values")?;
    let iq_len = usize_of(part.u32("instance qualifier set length")?);
    let iq = part.take(
        iq_len
            .checked_sub(4)
            .ok_or(WmioError::Invalid("qualifier set length"))?,
        "instance qualifiers",
    )?;
    // InstancePropQualifierSet ([MS-WMIO] 2.2.65): flag 1 = none, 2 = one set per property.
    let pq_flag = part.u8("instance property qualifier flag")?;
    let count = info.class.properties.len();
    let mut pq_raw = Vec::new();
    match pq_flag {
        1 => {}
        2 => {
            for _ in 0..count {
                let l = usize_of(part.u32("property qualifier set length")?);
                pq_raw.push(
                    part.take(
                        l.checked_sub(4)
                            .ok_or(WmioError::Invalid("qualifier set length"))?,
                        "property qualifiers",
                    )?,
                );
            }
        }
        _ => return Err(WmioError::Invalid("instance property qualifier flag")),
    }
    let heap = Heap::read(&mut part, depth)?;
    *cur = start;
    cur.take(enc_len, "instance part")?;

    let nd_bytes = nd_len(count);
    let nd = ndvt
        .get(..nd_bytes)
        .ok_or(WmioError::Truncated("ndtable"))?;
    let vt = ndvt.get(nd_bytes..).unwrap_or(&[]);
    let mut values = Vec::with_capacity(count);
    for (i, (p, off)) in info
        .class
        .properties
        .iter()
        .zip(info.offsets.iter())
        .enumerate()
    {
        values.push(read_slot(
            vt,
            *off,
            p.cim_type,
            nd_flags(nd, i),
            &heap,
            true,
            depth,
        )?);
    }
    let qualifiers = read_qualifiers(iq, &heap, depth)?;
    let mut property_qualifiers = Vec::new();
    for (p, raw) in info.class.properties.iter().zip(pq_raw) {
        let q = read_qualifiers(raw, &heap, depth)?;
        if !q.is_empty() {
            property_qualifiers.push((p.name.clone(), q));
        }
    }
    Ok(Instance {
        class: info.class,
        values,
        qualifiers,
        property_qualifiers,
    })
}

/// Reads `ObjectFlags` and the optional `Decoration` ([MS-WMIO] 2.2.6, 2.2.7).
pub(crate) fn read_flags_and_decoration(
    cur: &mut Cur<'_>,
) -> Result<(u8, Option<Decoration>), WmioError> {
    let flags = cur.u8("object flags")?;
    let decoration = if flags & OBJECT_FLAG_DECORATION != 0 {
        let server = read_encoded_string(cur)?;
        let namespace = read_encoded_string(cur)?;
        Some(Decoration { server, namespace })
    } else {
        None
    };
    Ok((flags, decoration))
}

/// Decodes an `ObjectBlock`; for an instance, also returns its class part's layout.
pub(crate) fn decode_block_with_class(
    data: &[u8],
    depth: Ctx<'_>,
    memo: Option<&ClassMemo>,
) -> Result<(Object, Option<ClassPartInfo>), WmioError> {
    if depth.level > MAX_DEPTH {
        return Err(WmioError::TooDeep);
    }
    let mut cur = Cur::new(data);
    let (flags, decoration) = read_flags_and_decoration(&mut cur)?;
    if flags & OBJECT_FLAG_CLASS != 0 {
        let parent = read_class_and_methods(&mut cur, depth)?;
        let current = read_class_and_methods(&mut cur, depth)?;
        Ok((
            Object {
                decoration,
                kind: ObjectKind::Class { parent, current },
            },
            None,
        ))
    } else if flags & OBJECT_FLAG_INSTANCE != 0 {
        let info = match memo {
            // Only at the root level: deeper, the nesting limit could refuse what the root
            // accepts.
            Some(memo) if depth.level == 0 => read_class_part_memo(&mut cur, depth, memo)?,
            _ => read_class_part(&mut cur, depth)?,
        };
        let instance = read_instance(&mut cur, info.clone(), depth)?;
        Ok((
            Object {
                decoration,
                kind: ObjectKind::Instance(instance),
            },
            Some(info),
        ))
    } else {
        Err(WmioError::Invalid("object flags"))
    }
}

/// A class part is remembered by a [`ClassMemo`] only if its decode spent at most this many
/// times its length from the budget (see [`Ctx`]).
const MEMO_SPEND_FACTOR: usize = 2;

/// [`read_class_part`] through `memo`: the class part's octets (its `EncodingLength` covers
/// them, [MS-WMIO] 2.2.16) are looked up and decoded only when absent, then remembered. A
/// class part is self-contained (its own heap), so the same octets give the same class either
/// way; a hit spends none of the decode budget, so an array that would run out of budget
/// decoding the same part again may decode whole with the memo (never the reverse).
fn read_class_part_memo(
    cur: &mut Cur<'_>,
    depth: Ctx<'_>,
    memo: &ClassMemo,
) -> Result<ClassPartInfo, WmioError> {
    let enc_len = usize_of(cur.clone().u32("class part length")?);
    let octets = cur.clone().take(enc_len, "class part")?;
    if let Some(info) = memo.get(octets) {
        cur.take(enc_len, "class part")?;
        return Ok(info);
    }
    let before = depth.budget.get();
    let info = read_class_part(cur, depth)?;
    // What the decode spent bounds what the class holds. A class part whose heap items are
    // each read about once spends about its length; one that references the same items over
    // and over (allowed, up to the whole array's budget) could decode to several times the
    // memo's octet bound, so it is not remembered.
    let spent = before.saturating_sub(depth.budget.get());
    if spent <= MEMO_SPEND_FACTOR.saturating_mul(octets.len()) {
        memo.insert(octets, &info);
    }
    Ok(info)
}

pub(crate) fn decode_block(data: &[u8], depth: Ctx<'_>) -> Result<Object, WmioError> {
    decode_block_with_class(data, depth, None).map(|(o, _)| o)
}

/// Decodes an `ObjectBlock` ([MS-WMIO] 2.2.5). Bytes after the object are ignored.
pub fn decode_object_block(data: &[u8]) -> Result<Object, WmioError> {
    let budget = budget_for(data.len());
    decode_block(data, Ctx::root(&budget))
}

/// Decodes an `EncodingUnit` ([MS-WMIO] 2.2.1): `Signature`, `ObjectEncodingLength`,
/// `ObjectBlock`.
pub fn decode_encoding_unit(data: &[u8]) -> Result<Object, WmioError> {
    decode_encoding_unit_with(data, None)
}

/// [`decode_encoding_unit`] with the instance's class part looked up in and kept by `memo`
/// when given ([`ClassMemo`]): an object fetched alone (`IEnumWbemClassObject::Next`,
/// `GetObject`) carries its whole class every time, which the memo decodes once per scan.
pub fn decode_encoding_unit_with(
    data: &[u8],
    memo: Option<&ClassMemo>,
) -> Result<Object, WmioError> {
    let mut cur = Cur::new(data);
    let sig = cur.u32("signature")?;
    if sig != SIGNATURE {
        return Err(WmioError::BadSignature(sig));
    }
    let len = usize_of(cur.u32("object encoding length")?);
    let block = cur.take(len, "object block")?;
    let budget = budget_for(block.len());
    decode_block_with_class(block, Ctx::root(&budget), memo).map(|(o, _)| o)
}

/// Decodes arbitrary bytes as an `EncodingUnit`, an `ObjectBlock` and an `ObjectArray`
/// ([MS-WMI] 2.2.14), discarding the results: the fuzzing entry point (never panics).
pub fn fuzz_decode(data: &[u8]) {
    use crate::object_array::{decode_object_array, ClassCache};
    let unit = decode_encoding_unit(data);
    let _ = decode_object_block(data);
    let plain = decode_object_array(data, &mut ClassCache::new(8));
    // Through a class memo, twice (the second finds what the first kept): whatever decodes
    // without it decodes to the same objects with it.
    let memo = std::sync::Arc::new(ClassMemo::new(8, 1 << 20));
    for _ in 0..2 {
        let with = decode_encoding_unit_with(data, Some(&memo));
        if let Ok(unit) = &unit {
            assert_eq!(
                with.as_ref().ok(),
                Some(unit),
                "the class memo changed a decode"
            );
        }
        let with = decode_object_array(data, &mut ClassCache::with_memo(8, memo.clone()));
        if let Ok(plain) = &plain {
            assert_eq!(
                with.as_ref().ok(),
                Some(plain),
                "the class memo changed a decode"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::value::CimType;

    fn long_string_instance() -> Vec<u8> {
        let c =
            ClassDef::new("T", &[]).with_property("S", CimType::scalar(CimBase::String), vec![]);
        let mut i = Instance::new(c);
        i.set("S", Value::String("x".repeat(3000))).unwrap();
        crate::encode_object_block(&Object::from_instance(i)).unwrap()
    }

    /// [`fuzz_decode`] (which checks that a memo changes no decode) over `good` and over
    /// each of its single-bit flips at 0x01 and 0x80.
    fn fuzz_every_bit_flip(good: &[u8]) {
        fuzz_decode(good);
        for at in 0..good.len() {
            for bit in [0x01, 0x80] {
                let mut bad = good.to_vec();
                bad[at] ^= bit;
                fuzz_decode(&bad);
            }
        }
    }

    #[test]
    fn damaged_object_arrays_decode_the_same_with_a_class_memo() {
        use crate::object_array::{encode_object_array, SentClasses};
        let one = Object::from_instance(Instance::new(ClassDef::new("T", &[]).with_property(
            "S",
            CimType::scalar(CimBase::String),
            vec![],
        )));
        let good = encode_object_array(&[one], 0, &mut SentClasses::new()).unwrap();
        fuzz_every_bit_flip(&good);
    }

    #[test]
    fn encoding_units_decode_once_and_the_same_through_a_class_memo() {
        let mut i = Instance::new(ClassDef::new("T", &[]).with_property(
            "S",
            CimType::scalar(CimBase::String),
            vec![],
        ));
        i.set("S", Value::String("one".into())).unwrap();
        let unit = crate::encode_encoding_unit(&Object::from_instance(i)).unwrap();
        let memo = ClassMemo::new(8, 1 << 20);
        let plain = decode_encoding_unit(&unit).unwrap();
        assert_eq!(
            decode_encoding_unit_with(&unit, Some(&memo)).unwrap(),
            plain
        );
        assert_eq!((memo.len(), memo.hits()), (1, 0));
        assert_eq!(
            decode_encoding_unit_with(&unit, Some(&memo)).unwrap(),
            plain
        );
        assert_eq!((memo.len(), memo.hits()), (1, 1));
        fuzz_every_bit_flip(&unit);
    }

    #[test]
    fn heap_dereferences_spend_the_budget() {
        let block = long_string_instance();
        let small = Cell::new(1000);
        assert_eq!(
            decode_block(&block, Ctx::root(&small)).err(),
            Some(WmioError::Invalid("shared heap references beyond budget"))
        );
        let enough = budget_for(block.len());
        assert!(decode_block(&block, Ctx::root(&enough)).is_ok());
        assert!(enough.get() < budget_for(block.len()).get() - 3000);
    }

    #[test]
    fn heap_ref_zero_for_an_array_or_object_is_no_value_of_its_own() {
        // impacket's SpawnInstance: an array with HeapRef 0 and no NULL flag, where the
        // instance heap's offset 0 holds the class name (read as a count it is huge).
        let c = ClassDef::new("Winv_T", &[])
            .with_property("A", CimType::array_of(CimBase::Uint32), vec![])
            .default_value(Value::Array(CimBase::Uint32, vec![Value::Uint32(7)]))
            .with_property("O", CimType::scalar(CimBase::Object), vec![])
            .with_property("N", CimType::scalar(CimBase::Uint32), vec![]);
        let mut i = Instance::new(c);
        i.set("A", Value::Array(CimBase::Uint32, vec![Value::Uint32(1)]))
            .unwrap();
        i.set("N", Value::Uint32(0)).unwrap();
        let obj = Object::from_instance(i);
        let mut block = crate::encode_object_block(&obj).unwrap();
        let ObjectKind::Instance(inst) = decode_object_block(&block).unwrap().kind else {
            panic!("not an instance");
        };
        assert_eq!(
            inst.values[0],
            Slot::Set(Value::Array(CimBase::Uint32, vec![Value::Uint32(1)]))
        );
        // The array's HeapRef is the first value table entry: overwrite it with 0.
        let at = find_instance_value_table(&block);
        block[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
        let ObjectKind::Instance(inst) = decode_object_block(&block).unwrap().kind else {
            panic!("not an instance");
        };
        assert_eq!(
            inst.values[0],
            Slot::Default,
            "HeapRef 0: the class default applies"
        );
        assert_eq!(
            inst.get("A"),
            Some(&Value::Array(CimBase::Uint32, vec![Value::Uint32(7)]))
        );
        // A scalar number 0 stays a value.
        assert_eq!(inst.values[2], Slot::Set(Value::Uint32(0)));
    }

    /// The offset of the first value table entry of the instance part of `block` (an
    /// undecorated instance): its class part's length, then EncodingLength, InstanceFlags,
    /// InstanceClassName and the NdTable.
    fn find_instance_value_table(block: &[u8]) -> usize {
        let class_len = u32::from_le_bytes([block[1], block[2], block[3], block[4]]) as usize;
        1 + class_len + 4 + 1 + 4 + 1
    }

    #[test]
    fn ndtable_reads_two_bits_per_property() {
        // 0b11_10_01_00: property 0 set, 1 NULL, 2 default, 3 NULL and default.
        let nd = [0b1110_0100u8, 0b0000_0001];
        assert_eq!(nd_flags(&nd, 0), 0);
        assert_eq!(nd_flags(&nd, 1), ND_NULL);
        assert_eq!(nd_flags(&nd, 2), ND_DEFAULT);
        assert_eq!(nd_flags(&nd, 3), ND_NULL | ND_DEFAULT);
        assert_eq!(nd_flags(&nd, 4), ND_NULL);
        assert_eq!(nd_len(4), 1);
        assert_eq!(nd_len(5), 2);
    }

    #[test]
    fn encoded_strings_latin1_and_utf16() {
        let mut c = Cur::new(b"\x00caf\xe9\x00");
        assert_eq!(read_encoded_string(&mut c).unwrap(), "caf\u{e9}");
        let mut c = Cur::new(b"\x01\xac\x20\x00\x00");
        assert_eq!(read_encoded_string(&mut c).unwrap(), "\u{20ac}");
        assert!(read_encoded_string(&mut Cur::new(b"\x02a\x00")).is_err());
        assert!(
            read_encoded_string(&mut Cur::new(b"\x00abc")).is_err(),
            "unterminated"
        );
    }

    #[test]
    fn an_encoded_string_ends_at_its_terminator_and_the_cursor_after_it() {
        // ASCII, then Latin-1 with octets above 0x7f, then what follows is left unread.
        let mut c = Cur::new(b"\x00Win32_Service\x00\x00\xc0\xff\x00tail");
        assert_eq!(read_encoded_string(&mut c).unwrap(), "Win32_Service");
        assert_eq!(read_encoded_string(&mut c).unwrap(), "\u{c0}\u{ff}");
        assert_eq!(c.rest(), b"tail");
        // The UTF-16 terminator is a whole unit at an even offset from the string's start: a
        // zero octet pair across two units ends nothing.
        let mut c = Cur::new(b"\x01\x00\x41\x42\x00\x00\x00!");
        assert_eq!(read_encoded_string(&mut c).unwrap(), "\u{4100}B");
        assert_eq!(c.rest(), b"!");
        // An unpaired surrogate is replaced, as in a lossy decode; the next units stay.
        let mut c = Cur::new(b"\x01\x00\xd8a\x00\x00\x00");
        assert_eq!(read_encoded_string(&mut c).unwrap(), "\u{fffd}a");
        // An odd octet after the last whole unit is no terminator.
        assert_eq!(
            read_encoded_string(&mut Cur::new(b"\x01a\x00\x00")),
            Err(WmioError::Truncated("utf-16 string"))
        );
        assert_eq!(
            read_encoded_string(&mut Cur::new(b"\x00")),
            Err(WmioError::Truncated("latin-1 string"))
        );
        assert_eq!(read_encoded_string(&mut Cur::new(b"\x00\x00")).unwrap(), "");
    }

    #[test]
    fn dictionary_references_resolve() {
        let budget = budget_for(0);
        let heap = Heap {
            items: b"",
            ctx: Ctx::root(&budget),
        };
        assert_eq!(heap.string(DICTIONARY_BIT | 1).unwrap(), "key");
        assert_eq!(heap.string(DICTIONARY_BIT | 10).unwrap(), "CIMTYPE");
        assert_eq!(
            heap.string(DICTIONARY_BIT | 11),
            Err(WmioError::BadDictionaryRef(11))
        );
        assert_eq!(heap.string(NO_REF), Err(WmioError::BadHeapRef(NO_REF)));
    }
}
