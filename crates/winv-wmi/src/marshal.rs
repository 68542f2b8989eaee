//! Marshaling of `IWbemClassObject` ([MS-WMI] 2.2.4): a CIM object travels as an
//! `OBJREF_CUSTOM` ([MS-DCOM] 2.2.18.6) with iid `IWbemClassObject`, clsid
//! `CLSID_WbemClassObject` `{4590F812-1D3A-11D0-891F-00AA004B2E24}`, and as `pObjectData`
//! the [MS-WMIO] 2.2.1 EncodingUnit:
//!
//! ```text
//! MEOW | flags 4 | iid | clsid | cbExtension 0 | reserved | EncodingUnit
//! EncodingUnit = Signature 0x12345678 | ObjectEncodingLength (u32) | ObjectBlock
//! ```
//!
//! Nothing else sits between the OBJREF header and the EncodingUnit. In the object a real
//! Windows host returned (impacket's test data, `Win32_CurrentTime`), `reserved` is the
//! length of `pObjectData` (the whole EncodingUnit) and `ObjectEncodingLength` is that
//! length minus 8; [`class_object_to_pointer`] writes the same.

use crate::error::{Result, WmiError};
use winv_dcerpc::interfaces::IWBEMCLASSOBJECT;
use winv_dcom::clsid::CLSID_WBEM_CLASS_OBJECT;
use winv_dcom::{MInterfacePointer, ObjRef};
use winv_ndr::Uuid;

/// `Signature` of an EncodingUnit ([MS-WMIO] 2.2.1).
pub const ENCODING_UNIT_SIGNATURE: u32 = 0x1234_5678;

/// Bytes of the EncodingUnit header: `Signature` and `ObjectEncodingLength`
/// ([MS-WMIO] 2.2.1).
pub const ENCODING_UNIT_HEADER_LEN: usize = 8;

/// The EncodingUnit ([MS-WMIO] 2.2.1) carried by a marshaled `IWbemClassObject`
/// ([MS-WMI] 2.2.4): checks the OBJREF is custom with the `IWbemClassObject` iid and
/// `CLSID_WbemClassObject`, that the data starts with the EncodingUnit signature and holds
/// the `ObjectEncodingLength` it announces, and returns the EncodingUnit (signature,
/// length and ObjectBlock; bytes after it are dropped).
pub fn class_object_from_pointer(p: &MInterfacePointer) -> Result<Vec<u8>> {
    let (iid, clsid, object_data) = match ObjRef::from_interface_pointer(p)? {
        ObjRef::Custom {
            iid,
            clsid,
            object_data,
            ..
        } => (iid, clsid, object_data),
        _ => return Err(WmiError::NotClassObject("objref is not custom")),
    };
    if iid != IWBEMCLASSOBJECT.uuid {
        return Err(WmiError::NotClassObject("iid is not IWbemClassObject"));
    }
    if clsid != CLSID_WBEM_CLASS_OBJECT {
        return Err(WmiError::NotClassObject(
            "clsid is not CLSID_WbemClassObject",
        ));
    }
    let len = encoding_unit_len(&object_data)?;
    let mut unit = object_data;
    unit.truncate(len);
    Ok(unit)
}

/// Marshals an EncodingUnit ([MS-WMIO] 2.2.1) as an `IWbemClassObject` OBJREF_CUSTOM in an
/// `MInterfacePointer` ([MS-WMI] 2.2.4), with `cbExtension` 0 and `reserved` the length of
/// the EncodingUnit, as Windows sends it. The bytes are not checked.
pub fn class_object_to_pointer(encoding_unit: &[u8]) -> Result<MInterfacePointer> {
    let reserved = u32::try_from(encoding_unit.len())
        .map_err(|_| WmiError::Invalid("encoding unit longer than 4 gib"))?;
    let objref = ObjRef::Custom {
        iid: IWBEMCLASSOBJECT.uuid,
        clsid: CLSID_WBEM_CLASS_OBJECT,
        extension: 0,
        reserved,
        object_data: encoding_unit.to_vec(),
    };
    Ok(objref.to_interface_pointer()?)
}

