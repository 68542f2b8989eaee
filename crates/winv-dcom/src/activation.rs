//! Remote activation: `IRemoteSCMActivator::RemoteCreateInstance` (opnum 4,
//! [MS-DCOM] 3.1.2.5.2.3.3) and the activation properties it carries
//! ([MS-DCOM] 2.2.22): an `OBJREF_CUSTOM` whose object data is the activation properties
//! BLOB (2.2.22.1): `dwSize`, `dwReserved`, a `CustomHeader` (2.2.22.2) and property sets,
//! each NDR type-serialized version 1 ([MS-RPCE] 2.2.6).

use crate::clsid::*;
use crate::error::{DcomError, Result};
use crate::objref::{Cursor, DualStringArray, ObjRef};
use crate::orpc::{ComVersion, Hresult, MInterfacePointer, OrpcThat, OrpcThis};
use uuid::Uuid;
use winv_ndr::{decode_type1, encode_type1, NdrDecode, NdrEncode, NdrReader, NdrWriter, WString};

type NdrResult<T> = winv_ndr::Result<T>;

/// `IRemoteSCMActivator::RemoteCreateInstance` opnum ([MS-DCOM] 3.1.2.5.2.3.3).
pub const OPNUM_REMOTE_CREATE_INSTANCE: u16 = 4;
/// `IRemoteSCMActivator::RemoteGetClassObject` opnum ([MS-DCOM] 3.1.2.5.2.3.2).
pub const OPNUM_REMOTE_GET_CLASS_OBJECT: u16 = 3;
/// `MSHCTX_DIFFERENTMACHINE`, the destination context of remote activation ([MS-DCOM] 2.2.22.2).
pub const MSHCTX_DIFFERENTMACHINE: u32 = 2;
/// `CLSCTX_LOCAL_SERVER | CLSCTX_REMOTE_SERVER`, the class context Windows clients send.
pub const CLSCTX_REMOTE_DEFAULT: u32 = 0x14;
/// Most interfaces one activation may request ([MS-DCOM] 2.2.22.2.1 MAX_REQUESTED_INTERFACES).
pub const MAX_REQUESTED_INTERFACES: usize = 0x8000;

/// `CustomHeader` ([MS-DCOM] 2.2.22.2): sizes and CLSIDs of the property sets that follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomHeader {
    /// `totalSize`: header plus property sets, in bytes (the BLOB's `dwSize`).
    pub total_size: u32,
    /// `headerSize`: the serialized header's size.
    pub header_size: u32,
    /// `dwReserved`.
    pub reserved: u32,
    /// `destCtx` (MSHCTX_DIFFERENTMACHINE).
    pub dest_ctx: u32,
    /// `classInfoClsid` (zero).
    pub class_info_clsid: Uuid,
    /// `pclsid`: one CLSID per property set.
    pub clsids: Option<Vec<Uuid>>,
    /// `pSizes`: the serialized size of each property set.
    pub sizes: Option<Vec<u32>>,
    /// `pdwReserved` (null).
    pub reserved_ptr: Option<u32>,
}

impl NdrEncode for CustomHeader {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        let n = self.clsids.as_ref().map_or(0, Vec::len);
        w.u32(self.total_size);
        w.u32(self.header_size);
        w.u32(self.reserved);
        w.u32(self.dest_ctx);
        w.max_count(n)?;
        w.uuid(&self.class_info_clsid);
        self.clsids.encode_flat(w)?;
        self.sizes.encode_flat(w)?;
        self.reserved_ptr.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.clsids.encode_deferred(w)?;
        self.sizes.encode_deferred(w)?;
        self.reserved_ptr.encode_deferred(w)
    }
}
impl NdrDecode for CustomHeader {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        let total_size = r.u32()?;
        let header_size = r.u32()?;
        let reserved = r.u32()?;
        let dest_ctx = r.u32()?;
        let _c_ifs = r.u32()?;
        Ok(Self {
            total_size,
            header_size,
            reserved,
            dest_ctx,
            class_info_clsid: r.uuid()?,
            clsids: NdrDecode::decode_flat(r)?,
            sizes: NdrDecode::decode_flat(r)?,
            reserved_ptr: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.clsids.decode_deferred(r)?;
        self.sizes.decode_deferred(r)?;
        self.reserved_ptr.decode_deferred(r)
    }
}

/// `SpecialPropertiesData` ([MS-DCOM] 2.2.22.2.2), CLSID_SpecialSystemProperties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialPropertiesData {
    /// `dwSessionId` (0xffffffff: none).
    pub session_id: u32,
    /// `fRemoteThisSessionId`.
    pub remote_this_session_id: i32,
    /// `fClientImpersonating`.
    pub client_impersonating: i32,
    /// `fPartitionIDPresent`.
    pub partition_id_present: i32,
    /// `dwDefaultAuthnLvl`.
    pub default_authn_level: u32,
    /// `guidPartition`.
    pub partition: Uuid,
    /// `dwPRTFlags`.
    pub prt_flags: u32,
    /// `dwOrigClsctx`.
    pub orig_clsctx: u32,
    /// `dwFlags`.
    pub flags: u32,
    /// `Reserved1`.
    pub reserved1: u32,
    /// `Reserved2`.
    pub reserved2: u64,
    /// `Reserved3[5]`.
    pub reserved3: [u32; 5],
}

