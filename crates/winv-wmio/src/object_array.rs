//! `ObjectArray` ([MS-WMI] 2.2.14): the buffer of `IWbemWCOSmartEnum::Next` and of the
//! optimized `IWbemObjectSink::Indicate`.
//!
//! Layout: a header (`dwByteOrdering` 0, `abSignature` "WBEMDATA", `dwSizeOfHeader1` 0x1A,
//! `dwDataSize1`, `dwFlags` 0, `bVersion` 1, `bPacketType`), `dwSizeOfHeader2` 8,
//! `dwDataSize2`, `dwSizeOfHeader3` 12, `dwDataSize3`, `dwNumObjects`, then that many
//! `WBEM_DATAPACKET_OBJECT`s ([MS-WMI] 2.2.14.1: `dwSizeOfHeader` 9, `dwSizeOfData`,
//! `bObjectType`) holding a `WBEMOBJECT_CLASS` (type 1, 2.2.14.2: header 8, an
//! `ObjectBlock`), a `WBEMOBJECT_INSTANCE` (type 2, 2.2.14.3: header 0x18, `classID`, an
//! `ObjectBlock`) or a `WBEMOBJECT_INSTANCE_NOCLASS` (type 3, 2.2.14.4: header 0x18,
//! `classID`, an `EncodingUnitInstanceNoClass` of [MS-WMIO] 2.2.3 whose class part was sent
//! earlier in a type-2 object with the same `classID`).

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::decode::{
    budget_for, decode_block_with_class, read_flags_and_decoration, read_instance, ClassPartInfo,
    Ctx, Cur,
};
use crate::encode::{class_part, encode_object_block, instance_part, write_flags_and_decoration};
use crate::error::WmioError;
use crate::object::{Object, ObjectKind};

/// `abSignature` ([MS-WMI] 2.2.14).
pub const SIGNATURE: &[u8; 8] = b"WBEMDATA";
/// `bObjectType` ([MS-WMI] 2.2.14.1): `WBEMOBJECT_CLASS`.
pub const TYPE_CLASS: u8 = 1;
/// `bObjectType` ([MS-WMI] 2.2.14.1): `WBEMOBJECT_INSTANCE`.
pub const TYPE_INSTANCE: u8 = 2;
/// `bObjectType` ([MS-WMI] 2.2.14.1): `WBEMOBJECT_INSTANCE_NOCLASS`.
pub const TYPE_INSTANCE_NOCLASS: u8 = 3;

/// The per-enumerator class cache of a reader ([MS-WMI] 2.2.14.4): class parts seen in
/// `WBEMOBJECT_INSTANCE`s by `classID`, at most `capacity` of them (the oldest goes first),
/// and optionally a [`ClassMemo`] shared with other enumerators.
pub struct ClassCache {
    entries: VecDeque<([u8; 16], ClassPartInfo)>,
    capacity: usize,
    memo: Option<Arc<ClassMemo>>,
}

impl ClassCache {
    /// An empty cache holding at most `capacity` classes.
    pub fn new(capacity: usize) -> ClassCache {
        ClassCache {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            memo: None,
        }
    }
    /// An empty cache that decodes each class part it is sent only when `memo` does not
    /// hold the same octets already (and leaves it there for the next enumerator).
    pub fn with_memo(capacity: usize, memo: Arc<ClassMemo>) -> ClassCache {
        ClassCache {
            memo: Some(memo),
            ..ClassCache::new(capacity)
        }
    }
    /// The number of cached classes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    fn insert(&mut self, id: [u8; 16], info: ClassPartInfo) {
        self.entries.retain(|(k, _)| *k != id);
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((id, info));
    }
    fn get(&self, id: &[u8; 16]) -> Option<&ClassPartInfo> {
        self.entries.iter().find(|(k, _)| k == id).map(|(_, v)| v)
    }
}

