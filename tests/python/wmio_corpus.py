"""MS-WMIO objects written by impacket's encoder, and impacket reading ours.

Usage:
  wmio_corpus.py generate OUTDIR   writes OUTDIR/NAME.bin (an EncodingUnit) and
                                   OUTDIR/NAME.json (what impacket was asked to encode)
  wmio_corpus.py read FILE...      parses each EncodingUnit with impacket and prints
                                   {"FILE": {"class": ..., "properties": {...}}} as JSON

Nothing here talks to a network: impacket's IWbemClassObject is built around an
OBJREF_CUSTOM in memory, which is how impacket holds every object it receives.

Two of impacket's encoders are used:

- its high-level paths, the ones a WMI client of impacket runs: a class changed with
  setClassName / addNewAttribute and marshalMe (IWbemServices.PutClass), SpawnInstance, and
  an instance whose attributes are set and marshalled (IWbemServices.PutInstance);
- its MS-WMIO structures (ENCODING_UNIT, OBJECT_BLOCK, CLASS_PART, PROPERTY_INFO,
  QUALIFIER_SET, INSTANCE_TYPE, HEAP, ENCODED_STRING) for what the high-level paths cannot
  write: array properties of a class (addNewAttribute fails on them), string, datetime,
  reference and object arrays, embedded objects, qualifiers other than CIMTYPE, inherited
  properties. Their layout follows [MS-WMIO] 2.2 and what impacket's own reader expects.

The expected values in NAME.json are what a client reading the object must see for each
property ("value": the resolved value, null for NULL), with notes where impacket's bytes
differ from what its caller meant (see "note").
"""
import contextlib
import io
import json
import os
import struct
import sys

from impacket.dcerpc.v5.dcom import wmi
from impacket.dcerpc.v5.dcom.wmi import (
    CLASS_AND_METHODS_PART, CLASS_PART, CLASS_TYPE, CLSID_WbemClassObject,
    CURRENT_CLASS_NO_METHODS, ENCODED_STRING, ENCODING_UNIT, HEAP, IID_IWbemClassObject,
    INSTANCE_TYPE, METHODS_PART, OBJECT_BLOCK, IWbemClassObject,
)
from impacket.dcerpc.v5.dcomrt import INTERFACE, OBJREF_CUSTOM

# [MS-WMIO] 2.2.82 CimType codes. impacket's CIM_TYPE_ENUM has wrong codes for some
# arrays (CIM_ARRAY_UINT32 = 8201 is 0x2009, not 0x2013), so the codes are written here.
BASE = {
    "sint8": 16, "uint8": 17, "sint16": 2, "uint16": 18, "sint32": 3, "uint32": 19,
    "sint64": 20, "uint64": 21, "real32": 4, "real64": 5, "boolean": 11, "string": 8,
    "datetime": 101, "ref": 102, "char16": 103, "object": 13,
}
PACK = {
    "sint8": "<b", "uint8": "<B", "sint16": "<h", "uint16": "<H", "sint32": "<l",
    "uint32": "<L", "sint64": "<q", "uint64": "<Q", "real32": "<f", "real64": "<d",
    "boolean": "<H", "char16": "<H",
}
BY_REF = ("string", "datetime", "ref", "object")
ARRAY = 0x2000
INHERITED = 0x4000
KEY = 0x80000001  # the dictionary's "key"
CIMTYPE = 0x8000000A  # the dictionary's "CIMTYPE"

