//! `IEnumWbemClassObject` ([MS-WMI] 3.1.4.4), `IWbemFetchSmartEnum` ([MS-WMI] 3.1.4.6) and
//! `IWbemWCOSmartEnum` ([MS-WMI] 3.1.4.7).
//!
//! Interface UUIDs: [`winv_dcerpc::interfaces::IENUMWBEMCLASSOBJECT`],
//! [`winv_dcerpc::interfaces::IWBEMFETCHSMARTENUM`],
//! [`winv_dcerpc::interfaces::IWBEMWCOSMARTENUM`].

use crate::error::{Result, WmiError};
use crate::stub::{opnum, params};
use winv_dcom::{Hresult, MInterfacePointer, OrpcThat, OrpcThis};
use winv_ndr::{NdrError, NdrReader, NdrWriter, Uuid};

/// Opnums of `IEnumWbemClassObject` ([MS-WMI] 3.1.4.4), `IWbemFetchSmartEnum`
/// ([MS-WMI] 3.1.4.6) and `IWbemWCOSmartEnum` ([MS-WMI] 3.1.4.7).
pub mod opnums {
    /// `IEnumWbemClassObject::Reset` ([MS-WMI] 3.1.4.4.1).
    pub const RESET: u16 = 3;
    /// `IEnumWbemClassObject::Next` ([MS-WMI] 3.1.4.4.2).
    pub const NEXT: u16 = 4;
    /// `IEnumWbemClassObject::NextAsync` ([MS-WMI] 3.1.4.4.3).
    pub const NEXT_ASYNC: u16 = 5;
    /// `IEnumWbemClassObject::Clone` ([MS-WMI] 3.1.4.4.4).
    pub const CLONE: u16 = 6;
    /// `IEnumWbemClassObject::Skip` ([MS-WMI] 3.1.4.4.5).
    pub const SKIP: u16 = 7;
    /// `IWbemFetchSmartEnum::GetSmartEnum` ([MS-WMI] 3.1.4.6.1).
    pub const GET_SMART_ENUM: u16 = 3;
    /// `IWbemWCOSmartEnum::Next` ([MS-WMI] 3.1.4.7.1).
    pub const SMART_NEXT: u16 = 3;
}

params! {
    /// `IEnumWbemClassObject::Reset` request ([MS-WMI] 3.1.4.4.1): no parameters.
    pub struct EnumResetRequest {
        /// `ORPCTHIS` ([MS-DCOM] 2.2.13.1).
        pub this: OrpcThis,
    }
}

params! {
    /// A response that carries only the HRESULT: `IEnumWbemClassObject::Reset`
    /// ([MS-WMI] 3.1.4.4.1), `NextAsync` (3.1.4.4.3) and `Skip` (3.1.4.4.5).
    pub struct HresultResponse {
        /// `ORPCTHAT` ([MS-DCOM] 2.2.13.3).
        pub that: OrpcThat,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IEnumWbemClassObject::Next` request ([MS-WMI] 3.1.4.4.2):
    /// `[in] long lTimeout, [in] ULONG uCount`.
    pub struct EnumNextRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `lTimeout` in milliseconds, or `WBEM_INFINITE` (-1).
        pub timeout: i32,
        /// `uCount`: the most objects to return.
        pub count: u32,
    }
}

/// `IEnumWbemClassObject::Next` response ([MS-WMI] 3.1.4.4.2):
/// `[out, size_is(uCount), length_is(*puReturned)] IWbemClassObject** apObjects,
/// [out] ULONG* puReturned`, then the HRESULT.
///
/// `apObjects` is a conformant varying array of unique interface pointers: max_count is
/// the request's `uCount` ([`capacity`](Self::capacity)), offset 0, actual_count the
/// number returned; `puReturned` repeats that number. The HRESULT is `WBEM_S_NO_ERROR`
/// when `uCount` objects came back, `WBEM_S_FALSE` when fewer did (end of the result
/// set) and `WBEM_S_TIMEDOUT` when the timeout elapsed first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnumNextResponse {
    /// `ORPCTHAT`.
    pub that: OrpcThat,
    /// The conformance of `apObjects` (the request's `uCount`).
    pub capacity: u32,
    /// The returned objects (`IWbemClassObject` OBJREFs; see [`crate::marshal`]).
    pub objects: Vec<Option<MInterfacePointer>>,
    /// The method's return value.
    pub hresult: Hresult,
}

impl EnumNextResponse {
    /// Encodes the parameters as NDR stub data. `puReturned` is `objects.len()`; fails if
    /// that exceeds `capacity`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = NdrWriter::new();
        w.write(&self.that)?;
        let n =
            u32::try_from(self.objects.len()).map_err(|_| NdrError::TooLarge("object count"))?;
        if n > self.capacity {
            return Err(NdrError::TooLarge("more objects than capacity").into());
        }
        w.u32(self.capacity);
        w.variance(0, self.objects.len())?;
        w.elements(&self.objects)?;
        w.elements_deferred(&self.objects)?;
        w.u32(n);
        w.write(&self.hresult)?;
        Ok(w.into_bytes())
    }

    /// Decodes NDR stub data. Fails on a non-zero array offset and when `puReturned`
    /// disagrees with the array's actual_count.
    pub fn decode(data: &[u8]) -> Result<Self> {
        let mut r = NdrReader::new(data);
        let that = r.read::<OrpcThat>()?;
        let capacity = r.max_count()?;
        let (offset, actual) = r.variance(capacity)?;
        if offset != 0 {
            return Err(WmiError::Invalid("apObjects offset"));
        }
        let mut objects: Vec<Option<MInterfacePointer>> = r.elements(actual)?;
        r.elements_deferred(&mut objects)?;
        let returned = r.u32()?;
        if returned != actual {
            return Err(WmiError::Invalid(
                "puReturned differs from apObjects length",
            ));
        }
        let hresult = r.read::<Hresult>()?;
        r.finish()?;
        Ok(Self {
            that,
            capacity,
            objects,
            hresult,
        })
    }
}