/// Class parts already decoded, by their octets, shared by the enumerators of a session or
/// of a whole scan: every enumerator of a class is sent that class's part once (with its
/// first instance, [MS-WMI] 2.2.14.3), and a host of a given build sends the same octets
/// each time, as do the hosts of one build. A part found here is not decoded again; the
/// decoded class is shared ([`crate::Instance::class`] is an `Arc`).
///
/// Bounded: at most `max_entries` parts of at most [`ClassMemo::MAX_PART`] octets each and
/// `max_octets` in all (the oldest goes first); a larger part is decoded every time. A host
/// cannot change what another host's octets decode to: the key is all of them, compared
/// whole.
pub struct ClassMemo {
    inner: Mutex<MemoEntries>,
    max_entries: usize,
    max_octets: usize,
}

#[derive(Default)]
struct MemoEntries {
    entries: VecDeque<(Box<[u8]>, ClassPartInfo)>,
    octets: usize,
    hits: u64,
}

impl ClassMemo {
    /// The largest class part remembered: parts of the standard classes are 2 to 12 KiB.
    pub const MAX_PART: usize = 64 * 1024;

    /// An empty memo of at most `max_entries` class parts and `max_octets` of them in all.
    pub fn new(max_entries: usize, max_octets: usize) -> ClassMemo {
        ClassMemo {
            inner: Mutex::new(MemoEntries::default()),
            max_entries: max_entries.max(1),
            max_octets,
        }
    }
    /// The number of class parts held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }
    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// How many class parts were found here instead of decoded.
    pub fn hits(&self) -> u64 {
        self.lock().hits
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoEntries> {
        // A panic elsewhere while holding it leaves entries that are each whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn get(&self, octets: &[u8]) -> Option<ClassPartInfo> {
        let mut m = self.lock();
        let found = m
            .entries
            .iter()
            .find(|(k, _)| **k == *octets)
            .map(|(_, v)| v.clone());
        if found.is_some() {
            m.hits += 1;
        }
        found
    }
    pub(crate) fn insert(&self, octets: &[u8], info: &ClassPartInfo) {
        if octets.len() > Self::MAX_PART || octets.len() > self.max_octets {
            return;
        }
        let mut m = self.lock();
        if m.entries.iter().any(|(k, _)| **k == *octets) {
            return;
        }
        while m.entries.len() >= self.max_entries || m.octets + octets.len() > self.max_octets {
            let Some((k, _)) = m.entries.pop_front() else {
                break;
            };
            m.octets -= k.len();
        }
        m.octets += octets.len();
        m.entries.push_back((octets.into(), info.clone()));
    }
}

impl std::fmt::Debug for ClassMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.lock();
        f.debug_struct("ClassMemo")
            .field("len", &m.entries.len())
            .field("octets", &m.octets)
            .field("hits", &m.hits)
            .finish()
    }
}

impl std::fmt::Debug for ClassCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// A decoded `ObjectArray` ([MS-WMI] 2.2.14).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectArray {
    /// `bPacketType` (depends on the call).
    pub packet_type: u8,
    pub objects: Vec<Object>,
}

fn expect_u32(cur: &mut Cur<'_>, what: &'static str, want: u32) -> Result<(), WmioError> {
    if cur.u32(what)? == want {
        Ok(())
    } else {
        Err(WmioError::Invalid(what))
    }
}

fn sized<'a>(cur: &mut Cur<'a>, what: &'static str) -> Result<&'a [u8], WmioError> {
    let n = usize::try_from(cur.u32(what)?).map_err(|_| WmioError::Truncated(what))?;
    cur.take(n, what)
}

