//! `IWbemServices` ([MS-WMI] 3.1.4.3): the synchronous and semisynchronous methods an
//! inventory uses. The `...Async` variants (which need a client-side `IWbemObjectSink`)
//! are not provided.
//!
//! Interface UUID: [`winv_dcerpc::interfaces::IWBEMSERVICES`].
//!
//! `[in, out, unique] IWbemX** pp` parameters are `Option<Option<MInterfacePointer>>`: the
//! outer `Option` is the unique pointer to the caller's slot, the inner one the interface
//! pointer in it. A Windows client passes `Some(None)` (a slot holding a null pointer) when
//! it wants the result, and `None` when it does not; impacket passes `None`.

use crate::bstr::Bstr;
use crate::consts::EXEC_QUERY_DEFAULT_FLAGS;
use crate::stub::{opnum, params};
use winv_dcom::{Hresult, MInterfacePointer, OrpcThat, OrpcThis};

/// Opnums of `IWbemServices` ([MS-WMI] 3.1.4.3, "Methods in RPC Opnum Order").
pub mod opnums {
    /// `OpenNamespace` ([MS-WMI] 3.1.4.3.1).
    pub const OPEN_NAMESPACE: u16 = 3;
    /// `CancelAsyncCall` ([MS-WMI] 3.1.4.3.2).
    pub const CANCEL_ASYNC_CALL: u16 = 4;
    /// `QueryObjectSink` ([MS-WMI] 3.1.4.3.3).
    pub const QUERY_OBJECT_SINK: u16 = 5;
    /// `GetObject` ([MS-WMI] 3.1.4.3.4).
    pub const GET_OBJECT: u16 = 6;
    /// `GetObjectAsync` ([MS-WMI] 3.1.4.3.5).
    pub const GET_OBJECT_ASYNC: u16 = 7;
    /// `PutClass` ([MS-WMI] 3.1.4.3.6).
    pub const PUT_CLASS: u16 = 8;
    /// `PutClassAsync` ([MS-WMI] 3.1.4.3.7).
    pub const PUT_CLASS_ASYNC: u16 = 9;
    /// `DeleteClass` ([MS-WMI] 3.1.4.3.8).
    pub const DELETE_CLASS: u16 = 10;
    /// `DeleteClassAsync` ([MS-WMI] 3.1.4.3.9).
    pub const DELETE_CLASS_ASYNC: u16 = 11;
    /// `CreateClassEnum` ([MS-WMI] 3.1.4.3.10).
    pub const CREATE_CLASS_ENUM: u16 = 12;
    /// `CreateClassEnumAsync` ([MS-WMI] 3.1.4.3.11).
    pub const CREATE_CLASS_ENUM_ASYNC: u16 = 13;
    /// `PutInstance` ([MS-WMI] 3.1.4.3.12).
    pub const PUT_INSTANCE: u16 = 14;
    /// `PutInstanceAsync` ([MS-WMI] 3.1.4.3.13).
    pub const PUT_INSTANCE_ASYNC: u16 = 15;
    /// `DeleteInstance` ([MS-WMI] 3.1.4.3.14).
    pub const DELETE_INSTANCE: u16 = 16;
    /// `DeleteInstanceAsync` ([MS-WMI] 3.1.4.3.15).
    pub const DELETE_INSTANCE_ASYNC: u16 = 17;
    /// `CreateInstanceEnum` ([MS-WMI] 3.1.4.3.16).
    pub const CREATE_INSTANCE_ENUM: u16 = 18;
    /// `CreateInstanceEnumAsync` ([MS-WMI] 3.1.4.3.17).
    pub const CREATE_INSTANCE_ENUM_ASYNC: u16 = 19;
    /// `ExecQuery` ([MS-WMI] 3.1.4.3.18).
    pub const EXEC_QUERY: u16 = 20;
    /// `ExecQueryAsync` ([MS-WMI] 3.1.4.3.19).
    pub const EXEC_QUERY_ASYNC: u16 = 21;
    /// `ExecNotificationQuery` ([MS-WMI] 3.1.4.3.20).
    pub const EXEC_NOTIFICATION_QUERY: u16 = 22;
    /// `ExecNotificationQueryAsync` ([MS-WMI] 3.1.4.3.21).
    pub const EXEC_NOTIFICATION_QUERY_ASYNC: u16 = 23;
    /// `ExecMethod` ([MS-WMI] 3.1.4.3.22).
    pub const EXEC_METHOD: u16 = 24;
    /// `ExecMethodAsync` ([MS-WMI] 3.1.4.3.23).
    pub const EXEC_METHOD_ASYNC: u16 = 25;
}

params! {
    /// `IWbemServices::OpenNamespace` request ([MS-WMI] 3.1.4.3.1):
    /// `[in] const BSTR strNamespace, [in] long lFlags, [in] IWbemContext* pCtx,
    /// [in, out, unique] IWbemServices** ppWorkingNamespace,
    /// [in, out, unique] IWbemCallResult** ppResult`.
    pub struct OpenNamespaceRequest {
        /// `ORPCTHIS` ([MS-DCOM] 2.2.13.1).
        pub this: OrpcThis,
        /// `strNamespace`, relative to the current one.
        pub namespace: Bstr,
        /// `lFlags`.
        pub flags: i32,
        /// `pCtx`.
        pub ctx: Option<MInterfacePointer>,
        /// `ppWorkingNamespace` slot.
        pub working_namespace: Option<Option<MInterfacePointer>>,
        /// `ppResult` slot.
        pub result: Option<Option<MInterfacePointer>>,
    }
}