params! {
    /// `IEnumWbemClassObject::NextAsync` request ([MS-WMI] 3.1.4.4.3):
    /// `[in] ULONG uCount, [in] IWbemObjectSink* pSink`. The response is a
    /// [`HresultResponse`].
    pub struct EnumNextAsyncRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `uCount`.
        pub count: u32,
        /// `pSink`: the client's `IWbemObjectSink`.
        pub sink: Option<MInterfacePointer>,
    }
}

params! {
    /// `IEnumWbemClassObject::Clone` request ([MS-WMI] 3.1.4.4.4): no parameters.
    pub struct EnumCloneRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
    }
}

params! {
    /// `IEnumWbemClassObject::Clone` response ([MS-WMI] 3.1.4.4.4):
    /// `[out] IEnumWbemClassObject** ppEnum`, then the HRESULT.
    pub struct EnumCloneResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `ppEnum`.
        pub enumerator: Option<MInterfacePointer>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IEnumWbemClassObject::Skip` request ([MS-WMI] 3.1.4.4.5):
    /// `[in] long lTimeout, [in] ULONG nCount`. The response is a [`HresultResponse`].
    pub struct EnumSkipRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `lTimeout`.
        pub timeout: i32,
        /// `nCount`.
        pub count: u32,
    }
}

params! {
    /// `IWbemFetchSmartEnum::GetSmartEnum` request ([MS-WMI] 3.1.4.6.1): no parameters.
    pub struct GetSmartEnumRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
    }
}

params! {
    /// `IWbemFetchSmartEnum::GetSmartEnum` response ([MS-WMI] 3.1.4.6.1):
    /// `[out] IWbemWCOSmartEnum** ppSmartEnum`, then the HRESULT.
    pub struct GetSmartEnumResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `ppSmartEnum`: an `IWbemWCOSmartEnum` OBJREF.
        pub smart_enum: Option<MInterfacePointer>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemWCOSmartEnum::Next` request ([MS-WMI] 3.1.4.7.1):
    /// `[in] REFGUID proxyGUID, [in] long lTimeout, [in] ULONG uCount`. `proxyGUID` is a
    /// top-level `[ref]` pointer, so the GUID itself is on the wire.
    pub struct SmartEnumNextRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `proxyGUID`: identifies the client's proxy (its class cache) to the server.
        pub proxy_guid: Uuid,
        /// `lTimeout`.
        pub timeout: i32,
        /// `uCount`.
        pub count: u32,
    }
}

/// `IWbemWCOSmartEnum::Next` response ([MS-WMI] 3.1.4.7.1): `[out] ULONG* puReturned,
/// [out] ULONG* pdwBuffSize, [out, size_is(,*pdwBuffSize)] byte** pBuffer`, then the
/// HRESULT.
///
/// `pBuffer` is a unique pointer to a conformant byte array holding the ObjectArray of
/// [MS-WMI] 2.2.14 (`WBEMDATA` header and objects); its content is decoded elsewhere.
/// `pdwBuffSize` is the buffer's length (0 for a null buffer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmartEnumNextResponse {
    /// `ORPCTHAT`.
    pub that: OrpcThat,
    /// `puReturned`: objects in the buffer.
    pub returned: u32,
    /// `pBuffer`.
    pub buffer: Option<Vec<u8>>,
    /// The method's return value.
    pub hresult: Hresult,
}

impl SmartEnumNextResponse {
    /// Encodes the parameters as NDR stub data; `pdwBuffSize` is the buffer's length.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = NdrWriter::new();
        w.write(&self.that)?;
        w.u32(self.returned);
        let size = self.buffer.as_ref().map_or(0, Vec::len);
        w.max_count(size)?;
        if let Some(buf) = &self.buffer {
            w.pointer(true);
            w.max_count(buf.len())?;
            w.bytes(buf);
        } else {
            w.pointer(false);
        }
        w.write(&self.hresult)?;
        Ok(w.into_bytes())
    }

    /// Decodes NDR stub data. Fails when `pdwBuffSize` disagrees with the buffer.
    pub fn decode(data: &[u8]) -> Result<Self> {
        let mut r = NdrReader::new(data);
        let that = r.read::<OrpcThat>()?;
        let returned = r.u32()?;
        let size = r.u32()?;
        let buffer = match r.pointer()? {
            None => None,
            Some(_) => {
                let n = r.max_count()?;
                r.check_count(u64::from(n), 1)?;
                // INVARIANT: n <= remaining input, checked just above.
                Some(r.bytes(n as usize)?.to_vec())
            }
        };
        let len = buffer.as_ref().map_or(0, Vec::len);
        if u64::from(size) != len as u64 {
            return Err(WmiError::Invalid("pdwBuffSize differs from pBuffer length"));
        }
        let hresult = r.read::<Hresult>()?;
        r.finish()?;
        Ok(Self {
            that,
            returned,
            buffer,
            hresult,
        })
    }
}

opnum! {
    EnumResetRequest = opnums::RESET,
    EnumNextRequest = opnums::NEXT,
    EnumNextAsyncRequest = opnums::NEXT_ASYNC,
    EnumCloneRequest = opnums::CLONE,
    EnumSkipRequest = opnums::SKIP,
    GetSmartEnumRequest = opnums::GET_SMART_ENUM,
    SmartEnumNextRequest = opnums::SMART_NEXT,
}
