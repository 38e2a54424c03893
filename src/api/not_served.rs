//! AWS KMS operations this endpoint knows but does not serve. A client
//! calling one gets `UnsupportedOperationException` saying why, rather than
//! `UnknownOperationException`, which would claim AWS has no such operation.

/// Why `operation` (an `X-Amz-Target` name without `TrentService.`) is not
/// served, or `None` if it is not an AWS KMS operation this endpoint knows.
pub fn reason(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "CreateCustomKeyStore"
        | "ConnectCustomKeyStore"
        | "DisconnectCustomKeyStore"
        | "DeleteCustomKeyStore"
        | "UpdateCustomKeyStore" => "there are no custom key stores",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aws_operation_is_either_served_or_has_a_reason() {
        // The 54 operations of the AWS KMS API (reference §2), and the two
        // of ML-KEM that AWS added since (botocore's model has them).
        const AWS: &[&str] = &[
            "Encrypt",
            "Decrypt",
            "ReEncrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "GenerateRandom",
            "Sign",
            "Verify",
            "GetPublicKey",
            "GenerateMac",
            "VerifyMac",
            "DeriveSharedSecret",
            "CreateKey",
            "DescribeKey",
            "ListKeys",
            "EnableKey",
            "DisableKey",
            "ScheduleKeyDeletion",
            "CancelKeyDeletion",
            "UpdateKeyDescription",
            "GetKeyLastUsage",
            "EnableKeyRotation",
            "DisableKeyRotation",
            "GetKeyRotationStatus",
            "RotateKeyOnDemand",
            "ListKeyRotations",
            "CreateAlias",
            "UpdateAlias",
            "DeleteAlias",
            "ListAliases",
            "CreateGrant",
            "ListGrants",
            "ListRetirableGrants",
            "RetireGrant",
            "RevokeGrant",
            "GetKeyPolicy",
            "PutKeyPolicy",
            "ListKeyPolicies",
            "TagResource",
            "UntagResource",
            "ListResourceTags",
            "GetParametersForImport",
            "ImportKeyMaterial",
            "DeleteImportedKeyMaterial",
            "ReplicateKey",
            "UpdatePrimaryRegion",
            "CreateCustomKeyStore",
            "ConnectCustomKeyStore",
            "DisconnectCustomKeyStore",
            "DeleteCustomKeyStore",
            "DescribeCustomKeyStores",
            "UpdateCustomKeyStore",
            "Encapsulate",
            "Decapsulate",
        ];
        assert_eq!(AWS.len(), 56);
        for operation in AWS {
            let served = super::super::OPERATIONS.contains(operation);
            assert!(
                served != reason(operation).is_some(),
                "{operation}: served {served}, reason {:?}",
                reason(operation)
            );
        }
        assert_eq!(reason("Frobnicate"), None);
        assert_eq!(reason("createGrant"), None);
    }
}