params! {
    /// `IWbemServices::OpenNamespace` response ([MS-WMI] 3.1.4.3.1).
    pub struct OpenNamespaceResponse {
        /// `ORPCTHAT` ([MS-DCOM] 2.2.13.3).
        pub that: OrpcThat,
        /// `ppWorkingNamespace`: an `IWbemServices` OBJREF.
        pub working_namespace: Option<Option<MInterfacePointer>>,
        /// `ppResult`: an `IWbemCallResult` OBJREF.
        pub result: Option<Option<MInterfacePointer>>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemServices::GetObject` request ([MS-WMI] 3.1.4.3.4):
    /// `[in] const BSTR strObjectPath, [in] long lFlags, [in] IWbemContext* pCtx,
    /// [in, out, unique] IWbemClassObject** ppObject,
    /// [in, out, unique] IWbemCallResult** ppCallResult`.
    pub struct GetObjectRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `strObjectPath` (a class name or an instance path).
        pub object_path: Bstr,
        /// `lFlags`.
        pub flags: i32,
        /// `pCtx`.
        pub ctx: Option<MInterfacePointer>,
        /// `ppObject` slot.
        pub object: Option<Option<MInterfacePointer>>,
        /// `ppCallResult` slot.
        pub call_result: Option<Option<MInterfacePointer>>,
    }
}

impl GetObjectRequest {
    /// A synchronous `GetObject` of `path` that asks for the object and no call result,
    /// as a Windows client does.
    pub fn new(this: OrpcThis, path: &str) -> Self {
        Self {
            this,
            object_path: Bstr::new(path),
            flags: 0,
            ctx: None,
            object: Some(None),
            call_result: None,
        }
    }
}

params! {
    /// `IWbemServices::GetObject` response ([MS-WMI] 3.1.4.3.4).
    pub struct GetObjectResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `ppObject`: the `IWbemClassObject` (see [`crate::marshal`]).
        pub object: Option<Option<MInterfacePointer>>,
        /// `ppCallResult`.
        pub call_result: Option<Option<MInterfacePointer>>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemServices::ExecQuery` request ([MS-WMI] 3.1.4.3.18):
    /// `[in] const BSTR strQueryLanguage, [in] const BSTR strQuery, [in] long lFlags,
    /// [in] IWbemContext* pCtx`.
    pub struct ExecQueryRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `strQueryLanguage`: `"WQL"`.
        pub query_language: Bstr,
        /// `strQuery`.
        pub query: Bstr,
        /// `lFlags`, usually [`EXEC_QUERY_DEFAULT_FLAGS`].
        pub flags: i32,
        /// `pCtx`.
        pub ctx: Option<MInterfacePointer>,
    }
}

impl ExecQueryRequest {
    /// A WQL query with `WBEM_FLAG_RETURN_IMMEDIATELY | WBEM_FLAG_FORWARD_ONLY` and no
    /// context, its strings without terminators (as Windows sends them).
    pub fn wql(this: OrpcThis, query: &str) -> Self {
        Self {
            this,
            query_language: Bstr::new("WQL"),
            query: Bstr::new(query),
            flags: EXEC_QUERY_DEFAULT_FLAGS,
            ctx: None,
        }
    }
}

params! {
    /// `IWbemServices::ExecQuery` response ([MS-WMI] 3.1.4.3.18):
    /// `[out] IEnumWbemClassObject** ppEnum`, then the HRESULT.
    pub struct ExecQueryResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `ppEnum`: an `IEnumWbemClassObject` OBJREF.
        pub enumerator: Option<MInterfacePointer>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemServices::ExecMethod` request ([MS-WMI] 3.1.4.3.22):
    /// `[in] const BSTR strObjectPath, [in] const BSTR strMethodName, [in] long lFlags,
    /// [in] IWbemContext* pCtx, [in] IWbemClassObject* pInParams,
    /// [in, out, unique] IWbemClassObject** ppOutParams,
    /// [in, out, unique] IWbemCallResult** ppCallResult`.
    pub struct ExecMethodRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `strObjectPath`: the class (static methods) or instance path.
        pub object_path: Bstr,
        /// `strMethodName`.
        pub method_name: Bstr,
        /// `lFlags`.
        pub flags: i32,
        /// `pCtx`.
        pub ctx: Option<MInterfacePointer>,
        /// `pInParams`: an instance of the method's in-parameters class.
        pub in_params: Option<MInterfacePointer>,
        /// `ppOutParams` slot.
        pub out_params: Option<Option<MInterfacePointer>>,
        /// `ppCallResult` slot.
        pub call_result: Option<Option<MInterfacePointer>>,
    }
}

impl ExecMethodRequest {
    /// A synchronous call of `method` on `path` that asks for the out-parameters and no
    /// call result, as a Windows client does.
    pub fn new(
        this: OrpcThis,
        path: &str,
        method: &str,
        in_params: Option<MInterfacePointer>,
    ) -> Self {
        Self {
            this,
            object_path: Bstr::new(path),
            method_name: Bstr::new(method),
            flags: 0,
            ctx: None,
            in_params,
            out_params: Some(None),
            call_result: None,
        }
    }
}

params! {
    /// `IWbemServices::ExecMethod` response ([MS-WMI] 3.1.4.3.22).
    pub struct ExecMethodResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `ppOutParams`: an instance of the method's out-parameters class.
        pub out_params: Option<Option<MInterfacePointer>>,
        /// `ppCallResult`.
        pub call_result: Option<Option<MInterfacePointer>>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

opnum! {
    OpenNamespaceRequest = opnums::OPEN_NAMESPACE,
    GetObjectRequest = opnums::GET_OBJECT,
    ExecQueryRequest = opnums::EXEC_QUERY,
    ExecMethodRequest = opnums::EXEC_METHOD,
}