impl NdrEncode for SpecialPropertiesData {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.align(8);
        w.u32(self.session_id);
        w.i32(self.remote_this_session_id);
        w.i32(self.client_impersonating);
        w.i32(self.partition_id_present);
        w.u32(self.default_authn_level);
        w.uuid(&self.partition);
        w.u32(self.prt_flags);
        w.u32(self.orig_clsctx);
        w.u32(self.flags);
        w.u32(self.reserved1);
        w.u64(self.reserved2);
        self.reserved3.encode_flat(w)
    }
}
impl NdrDecode for SpecialPropertiesData {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        r.align(8)?;
        Ok(Self {
            session_id: r.u32()?,
            remote_this_session_id: r.i32()?,
            client_impersonating: r.i32()?,
            partition_id_present: r.i32()?,
            default_authn_level: r.u32()?,
            partition: r.uuid()?,
            prt_flags: r.u32()?,
            orig_clsctx: r.u32()?,
            flags: r.u32()?,
            reserved1: r.u32()?,
            reserved2: r.u64()?,
            reserved3: NdrDecode::decode_flat(r)?,
        })
    }
}

/// `InstantiationInfoData` ([MS-DCOM] 2.2.22.2.1), CLSID_InstantiationInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstantiationInfoData {
    /// `classId`: the class to create.
    pub class_id: Uuid,
    /// `classCtx`.
    pub class_ctx: u32,
    /// `actvflags`.
    pub actv_flags: u32,
    /// `fIsSurrogate`.
    pub is_surrogate: i32,
    /// `instFlag`.
    pub inst_flag: u32,
    /// `pIID`: the requested interfaces (`cIID` is its length).
    pub iids: Option<Vec<Uuid>>,
    /// `thisSize`: this property set's serialized size.
    pub this_size: u32,
    /// `clientCOMVersion`.
    pub client_com_version: ComVersion,
}

impl NdrEncode for InstantiationInfoData {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.uuid(&self.class_id);
        w.u32(self.class_ctx);
        w.u32(self.actv_flags);
        w.i32(self.is_surrogate);
        w.max_count(self.iids.as_ref().map_or(0, Vec::len))?;
        w.u32(self.inst_flag);
        self.iids.encode_flat(w)?;
        w.u32(self.this_size);
        self.client_com_version.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.iids.encode_deferred(w)
    }
}
impl NdrDecode for InstantiationInfoData {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        let class_id = r.uuid()?;
        let class_ctx = r.u32()?;
        let actv_flags = r.u32()?;
        let is_surrogate = r.i32()?;
        let _c_iid = r.u32()?;
        Ok(Self {
            class_id,
            class_ctx,
            actv_flags,
            is_surrogate,
            inst_flag: r.u32()?,
            iids: NdrDecode::decode_flat(r)?,
            this_size: r.u32()?,
            client_com_version: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.iids.decode_deferred(r)
    }
}

/// `ActivationContextInfoData` ([MS-DCOM] 2.2.22.2.5), CLSID_ActivationContextInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationContextInfoData {
    /// `clientOK`.
    pub client_ok: i32,
    /// `bReserved1`.
    pub reserved1: i32,
    /// `dwReserved1`.
    pub dw_reserved1: u32,
    /// `dwReserved2`.
    pub dw_reserved2: u32,
    /// `pIFDClientCtx`: the client context (an OBJREF_CUSTOM of CLSID_ContextMarshaler).
    pub client_ctx: Option<MInterfacePointer>,
    /// `pIFDPrototypeCtx`.
    pub prototype_ctx: Option<MInterfacePointer>,
}

impl NdrEncode for ActivationContextInfoData {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.i32(self.client_ok);
        w.i32(self.reserved1);
        w.u32(self.dw_reserved1);
        w.u32(self.dw_reserved2);
        self.client_ctx.encode_flat(w)?;
        self.prototype_ctx.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.client_ctx.encode_deferred(w)?;
        self.prototype_ctx.encode_deferred(w)
    }
}
impl NdrDecode for ActivationContextInfoData {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            client_ok: r.i32()?,
            reserved1: r.i32()?,
            dw_reserved1: r.u32()?,
            dw_reserved2: r.u32()?,
            client_ctx: NdrDecode::decode_flat(r)?,
            prototype_ctx: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.client_ctx.decode_deferred(r)?;
        self.prototype_ctx.decode_deferred(r)
    }
}