# One sample value per scalar type: exactly representable, away from 0 so that a
# value read from the wrong offset shows.
SCALARS = {
    "sint8": -7, "uint8": 250, "sint16": -30000, "uint16": 65000, "sint32": -2000000000,
    "uint32": 4000000000, "sint64": -9000000000000000000, "uint64": 18000000000000000000,
    # Reals negative: impacket's class reader takes a positive real default for a HeapRef.
    "real32": -2.5, "real64": -6.02214076e23, "boolean": True, "string": "Caf\u00e9 cr\u00e8me",
    "datetime": "20261201153000.000000+060", "ref": 'Win32_Service.Name="Spooler"',
    "char16": 0x263A,
}
ARRAYS = {
    "sint8": [-128, 0, 127], "uint8": [0, 1, 255], "sint16": [-32768, 32767],
    "uint16": [0, 65535, 7], "sint32": [-1, 2147483647], "uint32": [4294967295, 0, 42],
    "sint64": [-9223372036854775808, 9223372036854775807], "uint64": [18446744073709551615, 1],
    "real32": [0.5, -1.25, 3.0], "real64": [1e-300, -2.0], "boolean": [True, False, True],
    "string": ["", "a", "\u00fcber", "\u4e2d\u6587"], "datetime": ["20000101000000.000000+000"],
    "ref": ['\\\\HOST\\root\\cimv2:Win32_Disk.DeviceID="C:"', 'X.k=1'],
    "char16": [65, 0x20AC],
}


def enc_string(s):
    """An EncodedString ([MS-WMIO] 2.2.78): Latin-1 when it fits, else UTF-16LE."""
    e = ENCODED_STRING()
    try:
        s.encode("latin-1")
        e["Character"] = s
    except UnicodeEncodeError:
        e.structure = ENCODED_STRING.tunicode
        e["Encoded_String_Flag"] = 1
        e["Character"] = s.encode("utf-16le")
    return e.getData()


class Heap:
    def __init__(self):
        self.data = b""

    def add(self, b):
        at = len(self.data)
        self.data += b
        return at

    def string(self, s):
        return self.add(enc_string(s))

    def value(self, t, v):
        """The EncodedValue of v (type t, "name" or "name[]") as value-table bytes."""
        if t.endswith("[]"):
            base = t[:-2]
            at = len(self.data)
            self.data += struct.pack("<L", len(v))
            if base in BY_REF:
                table = len(self.data)
                self.data += b"\0" * (4 * len(v))
                refs = []
                for item in v:
                    refs.append(self.scalar_ref(base, item))
                self.data = (self.data[:table] + b"".join(struct.pack("<L", r) for r in refs)
                             + self.data[table + 4 * len(v):])
            else:
                for item in v:
                    self.data += struct.pack(PACK[base], scalar_bits(base, item))
            return struct.pack("<L", at)
        if t in BY_REF:
            return struct.pack("<L", self.scalar_ref(t, v))
        return struct.pack(PACK[t], scalar_bits(t, v))

    def scalar_ref(self, base, v):
        if base == "object":
            block = v["block"]
            return self.add(struct.pack("<L", len(block)) + block)
        return self.string(v)

    def heap(self):
        h = HEAP()
        h["HeapLength"] = len(self.data) | 0x80000000
        h["HeapItem"] = self.data
        return h.getData()


def scalar_bits(t, v):
    if t == "boolean":
        return 0xFFFF if v else 0
    return v


def inline_size(t):
    if t.endswith("[]") or t in BY_REF:
        return 4
    return struct.calcsize(PACK[t])


def type_code(t):
    if t.endswith("[]"):
        return BASE[t[:-2]] | ARRAY
    return BASE[t]


def qualifier_set(heap, quals):
    """A QualifierSet ([MS-WMIO] 2.2.59): (name, flavor, type, value) tuples."""
    body = b""
    for name, flavor, t, v in quals:
        ref = name if isinstance(name, int) else heap.string(name)
        body += struct.pack("<LBL", ref, flavor, type_code(t)) + heap.value(t, v)
    return struct.pack("<L", len(body) + 4) + body