/// Decodes an `ObjectArray`, resolving instances without class through `cache` (and
/// adding the classes of instances that carry one).
pub fn decode_object_array(data: &[u8], cache: &mut ClassCache) -> Result<ObjectArray, WmioError> {
    let budget = budget_for(data.len());
    let mut cur = Cur::new(data);
    expect_u32(&mut cur, "byte ordering", 0)?;
    if cur.take(8, "signature")? != SIGNATURE {
        return Err(WmioError::Invalid("object array signature"));
    }
    expect_u32(&mut cur, "header1 size", 0x1a)?;
    let len1 = usize::try_from(cur.u32("data size 1")?)
        .map_err(|_| WmioError::Truncated("data size 1"))?;
    let _flags = cur.u32("flags")?;
    if cur.u8("version")? != 1 {
        return Err(WmioError::Invalid("object array version"));
    }
    let packet_type = cur.u8("packet type")?;
    let mut h = Cur::new(cur.take(len1, "object array data")?);
    expect_u32(&mut h, "header2 size", 8)?;
    let mut d2 = Cur::new(sized(&mut h, "data size 2")?);
    expect_u32(&mut d2, "header3 size", 12)?;
    let len3 =
        usize::try_from(d2.u32("data size 3")?).map_err(|_| WmioError::Truncated("data size 3"))?;
    let count = usize::try_from(d2.u32("object count")?)
        .map_err(|_| WmioError::Truncated("object count"))?;
    let mut objs = Cur::new(d2.take(len3, "objects")?);
    // Every object takes at least 17 octets of headers.
    let mut objects = Vec::with_capacity(count.min(objs.remaining() / 17));
    for _ in 0..count {
        expect_u32(&mut objs, "packet object header size", 9)?;
        let len = usize::try_from(objs.u32("packet object size")?)
            .map_err(|_| WmioError::Truncated("packet object"))?;
        let kind = objs.u8("object type")?;
        let mut p = Cur::new(objs.take(len, "packet object")?);
        let obj = match kind {
            TYPE_CLASS => {
                expect_u32(&mut p, "class header size", 8)?;
                let block = sized(&mut p, "class data size")?;
                decode_block_with_class(block, Ctx::root(&budget), None)?.0
            }
            TYPE_INSTANCE | TYPE_INSTANCE_NOCLASS => {
                expect_u32(&mut p, "instance header size", 0x18)?;
                let n = usize::try_from(p.u32("instance data size")?)
                    .map_err(|_| WmioError::Truncated("instance"))?;
                let mut id = [0u8; 16];
                id.copy_from_slice(p.take(16, "class id")?);
                let block = p.take(n, "instance data")?;
                if kind == TYPE_INSTANCE {
                    let memo = cache.memo.as_deref();
                    let (obj, info) = decode_block_with_class(block, Ctx::root(&budget), memo)?;
                    let info = info.ok_or(WmioError::Invalid("instance packet holds a class"))?;
                    cache.insert(id, info);
                    obj
                } else {
                    let info = cache
                        .get(&id)
                        .ok_or(WmioError::ClassCache("unknown class id"))?
                        .clone();
                    // EncodingUnitInstanceNoClass ([MS-WMIO] 2.2.3).
                    let mut b = Cur::new(block);
                    let (flags, decoration) = read_flags_and_decoration(&mut b)?;
                    if flags & crate::decode::OBJECT_FLAG_CLASS != 0 {
                        return Err(WmioError::Invalid("object flags"));
                    }
                    let instance = read_instance(&mut b, info, Ctx::root(&budget))?;
                    Object {
                        decoration,
                        kind: ObjectKind::Instance(instance),
                    }
                }
            }
            _ => return Err(WmioError::Invalid("packet object type")),
        };
        objects.push(obj);
    }
    Ok(ObjectArray {
        packet_type,
        objects,
    })
}

/// The writer's side of the class cache ([MS-WMI] 2.2.14.3, 2.2.14.4): class parts already sent in this enumeration and
/// the `classID` given to each (derived from the class part's bytes, so the same class gets
/// the same id).
#[derive(Debug, Default)]
pub struct SentClasses {
    sent: Vec<(Vec<u8>, [u8; 16])>,
}

impl SentClasses {
    /// Nothing sent yet.
    pub fn new() -> SentClasses {
        SentClasses::default()
    }
}

fn class_id(bytes: &[u8]) -> [u8; 16] {
    let mut id = [0u8; 16];
    for (i, chunk) in id.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (i, bytes).hash(&mut h);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    id
}