/// `COSERVERINFO` ([MS-DCOM] 2.2.22.2.7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoServerInfo {
    /// `dwReserved1`.
    pub reserved1: u32,
    /// `pwszName`: the server's name as the client addressed it.
    pub name: WString,
    /// `pdwReserved`.
    pub reserved_ptr: Option<u32>,
    /// `dwReserved2`.
    pub reserved2: u32,
}

impl NdrEncode for CoServerInfo {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.u32(self.reserved1);
        self.name.encode_flat(w)?;
        self.reserved_ptr.encode_flat(w)?;
        w.u32(self.reserved2);
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.name.encode_deferred(w)?;
        self.reserved_ptr.encode_deferred(w)
    }
}
impl NdrDecode for CoServerInfo {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            reserved1: r.u32()?,
            name: NdrDecode::decode_flat(r)?,
            reserved_ptr: NdrDecode::decode_flat(r)?,
            reserved2: r.u32()?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.name.decode_deferred(r)?;
        self.reserved_ptr.decode_deferred(r)
    }
}

/// `SecurityInfoData` ([MS-DCOM] 2.2.22.2.7), CLSID_SecurityInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityInfoData {
    /// `dwAuthnFlags`.
    pub authn_flags: u32,
    /// `pServerInfo`.
    pub server_info: Option<CoServerInfo>,
    /// `pdwReserved`.
    pub reserved_ptr: Option<u32>,
}

impl NdrEncode for SecurityInfoData {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.u32(self.authn_flags);
        self.server_info.encode_flat(w)?;
        self.reserved_ptr.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.server_info.encode_deferred(w)?;
        self.reserved_ptr.encode_deferred(w)
    }
}
impl NdrDecode for SecurityInfoData {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            authn_flags: r.u32()?,
            server_info: NdrDecode::decode_flat(r)?,
            reserved_ptr: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.server_info.decode_deferred(r)?;
        self.reserved_ptr.decode_deferred(r)
    }
}

/// `LocationInfoData` ([MS-DCOM] 2.2.22.2.6), CLSID_ServerLocationInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocationInfoData {
    /// `machineName` (null from Windows clients).
    pub machine_name: WString,
    /// `processId`.
    pub process_id: u32,
    /// `apartmentId`.
    pub apartment_id: u32,
    /// `contextId`.
    pub context_id: u32,
}

impl NdrEncode for LocationInfoData {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.machine_name.encode_flat(w)?;
        w.u32(self.process_id);
        w.u32(self.apartment_id);
        w.u32(self.context_id);
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.machine_name.encode_deferred(w)
    }
}
impl NdrDecode for LocationInfoData {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            machine_name: NdrDecode::decode_flat(r)?,
            process_id: r.u32()?,
            apartment_id: r.u32()?,
            context_id: r.u32()?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.machine_name.decode_deferred(r)
    }
}

/// `customREMOTE_REQUEST_SCM_INFO` ([MS-DCOM] 2.2.22.2.8.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteRequestScmInfo {
    /// `ClientImpLevel` (RPC_C_IMP_LEVEL_*).
    pub client_imp_level: u32,
    /// `pRequestedProtseqs` (`cRequestedProtseqs` is its length): tower ids.
    pub requested_protseqs: Option<Vec<u16>>,
}

impl NdrEncode for RemoteRequestScmInfo {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.u32(self.client_imp_level);
        let n = self.requested_protseqs.as_ref().map_or(0, Vec::len);
        w.u16(u16::try_from(n).map_err(|_| winv_ndr::NdrError::TooLarge("protseqs"))?);
        self.requested_protseqs.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.requested_protseqs.encode_deferred(w)
    }
}
impl NdrDecode for RemoteRequestScmInfo {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        let client_imp_level = r.u32()?;
        let _n = r.u16()?;
        Ok(Self {
            client_imp_level,
            requested_protseqs: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.requested_protseqs.decode_deferred(r)
    }
}

/// `ScmRequestInfoData` ([MS-DCOM] 2.2.22.2.8), CLSID_ScmRequestInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScmRequestInfoData {
    /// `pdwReserved`.
    pub reserved_ptr: Option<u32>,
    /// `remoteRequest`.
    pub remote_request: Option<RemoteRequestScmInfo>,
}

impl NdrEncode for ScmRequestInfoData {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.reserved_ptr.encode_flat(w)?;
        self.remote_request.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.reserved_ptr.encode_deferred(w)?;
        self.remote_request.encode_deferred(w)
    }
}
impl NdrDecode for ScmRequestInfoData {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            reserved_ptr: NdrDecode::decode_flat(r)?,
            remote_request: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.reserved_ptr.decode_deferred(r)?;
        self.remote_request.decode_deferred(r)
    }
}

