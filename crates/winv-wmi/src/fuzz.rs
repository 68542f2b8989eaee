//! The fuzzing entry point: every decoder of the crate on the same bytes.

use crate::*;

/// Runs every decoder of this crate on `data` (requests and responses of every method, and
/// the `IWbemClassObject` unmarshaler on the bytes taken as an OBJREF). Used by the
/// `wmi` cargo-fuzz target and by a proptest; it must never panic.
pub fn fuzz_decode(data: &[u8]) {
    let _ = EstablishPositionRequest::decode(data);
    let _ = EstablishPositionResponse::decode(data);
    let _ = RequestChallengeRequest::decode(data);
    let _ = RequestChallengeResponse::decode(data);
    let _ = WbemLoginRequest::decode(data);
    let _ = WbemLoginResponse::decode(data);
    let _ = NtlmLoginRequest::decode(data);
    let _ = NtlmLoginResponse::decode(data);
    let _ = SetClientInfoRequest::decode(data);
    let _ = SetClientInfoResponse::decode(data);
    let _ = OpenNamespaceRequest::decode(data);
    let _ = OpenNamespaceResponse::decode(data);
    let _ = GetObjectRequest::decode(data);
    let _ = GetObjectResponse::decode(data);
    let _ = ExecQueryRequest::decode(data);
    let _ = ExecQueryResponse::decode(data);
    let _ = ExecMethodRequest::decode(data);
    let _ = ExecMethodResponse::decode(data);
    let _ = EnumResetRequest::decode(data);
    let _ = HresultResponse::decode(data);
    let _ = EnumNextRequest::decode(data);
    let _ = EnumNextResponse::decode(data);
    let _ = EnumNextAsyncRequest::decode(data);
    let _ = EnumCloneRequest::decode(data);
    let _ = EnumCloneResponse::decode(data);
    let _ = EnumSkipRequest::decode(data);
    let _ = GetSmartEnumRequest::decode(data);
    let _ = GetSmartEnumResponse::decode(data);
    let _ = SmartEnumNextRequest::decode(data);
    let _ = SmartEnumNextResponse::decode(data);
    let _ = CallResultRequest::decode(data);
    let _ = GetResultObjectResponse::decode(data);
    let _ = GetResultStringResponse::decode(data);
    let _ = GetResultServicesResponse::decode(data);
    let _ = GetCallStatusResponse::decode(data);
    let p = MInterfacePointer {
        data: data.to_vec(),
    };
    let _ = marshal::class_object_from_pointer(&p);
    let _ = marshal::interface_iid(&p);
}