/// The `iid` of the OBJREF ([MS-DCOM] 2.2.18) in an interface pointer: which interface a
/// returned object reference is for (e.g. `IWbemServices` from `NTLMLogin`).
pub fn interface_iid(p: &MInterfacePointer) -> Result<Uuid> {
    Ok(ObjRef::from_interface_pointer(p)?.iid())
}

/// Checks the EncodingUnit header at the start of `data` and returns the EncodingUnit's
/// total length (header plus `ObjectEncodingLength`).
fn encoding_unit_len(data: &[u8]) -> Result<usize> {
    let field = |at: usize| -> Result<u32> {
        data.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or(WmiError::NotClassObject("truncated encoding unit header"))
    };
    if field(0)? != ENCODING_UNIT_SIGNATURE {
        return Err(WmiError::NotClassObject("bad encoding unit signature"));
    }
    let body = usize::try_from(field(4)?)
        .map_err(|_| WmiError::NotClassObject("encoding unit too long"))?;
    let total = body
        .checked_add(ENCODING_UNIT_HEADER_LEN)
        .filter(|&t| t <= data.len())
        .ok_or(WmiError::NotClassObject(
            "encoding unit longer than its objref",
        ))?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit(body: &[u8]) -> Vec<u8> {
        let mut v = ENCODING_UNIT_SIGNATURE.to_le_bytes().to_vec();
        v.extend_from_slice(&u32::try_from(body.len()).expect("small").to_le_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn to_pointer_writes_the_windows_layout() {
        let u = unit(b"abc");
        let p = class_object_to_pointer(&u).expect("marshal");
        assert_eq!(&p.data[..4], b"MEOW");
        assert_eq!(&p.data[4..8], &4u32.to_le_bytes());
        assert_eq!(&p.data[8..24], &IWBEMCLASSOBJECT.uuid.to_bytes_le());
        assert_eq!(&p.data[24..40], &CLSID_WBEM_CLASS_OBJECT.to_bytes_le());
        assert_eq!(&p.data[40..44], &0u32.to_le_bytes());
        assert_eq!(&p.data[44..48], &11u32.to_le_bytes());
        assert_eq!(&p.data[48..], &u[..]);
        assert_eq!(class_object_from_pointer(&p).expect("unmarshal"), u);
    }

    #[test]
    fn wrong_iid_clsid_or_signature_is_rejected() {
        let u = unit(b"abc");
        let wrong_clsid = ObjRef::custom(IWBEMCLASSOBJECT.uuid, Uuid::nil(), u.clone());
        let p = wrong_clsid.to_interface_pointer().expect("encode");
        assert!(matches!(
            class_object_from_pointer(&p),
            Err(WmiError::NotClassObject(_))
        ));
        let wrong_iid = ObjRef::custom(Uuid::nil(), CLSID_WBEM_CLASS_OBJECT, u.clone());
        let p = wrong_iid.to_interface_pointer().expect("encode");
        assert!(class_object_from_pointer(&p).is_err());
        let mut bad = u.clone();
        bad[0] = 0;
        let p = class_object_to_pointer(&bad).expect("marshal");
        assert!(class_object_from_pointer(&p).is_err());
        // ObjectEncodingLength beyond the data.
        let mut long = u;
        long[4] = 200;
        let p = class_object_to_pointer(&long).expect("marshal");
        assert!(class_object_from_pointer(&p).is_err());
    }

    #[test]
    fn bytes_after_the_encoding_unit_are_dropped() {
        let u = unit(b"xyz");
        let mut padded = u.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        let p = class_object_to_pointer(&padded).expect("marshal");
        assert_eq!(class_object_from_pointer(&p).expect("unmarshal"), u);
    }

    proptest! {
        #[test]
        fn marshal_round_trips(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let u = unit(&body);
            let p = class_object_to_pointer(&u).expect("marshal");
            prop_assert_eq!(class_object_from_pointer(&p).expect("unmarshal"), u);
        }

        #[test]
        fn unmarshal_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = class_object_from_pointer(&MInterfacePointer { data });
        }
    }
}