/// `PropsOutInfo` ([MS-DCOM] 2.2.22.2.9), CLSID_PropsOutInfo: per requested interface its
/// IID, HRESULT and marshaled pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropsOutInfo {
    /// `cIfs` as read (the arrays' length when encoding).
    pub count: u32,
    /// `piid`.
    pub iids: Option<Vec<Uuid>>,
    /// `phresults`.
    pub hresults: Option<Vec<Hresult>>,
    /// `ppIntfData`.
    pub interfaces: Option<Vec<Option<MInterfacePointer>>>,
}

impl NdrEncode for PropsOutInfo {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.u32(self.count);
        self.iids.encode_flat(w)?;
        self.hresults.encode_flat(w)?;
        self.interfaces.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.iids.encode_deferred(w)?;
        self.hresults.encode_deferred(w)?;
        self.interfaces.encode_deferred(w)
    }
}
impl NdrDecode for PropsOutInfo {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            count: r.u32()?,
            iids: NdrDecode::decode_flat(r)?,
            hresults: NdrDecode::decode_flat(r)?,
            interfaces: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.iids.decode_deferred(r)?;
        self.hresults.decode_deferred(r)?;
        self.interfaces.decode_deferred(r)
    }
}

/// `customREMOTE_REPLY_SCM_INFO` ([MS-DCOM] 2.2.22.2.8.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteReplyScmInfo {
    /// `Oxid`: the object exporter of the created object.
    pub oxid: u64,
    /// `pdsaOxidBindings`: how to reach it.
    pub oxid_bindings: Option<DualStringArray>,
    /// `ipidRemUnknown`.
    pub ipid_rem_unknown: Uuid,
    /// `authnHint`.
    pub authn_hint: u32,
    /// `serverVersion`.
    pub server_version: ComVersion,
}

impl NdrEncode for RemoteReplyScmInfo {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.align(8);
        w.u64(self.oxid);
        self.oxid_bindings.encode_flat(w)?;
        w.uuid(&self.ipid_rem_unknown);
        w.u32(self.authn_hint);
        self.server_version.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.oxid_bindings.encode_deferred(w)
    }
}
impl NdrDecode for RemoteReplyScmInfo {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        r.align(8)?;
        Ok(Self {
            oxid: r.u64()?,
            oxid_bindings: NdrDecode::decode_flat(r)?,
            ipid_rem_unknown: r.uuid()?,
            authn_hint: r.u32()?,
            server_version: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.oxid_bindings.decode_deferred(r)
    }
}

/// `ScmReplyInfoData` ([MS-DCOM] 2.2.22.2.8), CLSID_ScmReplyInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScmReplyInfoData {
    /// `pdwReserved`.
    pub reserved_ptr: Option<u32>,
    /// `remoteReply`.
    pub remote_reply: Option<RemoteReplyScmInfo>,
}

impl NdrEncode for ScmReplyInfoData {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.reserved_ptr.encode_flat(w)?;
        self.remote_reply.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.reserved_ptr.encode_deferred(w)?;
        self.remote_reply.encode_deferred(w)
    }
}
impl NdrDecode for ScmReplyInfoData {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            reserved_ptr: NdrDecode::decode_flat(r)?,
            remote_reply: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        self.reserved_ptr.decode_deferred(r)?;
        self.remote_reply.decode_deferred(r)
    }
}

/// The activation properties BLOB ([MS-DCOM] 2.2.22.1) split into its property sets, each
/// still type-serialized (as on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationBlob {
    /// `CustomHeader.destCtx`.
    pub dest_ctx: u32,
    /// `(CLSID of the property set, its type-serialized bytes)` in order.
    pub properties: Vec<(Uuid, Vec<u8>)>,
}

fn len_u32(n: usize, what: &'static str) -> Result<u32> {
    u32::try_from(n).map_err(|_| DcomError::TooLarge(what))
}

