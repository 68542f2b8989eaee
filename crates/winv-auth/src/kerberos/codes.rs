//! Kerberos error codes and their names, [RFC 4120] 7.5.9 and [MS-KILE]
//! 3.1.5.1: the one table of them in the project (the knowledge base draws
//! its Kerberos names from here).

/// `(code, name)` for every error code a KDC or an acceptor sends.
pub const CODES: &[(i32, &str)] = &[
    (0, "KDC_ERR_NONE"),
    (1, "KDC_ERR_NAME_EXP"),
    (2, "KDC_ERR_SERVICE_EXP"),
    (3, "KDC_ERR_BAD_PVNO"),
    (4, "KDC_ERR_C_OLD_MAST_KVNO"),
    (5, "KDC_ERR_S_OLD_MAST_KVNO"),
    (6, "KDC_ERR_C_PRINCIPAL_UNKNOWN"),
    (7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"),
    (8, "KDC_ERR_PRINCIPAL_NOT_UNIQUE"),
    (9, "KDC_ERR_NULL_KEY"),
    (10, "KDC_ERR_CANNOT_POSTDATE"),
    (11, "KDC_ERR_NEVER_VALID"),
    (12, "KDC_ERR_POLICY"),
    (13, "KDC_ERR_BADOPTION"),
    (14, "KDC_ERR_ETYPE_NOSUPP"),
    (15, "KDC_ERR_SUMTYPE_NOSUPP"),
    (16, "KDC_ERR_PADATA_TYPE_NOSUPP"),
    (17, "KDC_ERR_TRTYPE_NOSUPP"),
    (18, "KDC_ERR_CLIENT_REVOKED"),
    (19, "KDC_ERR_SERVICE_REVOKED"),
    (20, "KDC_ERR_TGT_REVOKED"),
    (21, "KDC_ERR_CLIENT_NOTYET"),
    (22, "KDC_ERR_SERVICE_NOTYET"),
    (23, "KDC_ERR_KEY_EXPIRED"),
    (24, "KDC_ERR_PREAUTH_FAILED"),
    (25, "KDC_ERR_PREAUTH_REQUIRED"),
    (26, "KDC_ERR_SERVER_NOMATCH"),
    (27, "KDC_ERR_MUST_USE_USER2USER"),
    (28, "KDC_ERR_PATH_NOT_ACCEPTED"),
    (29, "KDC_ERR_SVC_UNAVAILABLE"),
    (31, "KRB_AP_ERR_BAD_INTEGRITY"),
    (32, "KRB_AP_ERR_TKT_EXPIRED"),
    (33, "KRB_AP_ERR_TKT_NYV"),
    (34, "KRB_AP_ERR_REPEAT"),
    (35, "KRB_AP_ERR_NOT_US"),
    (36, "KRB_AP_ERR_BADMATCH"),
    (37, "KRB_AP_ERR_SKEW"),
    (38, "KRB_AP_ERR_BADADDR"),
    (39, "KRB_AP_ERR_BADVERSION"),
    (40, "KRB_AP_ERR_MSG_TYPE"),
    (41, "KRB_AP_ERR_MODIFIED"),
    (42, "KRB_AP_ERR_BADORDER"),
    (44, "KRB_AP_ERR_BADKEYVER"),
    (45, "KRB_AP_ERR_NOKEY"),
    (46, "KRB_AP_ERR_MUT_FAIL"),
    (47, "KRB_AP_ERR_BADDIRECTION"),
    (48, "KRB_AP_ERR_METHOD"),
    (49, "KRB_AP_ERR_BADSEQ"),
    (50, "KRB_AP_ERR_INAPP_CKSUM"),
    (51, "KRB_AP_PATH_NOT_ACCEPTED"),
    (52, "KRB_ERR_RESPONSE_TOO_BIG"),
    (60, "KRB_ERR_GENERIC"),
    (61, "KRB_ERR_FIELD_TOOLONG"),
    (62, "KDC_ERR_CLIENT_NOT_TRUSTED"),
    (63, "KDC_ERR_KDC_NOT_TRUSTED"),
    (64, "KDC_ERR_INVALID_SIG"),
    (65, "KDC_ERR_KEY_TOO_WEAK"),
    (66, "KDC_ERR_CERTIFICATE_MISMATCH"),
    (67, "KRB_AP_ERR_NO_TGT"),
    (68, "KDC_ERR_WRONG_REALM"),
    (69, "KRB_AP_ERR_USER_TO_USER_REQUIRED"),
    (70, "KDC_ERR_CANT_VERIFY_CERTIFICATE"),
    (71, "KDC_ERR_INVALID_CERTIFICATE"),
    (72, "KDC_ERR_REVOKED_CERTIFICATE"),
    (73, "KDC_ERR_REVOCATION_STATUS_UNKNOWN"),
    (74, "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE"),
    (75, "KDC_ERR_CLIENT_NAME_MISMATCH"),
    (76, "KDC_ERR_KDC_NAME_MISMATCH"),
];

/// Named codes the rest of the project matches on.
pub const KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = 6;
/// Server principal unknown (a wrong or missing SPN).
pub const KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = 7;
/// No common enctype.
pub const KDC_ERR_ETYPE_NOSUPP: i32 = 14;
/// Account disabled, locked out or expired.
pub const KDC_ERR_CLIENT_REVOKED: i32 = 18;
/// Password expired.
pub const KDC_ERR_KEY_EXPIRED: i32 = 23;
/// Wrong password.
pub const KDC_ERR_PREAUTH_FAILED: i32 = 24;
/// Pre-authentication required (the first leg of an AS exchange).
pub const KDC_ERR_PREAUTH_REQUIRED: i32 = 25;
/// Ticket expired.
pub const KRB_AP_ERR_TKT_EXPIRED: i32 = 32;
/// Replay.
pub const KRB_AP_ERR_REPEAT: i32 = 34;
/// Clock skew too great.
pub const KRB_AP_ERR_SKEW: i32 = 37;
/// Decryption failed (wrong key).
pub const KRB_AP_ERR_MODIFIED: i32 = 41;
/// The reply is too big for UDP.
pub const KRB_ERR_RESPONSE_TOO_BIG: i32 = 52;
/// Generic error.
pub const KRB_ERR_GENERIC: i32 = 60;

/// The code of a name in [`CODES`] (60, KRB_ERR_GENERIC, if unknown).
pub fn name_code(name: &str) -> i32 {
    CODES.iter().find(|(_, n)| *n == name).map_or(KRB_ERR_GENERIC, |(c, _)| *c)
}

/// The name of a Kerberos error code.
pub fn name(code: i32) -> Option<&'static str> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn names_are_unique_and_found() {
        let mut seen = std::collections::HashSet::new();
        for (c, n) in super::CODES {
            assert!(seen.insert(*c), "duplicate code {c}");
            assert_eq!(super::name(*c), Some(*n));
        }
        assert_eq!(super::name(24), Some("KDC_ERR_PREAUTH_FAILED"));
        assert_eq!(super::name(30), None);
    }
}