fn put32(out: &mut Vec<u8>, v: usize) -> Result<(), WmioError> {
    out.extend_from_slice(
        &u32::try_from(v)
            .map_err(|_| WmioError::TooLarge)?
            .to_le_bytes(),
    );
    Ok(())
}

/// Encodes `objects` as an `ObjectArray`: classes as type 1, the first instance of each
/// class as type 2 and later ones (per `sent`, which lasts for the enumeration) as type 3.
pub fn encode_object_array(
    objects: &[Object],
    packet_type: u8,
    sent: &mut SentClasses,
) -> Result<Vec<u8>, WmioError> {
    let mut items = Vec::new();
    for obj in objects {
        let mut inner = Vec::new();
        let kind = match &obj.kind {
            ObjectKind::Class { .. } => {
                let block = encode_object_block(obj)?;
                put32(&mut inner, 8)?;
                put32(&mut inner, block.len())?;
                inner.extend_from_slice(&block);
                TYPE_CLASS
            }
            ObjectKind::Instance(i) => {
                let cp = class_part(&i.class, 0)?;
                let (kind, id, block) = match sent.sent.iter().find(|(b, _)| *b == cp) {
                    Some((_, id)) => {
                        let mut block = Vec::new();
                        write_flags_and_decoration(&mut block, obj)?;
                        block.extend_from_slice(&instance_part(i, 0)?);
                        (TYPE_INSTANCE_NOCLASS, *id, block)
                    }
                    None => {
                        let id = class_id(&cp);
                        sent.sent.push((cp, id));
                        (TYPE_INSTANCE, id, encode_object_block(obj)?)
                    }
                };
                put32(&mut inner, 0x18)?;
                put32(&mut inner, block.len())?;
                inner.extend_from_slice(&id);
                inner.extend_from_slice(&block);
                kind
            }
        };
        put32(&mut items, 9)?;
        put32(&mut items, inner.len())?;
        items.push(kind);
        items.extend_from_slice(&inner);
    }
    let mut d3 = Vec::with_capacity(items.len() + 12);
    put32(&mut d3, 12)?;
    put32(&mut d3, items.len())?;
    put32(&mut d3, objects.len())?;
    d3.extend_from_slice(&items);
    let mut out = Vec::with_capacity(d3.len() + 34);
    put32(&mut out, 0)?;
    out.extend_from_slice(SIGNATURE);
    put32(&mut out, 0x1a)?;
    put32(&mut out, d3.len() + 8)?;
    put32(&mut out, 0)?; // dwFlags
    out.push(1); // bVersion
    out.push(packet_type);
    put32(&mut out, 8)?;
    put32(&mut out, d3.len())?;
    out.extend_from_slice(&d3);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::object::{ClassDef, Instance};
    use crate::value::{CimBase, CimType, Value};

    fn proc_instance(pid: u32) -> Object {
        let c = ClassDef::new("Win32_Process", &["CIM_Process"])
            .with_property(
                "Handle",
                CimType::scalar(CimBase::String),
                vec![crate::Qualifier::key()],
            )
            .with_property("ProcessId", CimType::scalar(CimBase::Uint32), vec![]);
        let mut i = Instance::new(c);
        i.set("Handle", Value::String(pid.to_string())).unwrap();
        i.set("ProcessId", Value::Uint32(pid)).unwrap();
        Object::from_instance(i).decorated("HOST", "root\\cimv2")
    }

    #[test]
    fn second_instance_goes_without_class_and_comes_back_whole() {
        let objs = vec![
            Object::class(ClassDef::new("C", &[]).with_property(
                "X",
                CimType::scalar(CimBase::Uint8),
                vec![],
            )),
            proc_instance(4),
            proc_instance(8),
        ];
        let mut sent = SentClasses::new();
        let bytes = encode_object_array(&objs, 7, &mut sent).unwrap();
        assert_eq!(&bytes[4..12], b"WBEMDATA");
        // Object types in order: class, instance, instance-without-class.
        let mut cache = ClassCache::new(4);
        let arr = decode_object_array(&bytes, &mut cache).unwrap();
        assert_eq!(arr.packet_type, 7);
        assert_eq!(arr.objects, objs);
        assert_eq!(cache.len(), 1);
        // A later batch of the same enumeration sends only the no-class form.
        let more = vec![proc_instance(12)];
        let bytes2 = encode_object_array(&more, 7, &mut sent).unwrap();
        assert!(
            bytes2.len()
                < encode_object_array(&more, 7, &mut SentClasses::new())
                    .unwrap()
                    .len()
        );
        assert_eq!(
            decode_object_array(&bytes2, &mut cache).unwrap().objects,
            more
        );
        // Without the cached class it is an error, not a guess.
        assert_eq!(
            decode_object_array(&bytes2, &mut ClassCache::new(4)),
            Err(WmioError::ClassCache("unknown class id"))
        );
    }

    #[test]
    fn cache_is_bounded() {
        let mut cache = ClassCache::new(2);
        let mut sent = SentClasses::new();
        for n in ["A", "B", "C"] {
            let c =
                ClassDef::new(n, &[]).with_property("X", CimType::scalar(CimBase::Uint8), vec![]);
            let b = encode_object_array(&[Object::from_instance(Instance::new(c))], 0, &mut sent)
                .unwrap();
            decode_object_array(&b, &mut cache).unwrap();
        }
        assert_eq!(cache.len(), 2);
    }

    fn one_of(class: &str, x: u8) -> Object {
        let c =
            ClassDef::new(class, &[]).with_property("X", CimType::scalar(CimBase::Uint8), vec![]);
        let mut i = Instance::new(c);
        i.set("X", Value::Uint8(x)).unwrap();
        Object::from_instance(i)
    }

    #[test]
    fn a_memo_decodes_a_class_part_once_across_enumerators_and_the_objects_stay_equal() {
        let memo = Arc::new(ClassMemo::new(8, 1 << 20));
        let objs = vec![proc_instance(4), proc_instance(8)];
        let mut decoded = Vec::new();
        // Three enumerators, each sent the class with its first instance.
        for _ in 0..3 {
            let bytes = encode_object_array(&objs, 0, &mut SentClasses::new()).unwrap();
            let mut cache = ClassCache::with_memo(4, memo.clone());
            let arr = decode_object_array(&bytes, &mut cache).unwrap();
            assert_eq!(arr.objects, objs);
            decoded.push(arr.objects);
        }
        assert_eq!(memo.len(), 1);
        assert_eq!(memo.hits(), 2, "decoded by the first enumerator only");
        // The later enumerators' instances share the first one's class.
        let class = |o: &Object| match &o.kind {
            ObjectKind::Instance(i) => i.class.clone(),
            ObjectKind::Class { .. } => panic!("an instance was sent"),
        };
        assert!(Arc::ptr_eq(&class(&decoded[0][0]), &class(&decoded[2][1])));
        // Another class's octets are not mistaken for it.
        let other = vec![one_of("Win32_Process2", 1)];
        let bytes = encode_object_array(&other, 0, &mut SentClasses::new()).unwrap();
        let arr = decode_object_array(&bytes, &mut ClassCache::with_memo(4, memo.clone())).unwrap();
        assert_eq!(arr.objects, other);
        assert_eq!((memo.len(), memo.hits()), (2, 2));
    }

    #[test]
    fn a_memo_is_bounded_in_entries_and_octets() {
        let memo = Arc::new(ClassMemo::new(2, 1 << 20));
        for n in ["A", "B", "C"] {
            let b = encode_object_array(&[one_of(n, 1)], 0, &mut SentClasses::new()).unwrap();
            decode_object_array(&b, &mut ClassCache::with_memo(4, memo.clone())).unwrap();
        }
        assert_eq!(memo.len(), 2);
        // "A", the oldest, went first: sending it again decodes it (no hit) and evicts "B".
        let b = encode_object_array(&[one_of("A", 2)], 0, &mut SentClasses::new()).unwrap();
        decode_object_array(&b, &mut ClassCache::with_memo(4, memo.clone())).unwrap();
        assert_eq!((memo.len(), memo.hits()), (2, 0));
        // A memo with too little room for one class part holds none and decodes every time.
        let tiny = Arc::new(ClassMemo::new(8, 16));
        for _ in 0..2 {
            decode_object_array(&b, &mut ClassCache::with_memo(4, tiny.clone())).unwrap();
        }
        assert_eq!((tiny.len(), tiny.hits()), (0, 0));
    }

    #[test]
    fn a_damaged_class_part_is_refused_with_a_memo_as_without_and_not_remembered() {
        let memo = Arc::new(ClassMemo::new(8, 1 << 20));
        let good = encode_object_array(&[proc_instance(4)], 0, &mut SentClasses::new()).unwrap();
        for cut in [60, good.len() / 2, good.len() - 3] {
            let mut bad = good.clone();
            bad.truncate(cut);
            let with = decode_object_array(&bad, &mut ClassCache::with_memo(4, memo.clone()));
            let without = decode_object_array(&bad, &mut ClassCache::new(4));
            assert_eq!(with, without);
            assert!(with.is_err());
        }
        // Octets flipped inside the class part's heap: the same verdict both ways.
        for at in 80..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            let with = decode_object_array(&bad, &mut ClassCache::with_memo(4, memo.clone()));
            let without = decode_object_array(&bad, &mut ClassCache::new(4));
            assert_eq!(with, without, "octet {at}");
        }
    }

    #[test]
    fn a_class_part_that_references_one_heap_item_over_and_over_is_not_remembered() {
        // Eight string properties: the first's default 3,000 octets, the others' short.
        let mut c = ClassDef::new("Winv_Shared", &[]);
        let texts: Vec<String> = (0..8)
            .map(|k| {
                if k == 0 {
                    "a".repeat(3000)
                } else {
                    format!("b{k}")
                }
            })
            .collect();
        for (k, t) in texts.iter().enumerate() {
            c = c
                .with_property(format!("S{k}"), CimType::scalar(CimBase::String), vec![])
                .default_value(Value::String(t.clone()));
        }
        let honest = vec![Object::from_instance(Instance::new(c))];
        let good = encode_object_array(&honest, 0, &mut SentClasses::new()).unwrap();
        let memo = Arc::new(ClassMemo::new(8, 1 << 20));
        decode_object_array(&good, &mut ClassCache::with_memo(4, memo.clone())).unwrap();
        assert_eq!(memo.len(), 1, "an honest class part is remembered");

        // The same class part with every default pointing at the long string: valid, and
        // decoded the same with a memo or without, but eight times the text for 3 KB.
        let find = |needle: &[u8]| {
            good.windows(needle.len())
                .position(|w| w == needle)
                .unwrap()
        };
        let pos: Vec<usize> = texts
            .iter()
            .map(|t| find(&[&[0u8][..], t.as_bytes(), &[0]].concat()))
            .collect();
        let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let table = (0..good.len() - 32)
            .find(|&i| {
                (1..8).all(|k| {
                    u32_at(&good, i + 4 * k).wrapping_sub(u32_at(&good, i))
                        == (pos[k] - pos[0]) as u32
                })
            })
            .expect("the defaults' heap references");
        let mut shared = good.clone();
        let first = u32_at(&good, table).to_le_bytes();
        for k in 1..8 {
            shared[table + 4 * k..table + 4 * k + 4].copy_from_slice(&first);
        }
        let memo = Arc::new(ClassMemo::new(8, 1 << 20));
        let with = decode_object_array(&shared, &mut ClassCache::with_memo(4, memo.clone()));
        let without = decode_object_array(&shared, &mut ClassCache::new(4));
        assert_eq!(with, without);
        let ObjectKind::Instance(i) = &with.unwrap().objects[0].kind else {
            panic!("an instance was sent");
        };
        assert!(i
            .class
            .properties
            .iter()
            .all(|p| p.default == crate::Slot::Set(Value::String(texts[0].clone()))));
        assert_eq!(memo.len(), 0, "not remembered");
    }
}