impl ActivationBlob {
    /// Encodes `dwSize`, `dwReserved`, the CustomHeader and the property sets.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut header = CustomHeader {
            dest_ctx: self.dest_ctx,
            clsids: Some(self.properties.iter().map(|p| p.0).collect()),
            sizes: Some(
                self.properties
                    .iter()
                    .map(|p| len_u32(p.1.len(), "property set"))
                    .collect::<Result<_>>()?,
            ),
            ..CustomHeader::default()
        };
        // The header's size does not depend on the values of its sizes.
        let header_size = encode_type1(&header)?.len();
        let props: usize = self.properties.iter().map(|p| p.1.len()).sum();
        let total = header_size
            .checked_add(props)
            .ok_or(DcomError::TooLarge("activation properties"))?;
        header.header_size = len_u32(header_size, "custom header")?;
        header.total_size = len_u32(total, "activation properties")?;
        let mut out = Vec::with_capacity(total + 8);
        out.extend_from_slice(&header.total_size.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&encode_type1(&header)?);
        for (_, p) in &self.properties {
            out.extend_from_slice(p);
        }
        Ok(out)
    }

    /// Decodes the BLOB; each property set is cut by the header's `pSizes`.
    pub fn decode(data: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(data);
        let _size = c.u32()?;
        let _reserved = c.u32()?;
        let rest = c.rest();
        let (header, used) = decode_type1::<CustomHeader>(rest)?;
        let clsids = header.clsids.unwrap_or_default();
        let sizes = header.sizes.unwrap_or_default();
        if clsids.len() != sizes.len() {
            return Err(DcomError::Invalid("custom header array lengths"));
        }
        let mut pos = usize::try_from(header.header_size)
            .map_err(|_| DcomError::Invalid("header size"))?
            .max(used);
        let mut properties = Vec::with_capacity(clsids.len());
        for (clsid, size) in clsids.into_iter().zip(sizes) {
            let end = pos
                .checked_add(size as usize)
                .ok_or(DcomError::Invalid("property size"))?;
            let p = rest
                .get(pos..end)
                .ok_or(DcomError::Invalid("property set beyond the blob"))?;
            properties.push((clsid, p.to_vec()));
            pos = end;
        }
        Ok(Self {
            dest_ctx: header.dest_ctx,
            properties,
        })
    }

    /// The first property set with this CLSID, decoded.
    pub fn get<T: NdrDecode>(&self, clsid: Uuid) -> Result<Option<T>> {
        match self.properties.iter().find(|p| p.0 == clsid) {
            Some((_, b)) => Ok(Some(decode_type1::<T>(b)?.0)),
            None => Ok(None),
        }
    }
}

/// What a client asks of `RemoteCreateInstance`: the activation properties of
/// [MS-DCOM] 2.2.22 in typed form. Encodes the property sets in the order Windows uses
/// (SpecialSystemProperties if present, InstantiationInfo, ActivationContextInfo,
/// SecurityInfo if present, ServerLocationInfo, ScmRequestInfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRequest {
    /// `InstantiationInfoData.classId`.
    pub clsid: Uuid,
    /// `InstantiationInfoData.pIID`.
    pub iids: Vec<Uuid>,
    /// `InstantiationInfoData.clientCOMVersion` (5.7 by default).
    pub client_com_version: ComVersion,
    /// `InstantiationInfoData.classCtx`.
    pub class_ctx: u32,
    /// `CustomHeader.destCtx`.
    pub dest_ctx: u32,
    /// `LocationInfoData.machineName`.
    pub client_machine_name: Option<String>,
    /// `customREMOTE_REQUEST_SCM_INFO.ClientImpLevel`.
    pub client_imp_level: u32,
    /// `customREMOTE_REQUEST_SCM_INFO.pRequestedProtseqs` (tower ids).
    pub requested_protseqs: Vec<u16>,
    /// `ActivationContextInfoData.pIFDClientCtx`.
    pub client_context: Option<MInterfacePointer>,
    /// The SpecialSystemProperties set, if sent (Windows sends it, impacket does not).
    pub special: Option<SpecialPropertiesData>,
    /// The SecurityInfo set, if sent (carries the server name the client used).
    pub security: Option<SecurityInfoData>,
}

impl ActivationRequest {
    /// A request for `clsid` with the defaults of a Windows client: COM 5.7, class context
    /// 0x14, MSHCTX_DIFFERENTMACHINE, identify impersonation, ncacn_ip_tcp.
    pub fn new(clsid: Uuid, iids: Vec<Uuid>) -> Self {
        Self {
            clsid,
            iids,
            client_com_version: ComVersion::V5_7,
            class_ctx: CLSCTX_REMOTE_DEFAULT,
            dest_ctx: MSHCTX_DIFFERENTMACHINE,
            client_machine_name: None,
            client_imp_level: 2,
            requested_protseqs: vec![crate::objref::tower::NCACN_IP_TCP],
            client_context: None,
            special: None,
            security: None,
        }
    }

    /// The activation properties BLOB ([MS-DCOM] 2.2.22.1).
    pub fn to_blob(&self) -> Result<ActivationBlob> {
        if self.iids.is_empty() || self.iids.len() > MAX_REQUESTED_INTERFACES {
            return Err(DcomError::Invalid("requested interface count"));
        }
        let mut props = Vec::new();
        if let Some(s) = &self.special {
            props.push((CLSID_SPECIAL_SYSTEM_PROPERTIES, encode_type1(s)?));
        }
        let mut inst = InstantiationInfoData {
            class_id: self.clsid,
            class_ctx: self.class_ctx,
            iids: Some(self.iids.clone()),
            client_com_version: self.client_com_version,
            ..Default::default()
        };
        inst.this_size = len_u32(encode_type1(&inst)?.len(), "instantiation info")?;
        props.push((CLSID_INSTANTIATION_INFO, encode_type1(&inst)?));
        let ctx = ActivationContextInfoData {
            client_ctx: self.client_context.clone(),
            ..Default::default()
        };
        props.push((CLSID_ACTIVATION_CONTEXT_INFO, encode_type1(&ctx)?));
        if let Some(s) = &self.security {
            props.push((CLSID_SECURITY_INFO, encode_type1(s)?));
        }
        let loc = LocationInfoData {
            machine_name: WString(self.client_machine_name.clone()),
            ..Default::default()
        };
        props.push((CLSID_SERVER_LOCATION_INFO, encode_type1(&loc)?));
        let scm = ScmRequestInfoData {
            reserved_ptr: None,
            remote_request: Some(RemoteRequestScmInfo {
                client_imp_level: self.client_imp_level,
                requested_protseqs: Some(self.requested_protseqs.clone()),
            }),
        };
        props.push((CLSID_SCM_REQUEST_INFO, encode_type1(&scm)?));
        Ok(ActivationBlob {
            dest_ctx: self.dest_ctx,
            properties: props,
        })
    }

