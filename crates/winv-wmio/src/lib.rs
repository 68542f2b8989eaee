//! MS-WMIO: the binary encoding of CIM classes and instances that WMI carries inside
//! `IWbemClassObject` references ([MS-WMIO] 2.2).
//!
//! No I/O: bytes in, typed objects out, and back.
//!
//! - [`value`]: CIM types ([MS-WMIO] 2.2.82 CimType) and typed values.
//! - [`object`]: the object model: classes, properties, methods, qualifiers, instances.
//! - [`decode`] / [`encode`]: `EncodingUnit` and `ObjectBlock` ([MS-WMIO] 2.2.1, 2.2.5).
//! - [`builder`]: terse construction of classes and instances, key paths.
//! - [`json`]: JSON rendering of objects and values.
//! - [`object_array`]: the smart enumerator's `ObjectArray` ([MS-WMI] 2.2.14).

pub mod builder;
pub mod decode;
pub mod encode;
pub mod error;
pub mod json;
pub mod object;
pub mod object_array;
pub mod value;

pub use decode::{
    decode_encoding_unit, decode_encoding_unit_with, decode_object_block, fuzz_decode, MAX_DEPTH,
};
pub use encode::{encode_encoding_unit, encode_object_block};
pub use error::WmioError;
pub use json::{to_json, value_to_json};
pub use object::{
    ClassDef, Decoration, Instance, Method, Object, ObjectKind, Property, Qualifier, Slot,
};
pub use value::{CimBase, CimType, Value};