def class_part(name, derivation, class_quals, props):
    """A ClassPart ([MS-WMIO] 2.2.15) through impacket's CLASS_PART.

    props: dicts with name, type, inherited, origin, quals, and default = ("set", v) |
    ("null",) | ("inherited_null",).
    """
    heap = Heap()
    name_ref = heap.string(name) if name is not None else 0xFFFFFFFF
    dl = b""
    for d in derivation:
        s = enc_string(d)
        dl += s + struct.pack("<L", len(s))
    cq = qualifier_set(heap, class_quals)
    lookups = []
    offset = 0
    for order, p in enumerate(props):
        nref = heap.string(p["name"])
        pq = qualifier_set(heap, p.get("quals", []))
        code = type_code(p["type"]) | (INHERITED if p.get("inherited") else 0)
        info = struct.pack("<LHLL", code, order, offset, p.get("origin", 0)) + pq
        iref = heap.add(info)
        lookups.append((p["name"].lower(), nref, iref))
        p["_offset"] = offset
        offset += inline_size(p["type"])
    nd = bytearray((len(props) + 3) // 4)
    vt = b""
    for i, p in enumerate(props):
        d = p["default"]
        if d[0] == "set":
            vt += heap.value(p["type"], d[1])
            flags = 2 if p.get("inherited") else 0
        else:
            vt += b"\xff" * inline_size(p["type"])  # NoValue ([MS-WMIO] 2.2.29)
            flags = 1 if d[0] == "null" else 3
        nd[i // 4] |= flags << (2 * (i % 4))
    ndvt = bytes(nd) + vt
    cp = CLASS_PART()
    cp["ClassHeader"] = b""
    cp["DerivationList"] = struct.pack("<L", len(dl) + 4) + dl
    cp["ClassQualifierSet"] = cq
    lookups.sort()
    cp["PropertyLookupTable"] = struct.pack("<L", len(props)) + b"".join(
        struct.pack("<LL", n, r) for _, n, r in lookups)
    cp["NdTable_ValueTable"] = ndvt
    cp["ClassHeap"] = heap.heap()
    body = cp.getData()
    header = struct.pack("<LBLL", len(body) + 13, 0, name_ref, len(ndvt))
    return header + body


def empty_methods():
    m = METHODS_PART()
    m["MethodCount"] = 0
    m["MethodCountPadding"] = 0
    m["MethodDescription"] = b""
    h = HEAP()
    h["HeapLength"] = 0x80000000
    h["HeapItem"] = b""
    m["MethodHeap"] = h.getData()
    m["EncodingLength"] = len(m.getData())
    return m.getData()


def decoration():
    return enc_string("CORPUS") + enc_string("root\\cimv2")


def class_block(parent_part, current_part):
    ob = OBJECT_BLOCK()
    ob.structure += OBJECT_BLOCK.decoration + OBJECT_BLOCK.classType
    ob["ObjectFlags"] = 0x05
    ob["Decoration"] = decoration()
    ob["ClassType"] = parent_part + empty_methods() + current_part + empty_methods()
    return ob.getData()


def instance_block(cpart, props, values, class_name):
    """An instance ([MS-WMIO] 2.2.53) through impacket's INSTANCE_TYPE: values[i] is
    ("set", v) | ("null",) | ("default",)."""
    heap = Heap()
    name_ref = heap.string(class_name)
    nd = bytearray((len(props) + 3) // 4)
    vt = b""
    for i, (p, v) in enumerate(zip(props, values)):
        if v[0] == "set":
            vt += heap.value(p["type"], v[1])
            flags = 0
        else:
            vt += b"\0" * inline_size(p["type"])
            flags = 1 if v[0] == "null" else 2
        nd[i // 4] |= flags << (2 * (i % 4))
    it = INSTANCE_TYPE()
    it["CurrentClass"] = b""
    it["EncodingLength"] = 0
    it["InstanceFlags"] = 0
    it["InstanceClassName"] = name_ref
    it["NdTable_ValueTable"] = bytes(nd) + vt
    it["InstanceQualifierSet"] = b"\x04\x00\x00\x00\x01"
    it["InstanceHeap"] = heap.heap()
    it["EncodingLength"] = len(it.getData())
    it["CurrentClass"] = cpart
    ob = OBJECT_BLOCK()
    ob.structure += OBJECT_BLOCK.decoration + OBJECT_BLOCK.instanceType
    ob["ObjectFlags"] = 0x06
    ob["Decoration"] = decoration()
    ob["InstanceType"] = it.getData()
    return ob.getData()


def unit(block):
    eu = ENCODING_UNIT()
    eu["ObjectEncodingLength"] = len(block)
    eu["ObjectBlock"] = block
    return eu.getData()


def wbem_object(encoding_unit):
    """impacket's IWbemClassObject around an EncodingUnit in memory."""
    ref = OBJREF_CUSTOM()
    ref["iid"] = IID_IWbemClassObject
    ref["clsid"] = CLSID_WbemClassObject
    ref["cbExtension"] = 0
    ref["ObjectReferenceSize"] = len(encoding_unit)
    ref["pObjectData"] = encoding_unit
    iface = INTERFACE(None, ref.getData(), None, oxid=b"\0" * 8, target="winv-corpus")
    return IWbemClassObject(iface)


def marshalled(obj):
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # marshalMe prints every property
            ref = obj.marshalMe()
    except Exception:
        sys.stderr.write(printed.getvalue()[-400:])
        raise
    data = ref["pObjectData"]
    return data if isinstance(data, bytes) else data.getData()


def spawned(obj):
    return obj.SpawnInstance().encodingUnit.getData()


def jv(t, v):
    """The expected JSON of a value of type t."""
    if v is None:
        return None
    if t.startswith("object"):
        if t.endswith("[]"):
            return [item["expect"] for item in v]
        return v["expect"]
    return v


def expected(name, kind, cls, props, values, notes=None, class_quals=None):
    return {
        "name": name, "kind": kind, "class": cls,
        "class_qualifiers": class_quals or {},
        "properties": [
            {"name": p["name"], "type": p["type"], "inherited": bool(p.get("inherited")),
             "qualifiers": {q[0] if isinstance(q[0], str) else {KEY: "key", CIMTYPE: "CIMTYPE"}[q[0]]: q[3]
                            for q in p.get("quals", [])},
             "value": jv(p["type"], v)}
            for p, v in zip(props, values)
        ],
        "notes": notes or [],
    }


def generate(out):
    os.makedirs(out, exist_ok=True)
    written = []

    def emit(name, data, exp):
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(exp, f, indent=1, sort_keys=True)
        written.append(name)

    # An embedded instance, by impacket's structures: class Winv_Inner { string Label; uint32 N; }.
    inner_props = [
        {"name": "Label", "type": "string", "default": ("null",), "quals": [(KEY, 0, "boolean", True)]},
        {"name": "N", "type": "uint32", "default": ("set", 5)},
    ]
    inner_cpart = class_part("Winv_Inner", [], [], inner_props)

    def inner(label, n):
        block = instance_block(inner_cpart, inner_props, [("set", label), ("set", n)], "Winv_Inner")
        return {"block": block, "expect": {"class": "Winv_Inner", "properties": {"Label": label, "N": n}}}

    # 1. A class through impacket's PutClass path: setClassName, addNewAttribute for every
    #    scalar type, marshalMe. The seed is an empty class of impacket's structures.
    seed = unit(class_block(class_part(None, [], [], []), class_part("Winv_Seed", [], [], [])))
    cls = wbem_object(seed)
    cls.setClassName("Winv_PutClass")
    attrs = []
    for t, v in SCALARS.items():
        # impacket packs the value with the type's struct code; a boolean as 1 (Windows
        # writes 0xFFFF; any non-zero value is TRUE).
        cls.addNewAttribute("P_" + t, type("T", (), {"value": BASE[t]})(), v)
        attrs.append({"name": "P_" + t, "type": t, "quals": [(CIMTYPE, 0, "string", cim_name(t))]})
    cls.addNewAttribute("P_nostring", type("T", (), {"value": BASE["string"]})(), None)
    attrs.append({"name": "P_nostring", "type": "string", "quals": [(CIMTYPE, 0, "string", "string")]})
    attrs.sort(key=lambda a: a["name"])
    vals = [SCALARS.get(a["name"][2:], "") for a in attrs]
    emit("putclass_scalars", marshalled(cls), expected(
        "putclass_scalars", "class", "Winv_PutClass", attrs, vals,
        notes=["a None string default is written as an empty string by impacket"]))

    # 2. A class of impacket's structures with every type, scalar and array, empty and
    #    NULL arrays, an embedded object and an object array, qualifiers of several types
    #    and properties inherited from a base class.
    base_props = [
        {"name": "Name", "type": "string", "default": ("null",),
         "quals": [(KEY, 0x03, "boolean", True), ("MaxLen", 0x01, "uint32", 256)]},
        {"name": "Tags", "type": "string[]", "default": ("set", ["base", "inherited"])},
    ]
    base_cpart = class_part("Winv_Base", [], [("abstract", 0x03, "boolean", True)], base_props)
    props = [dict(p, inherited=True, origin=1) for p in base_props]
    for t, v in SCALARS.items():
        props.append({"name": "S_" + t, "type": t, "default": ("set", v)})
        props.append({"name": "A_" + t, "type": t + "[]", "default": ("set", ARRAYS[t])})
    for t in ("uint32", "string", "object"):
        props.append({"name": "E_" + t, "type": t + "[]", "default": ("set", [])})
        props.append({"name": "N_" + t, "type": t + "[]", "default": ("null",)})
    props.append({"name": "N_scalar", "type": "sint32", "default": ("null",)})
    # impacket's high-level writer packs strings as Latin-1 only; its structures do UTF-16.
    props.append({"name": "U_string", "type": "string", "default": ("set", "\u20ac \u4e2d\u6587 \U0001F600")})
    props.append({"name": "O_object", "type": "object", "default": ("set", inner("dflt", 1)),
                  "quals": [("CIMTYPE", 0, "string", "object:Winv_Inner")]})
    props.append({"name": "A_object", "type": "object[]",
                  "default": ("set", [inner("first", 2), inner("second", 3)])})
    props.append({"name": "Q_all", "type": "uint32", "default": ("set", 1),
                  "quals": [("Description", 0x01, "string", "qualified"),
                            ("Values", 0x01, "string[]", ["One", "Two"]),
                            ("ValueMap", 0x01, "uint32[]", [1, 2]),
                            ("Weight", 0x00, "sint64", -25),
                            ("Flag", 0x10, "boolean", False),
                            ("Small", 0x00, "sint8", -1)]})
    class_quals = [("dynamic", 0x00, "boolean", True), ("provider", 0x00, "string", "CIMWin32"),
                   ("Revision", 0x00, "sint64", -5), ("Codes", 0x00, "uint32[]", [7, 8])]
    cpart = class_part("Winv_Corpus", ["Winv_Base"], class_quals, props)
    full = unit(class_block(base_cpart, cpart))
    defaults = [None if p["default"][0] != "set" else p["default"][1] for p in props]
    cq_exp = {q[0]: q[3] for q in class_quals}
    emit("class_full", full, expected("class_full", "class", "Winv_Corpus", props, defaults,
                                      class_quals=cq_exp))

    # 3. An instance of that class with every value set (NULL for the N_ properties), by
    #    impacket's structures.
    inst_values = []
    for p in props:
        d = p["default"]
        if d[0] != "set":
            inst_values.append(("null",))
        elif p["name"].startswith("S_") and p["type"] in ("uint32", "string"):
            inst_values.append(("default",))  # the class default applies
        elif p["type"] == "object":
            inst_values.append(("set", inner("own", 9)))
        else:
            inst_values.append(d)
    inst = unit(instance_block(cpart, props, inst_values, "Winv_Corpus"))
    resolved = [p["default"][1] if v[0] == "default" else (v[1] if v[0] == "set" else None)
                for p, v in zip(props, inst_values)]
    emit("instance_full", inst, expected("instance_full", "instance", "Winv_Corpus", props, resolved,
                                         class_quals=cq_exp))

    # 4. SpawnInstance (impacket's path): numbers 0, strings empty, arrays "not yet ready"
    #    (HeapRef 0 and no NULL flag, which impacket reads as no value), objects NULL with
    #    the default flag (the class default applies). impacket's instance reader takes a
    #    real scalar for a HeapRef (a TypeError), so this class has no real scalars.
    props = [dict(p) for p in props if p["name"] not in ("S_real32", "S_real64")]
    cpart = class_part("Winv_Spawn", ["Winv_Base"], class_quals, props)
    full_obj = wbem_object(unit(class_block(base_cpart, cpart)))
    spawn = spawned(full_obj)
    sp_values = []
    for p in props:
        t = p["type"]
        if t.endswith("[]") or t == "object":
            sp_values.append(p["default"][1] if p["default"][0] == "set" else None)
        elif t in ("string", "datetime", "ref"):
            sp_values.append("")
        elif t in ("real32", "real64"):
            sp_values.append(0.0)
        elif t == "boolean":
            sp_values.append(False)
        else:
            sp_values.append(0)
    emit("spawn", spawn, expected("spawn", "instance", "Winv_Spawn", props, sp_values, notes=[
        "arrays and objects: impacket writes HeapRef 0 without the NULL flag ('not yet "
        "ready'): no value of its own, the class default applies (impacket's reader keeps the "
        "class default for an inherited property and reads None for the others)"],
        class_quals=cq_exp))

    # 5. PutInstance's marshalMe on the spawned instance with every property set: every
    #    scalar type, every numeric array, an empty array; None where impacket cannot
    #    write the value (string and object arrays, embedded objects, UTF-16 strings) and
    #    on the NULL properties.
    obj = wbem_object(spawn)
    put_values = []
    for p in props:
        t, n = p["type"], p["name"]
        if n.startswith("S_"):
            v = SCALARS[t]
        elif n.startswith("A_") and t[:-2] in PACK:
            v = ARRAYS[t[:-2]]
        elif n == "E_uint32":
            v = []
        elif n == "Q_all":
            v = 7
        elif n in ("Name", "U_string"):
            v = ""  # marshalMe cannot write None for a string, nor UTF-16
        else:
            v = None
        setattr(obj, n, v)
        put_values.append(v)
    put = marshalled(obj)
    # impacket writes None and "" with the NdTable bits swapped (0b10 and 0b11: "default"
    # where it means NULL and empty), so a reader sees the class default there.
    exp_put = [(p["default"][1] if p["default"][0] == "set" else None) if v is None or v == "" else v
               for p, v in zip(props, put_values)]
    exp = expected("putinstance", "instance", "Winv_Spawn", props, exp_put, notes=[
        "None and empty strings: impacket sets the NdTable bits 0b10/0b11 ('default'), so "
        "the class default applies; impacket_meant records what its caller gave"],
        class_quals=cq_exp)
    for e, v in zip(exp["properties"], put_values):
        if v is None or v == "":
            e["impacket_meant"] = v
    emit("putinstance", put, exp)
    return written


def cim_name(t):
    return {"boolean": "bool", "ref": "reference"}.get(t, t)


def plain(v):
    if isinstance(v, ENCODING_UNIT):
        return read_unit(v.getData())
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return v


def read_unit(data):
    """What impacket's reader sees in an EncodingUnit: the class, and per property its
    value as impacket returns it (embedded objects the same way, nested)."""
    eu = ENCODING_UNIT(data)
    ob = eu["ObjectBlock"]
    ob.parseObject()
    cur = ob.ctCurrent
    return {"class": cur["name"].split(" ")[0], "instance": ob.isInstance(),
            "values": {name: plain(p["value"]) for name, p in cur["properties"].items()}}


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "generate":
        names = generate(sys.argv[2])
        print(json.dumps({"written": names}))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "read":
        out = {}
        for path in sys.argv[2:]:
            with open(path, "rb") as f:
                data = f.read()
            try:
                out[path] = read_unit(data)
            except Exception as e:  # reported per file, the caller fails the test
                out[path] = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(out))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