    /// Reads a request from its BLOB; InstantiationInfo is required, the rest optional.
    pub fn from_blob(blob: &ActivationBlob) -> Result<Self> {
        let inst: InstantiationInfoData = blob
            .get(CLSID_INSTANTIATION_INFO)?
            .ok_or(DcomError::Missing("instantiation info"))?;
        let iids = inst.iids.unwrap_or_default();
        if iids.is_empty() {
            return Err(DcomError::Missing("requested interfaces"));
        }
        let ctx: Option<ActivationContextInfoData> = blob.get(CLSID_ACTIVATION_CONTEXT_INFO)?;
        let loc: Option<LocationInfoData> = blob.get(CLSID_SERVER_LOCATION_INFO)?;
        let scm: Option<ScmRequestInfoData> = blob.get(CLSID_SCM_REQUEST_INFO)?;
        let remote = scm.and_then(|s| s.remote_request);
        Ok(Self {
            clsid: inst.class_id,
            iids,
            client_com_version: inst.client_com_version,
            class_ctx: inst.class_ctx,
            dest_ctx: blob.dest_ctx,
            client_machine_name: loc.and_then(|l| l.machine_name.0),
            client_imp_level: remote.as_ref().map_or(0, |r| r.client_imp_level),
            requested_protseqs: remote
                .and_then(|r| r.requested_protseqs)
                .unwrap_or_default(),
            client_context: ctx.and_then(|c| c.client_ctx),
            special: blob.get(CLSID_SPECIAL_SYSTEM_PROPERTIES)?,
            security: blob.get(CLSID_SECURITY_INFO)?,
        })
    }
}

/// Encodes the request stub of `RemoteCreateInstance` ([MS-DCOM] 3.1.2.5.2.3.3):
/// ORPCTHIS, `pUnkOuter` (null), `pActProperties` (an OBJREF_CUSTOM of
/// CLSID_ActivationPropertiesIn).
pub fn encode_remote_create_instance_request(
    orpc: &OrpcThis,
    req: &ActivationRequest,
) -> Result<Vec<u8>> {
    let blob = req.to_blob()?.encode()?;
    let objref = ObjRef::custom(
        IID_IACTIVATION_PROPERTIES_IN,
        CLSID_ACTIVATION_PROPERTIES_IN,
        blob,
    );
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    w.write(&None::<MInterfacePointer>)?;
    w.write(&Some(objref.to_interface_pointer()?))?;
    Ok(w.into_bytes())
}

fn custom_data(p: &MInterfacePointer, clsid: Uuid) -> Result<Vec<u8>> {
    match ObjRef::from_interface_pointer(p)? {
        ObjRef::Custom {
            clsid: c,
            object_data,
            ..
        } if c == clsid => Ok(object_data),
        _ => Err(DcomError::Invalid("activation properties objref")),
    }
}

/// Decodes the request stub of `RemoteCreateInstance` (the server side).
pub fn decode_remote_create_instance_request(stub: &[u8]) -> Result<(OrpcThis, ActivationRequest)> {
    let mut r = NdrReader::new(stub);
    let orpc: OrpcThis = r.read()?;
    let _outer: Option<MInterfacePointer> = r.read()?;
    let props: Option<MInterfacePointer> = r.read()?;
    r.finish()?;
    let props = props.ok_or(DcomError::Missing("activation properties"))?;
    let blob = ActivationBlob::decode(&custom_data(&props, CLSID_ACTIVATION_PROPERTIES_IN)?)?;
    Ok((orpc, ActivationRequest::from_blob(&blob)?))
}

/// One requested interface in an activation reply (PropsOutInfo, [MS-DCOM] 2.2.22.2.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivatedInterface {
    /// The IID requested.
    pub iid: Uuid,
    /// Its result.
    pub hresult: Hresult,
    /// The marshaled interface, when the result is a success.
    pub objref: Option<ObjRef>,
}

/// What `RemoteCreateInstance` returns on success: PropsOutInfo and ScmReplyInfoData
/// ([MS-DCOM] 2.2.22.2.9, 2.2.22.2.8) in typed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationReply {
    /// `customREMOTE_REPLY_SCM_INFO.Oxid`.
    pub oxid: u64,
    /// `pdsaOxidBindings`.
    pub oxid_bindings: DualStringArray,
    /// `ipidRemUnknown`.
    pub ipid_rem_unknown: Uuid,
    /// `authnHint` (an authentication level).
    pub authn_hint: u32,
    /// `serverVersion`.
    pub server_version: ComVersion,
    /// One entry per requested interface, in request order.
    pub interfaces: Vec<ActivatedInterface>,
    /// `CustomHeader.destCtx`.
    pub dest_ctx: u32,
}

impl ActivationReply {
    /// The activation properties BLOB of the reply (PropsOutInfo then ScmReplyInfo).
    pub fn to_blob(&self) -> Result<ActivationBlob> {
        let n = len_u32(self.interfaces.len(), "interfaces")?;
        let props_out = PropsOutInfo {
            count: n,
            iids: Some(self.interfaces.iter().map(|i| i.iid).collect()),
            hresults: Some(self.interfaces.iter().map(|i| i.hresult).collect()),
            interfaces: Some(
                self.interfaces
                    .iter()
                    .map(|i| {
                        i.objref
                            .as_ref()
                            .map(ObjRef::to_interface_pointer)
                            .transpose()
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        let scm = ScmReplyInfoData {
            reserved_ptr: None,
            remote_reply: Some(RemoteReplyScmInfo {
                oxid: self.oxid,
                oxid_bindings: Some(self.oxid_bindings.clone()),
                ipid_rem_unknown: self.ipid_rem_unknown,
                authn_hint: self.authn_hint,
                server_version: self.server_version,
            }),
        };
        Ok(ActivationBlob {
            dest_ctx: self.dest_ctx,
            properties: vec![
                (CLSID_PROPS_OUT_INFO, encode_type1(&props_out)?),
                (CLSID_SCM_REPLY_INFO, encode_type1(&scm)?),
            ],
        })
    }

    /// Reads a reply from its BLOB.
    pub fn from_blob(blob: &ActivationBlob) -> Result<Self> {
        let out: PropsOutInfo = blob
            .get(CLSID_PROPS_OUT_INFO)?
            .ok_or(DcomError::Missing("props out info"))?;
        let scm: ScmReplyInfoData = blob
            .get(CLSID_SCM_REPLY_INFO)?
            .ok_or(DcomError::Missing("scm reply info"))?;
        let reply = scm.remote_reply.ok_or(DcomError::Missing("remote reply"))?;
        let iids = out.iids.unwrap_or_default();
        let hrs = out.hresults.unwrap_or_default();
        let ptrs = out.interfaces.unwrap_or_default();
        if iids.len() != hrs.len() || iids.len() != ptrs.len() || iids.len() != out.count as usize {
            return Err(DcomError::Invalid("props out info array lengths"));
        }
        let interfaces = iids
            .into_iter()
            .zip(hrs)
            .zip(ptrs)
            .map(|((iid, hresult), p)| {
                Ok(ActivatedInterface {
                    iid,
                    hresult,
                    objref: p.as_ref().map(ObjRef::from_interface_pointer).transpose()?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            oxid: reply.oxid,
            oxid_bindings: reply.oxid_bindings.unwrap_or_default(),
            ipid_rem_unknown: reply.ipid_rem_unknown,
            authn_hint: reply.authn_hint,
            server_version: reply.server_version,
            interfaces,
            dest_ctx: blob.dest_ctx,
        })
    }
}

/// Encodes the response stub of `RemoteCreateInstance` ([MS-DCOM] 3.1.2.5.2.3.3):
/// ORPCTHAT, `ppActProperties` (an OBJREF_CUSTOM of CLSID_ActivationPropertiesOut, or null
/// when `reply` is `None`), then the HRESULT.
pub fn encode_remote_create_instance_response(
    orpc: &OrpcThat,
    reply: Option<&ActivationReply>,
    hresult: Hresult,
) -> Result<Vec<u8>> {
    let props = match reply {
        Some(r) => Some(
            ObjRef::custom(
                IID_IACTIVATION_PROPERTIES_OUT,
                CLSID_ACTIVATION_PROPERTIES_OUT,
                r.to_blob()?.encode()?,
            )
            .to_interface_pointer()?,
        ),
        None => None,
    };
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    w.write(&props)?;
    w.write(&hresult)?;
    Ok(w.into_bytes())
}

/// Decodes the response stub of `RemoteCreateInstance` (the client side). A failing
/// HRESULT gives `Err(hresult)` in the second member.
pub fn decode_remote_create_instance_response(
    stub: &[u8],
) -> Result<(OrpcThat, std::result::Result<ActivationReply, Hresult>)> {
    let mut r = NdrReader::new(stub);
    let orpc: OrpcThat = r.read()?;
    let props: Option<MInterfacePointer> = r.read()?;
    let hr: Hresult = r.read()?;
    r.finish()?;
    if hr.is_failure() {
        return Ok((orpc, Err(hr)));
    }
    let props = props.ok_or(DcomError::Missing("activation properties"))?;
    let blob = ActivationBlob::decode(&custom_data(&props, CLSID_ACTIVATION_PROPERTIES_OUT)?)?;
    Ok((orpc, Ok(ActivationReply::from_blob(&blob)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objref::{SecurityBinding, StdObjRef, StringBinding};
    use proptest::prelude::*;

    fn reply() -> ActivationReply {
        ActivationReply {
            oxid: 0x1122_3344_5566_7788,
            oxid_bindings: DualStringArray {
                string_bindings: vec![StringBinding {
                    tower_id: 7,
                    network_addr: "10.0.0.5[49670]".into(),
                }],
                security_bindings: vec![SecurityBinding {
                    authn_svc: 10,
                    authz_svc: 0xffff,
                    principal_name: String::new(),
                }],
            },
            ipid_rem_unknown: Uuid::from_u128(0xc000),
            authn_hint: 4,
            server_version: ComVersion::V5_7,
            interfaces: vec![ActivatedInterface {
                iid: Uuid::from_u128(0xabc),
                hresult: Hresult::S_OK,
                objref: Some(ObjRef::Standard {
                    iid: Uuid::from_u128(0xabc),
                    std: StdObjRef {
                        flags: 0,
                        public_refs: 5,
                        oxid: 0x1122_3344_5566_7788,
                        oid: 1,
                        ipid: Uuid::from_u128(2),
                    },
                    resolver: DualStringArray::default(),
                }),
            }],
            dest_ctx: MSHCTX_DIFFERENTMACHINE,
        }
    }

    #[test]
    fn request_round_trip_and_layout() {
        let req = ActivationRequest::new(CLSID_WBEM_LEVEL1_LOGIN, vec![Uuid::from_u128(7)]);
        let orpc = OrpcThis::new(Uuid::from_u128(9));
        let b = encode_remote_create_instance_request(&orpc, &req).expect("encode");
        // pUnkOuter null, pActProperties referent id, then the OBJREF.
        assert_eq!(&b[32..40], &[0, 0, 0, 0, 0, 0, 2, 0]);
        assert_eq!(&b[48..52], b"MEOW");
        let (o, r) = decode_remote_create_instance_request(&b).expect("decode");
        assert_eq!(o, orpc);
        assert_eq!(r, req);
        assert_eq!(r.client_com_version, ComVersion::new(5, 7));
    }

    #[test]
    fn request_without_iids_is_refused() {
        let req = ActivationRequest::new(CLSID_WBEM_LEVEL1_LOGIN, vec![]);
        assert!(encode_remote_create_instance_request(&OrpcThis::default(), &req).is_err());
    }

    #[test]
    fn reply_round_trip_and_failure() {
        let that = OrpcThat::default();
        let b = encode_remote_create_instance_response(&that, Some(&reply()), Hresult::S_OK)
            .expect("encode");
        let (t, r) = decode_remote_create_instance_response(&b).expect("decode");
        assert_eq!(t, that);
        assert_eq!(r, Ok(reply()));
        let b = encode_remote_create_instance_response(&that, None, Hresult::E_ACCESSDENIED)
            .expect("encode");
        assert_eq!(b.len(), 16);
        let (_, r) = decode_remote_create_instance_response(&b).expect("decode");
        assert_eq!(r, Err(Hresult::E_ACCESSDENIED));
        // Success with a null pointer is malformed.
        let b = encode_remote_create_instance_response(&that, None, Hresult::S_OK).expect("enc");
        assert!(decode_remote_create_instance_response(&b).is_err());
    }

    #[test]
    fn blob_sizes_are_consistent() {
        let blob = reply().to_blob().expect("blob");
        let b = blob.encode().expect("encode");
        let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        assert_eq!(total + 8, b.len());
        assert_eq!(ActivationBlob::decode(&b).expect("decode"), blob);
    }

    proptest! {
        #[test]
        fn activation_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_remote_create_instance_request(&data);
            let _ = decode_remote_create_instance_response(&data);
            let _ = ActivationBlob::decode(&data);
        }

        #[test]
        fn request_round_trip(clsid in any::<u128>(), iids in proptest::collection::vec(any::<u128>(), 1..5),
            name in proptest::option::of("[a-z0-9.]{0,12}"), minor in any::<u16>()) {
            let mut req = ActivationRequest::new(Uuid::from_u128(clsid),
                iids.into_iter().map(Uuid::from_u128).collect());
            req.client_machine_name = name;
            req.client_com_version = ComVersion::new(5, minor);
            let b = encode_remote_create_instance_request(&OrpcThis::default(), &req).expect("encode");
            let (_, r) = decode_remote_create_instance_request(&b).expect("decode");
            prop_assert_eq!(r, req);
        }
    }
}
