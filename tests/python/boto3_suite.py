"""Every operation of the endpoint through boto3, errors included.

Run by tests/clients.rs against `kube-kms serve` on loopback; reads the
endpoint from KUBE_KMS_ENDPOINT and credentials from the usual AWS_* vars.
Exits non-zero on the first failed expectation.
"""
import base64
import hashlib
import json
import os

import boto3
from botocore.exceptions import ClientError

import checks
from checks import check

kms = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1")


def error_of(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Message", "")
    check(False, f"{call.__name__} should have failed")


def _raises(call, exception, **kwargs):
    try:
        call(**kwargs)
    except exception:
        return True
    except ClientError:
        return False
    return False


# Keys
meta = kms.create_key(Description="boto3 suite", Tags=[{"TagKey": "suite", "TagValue": "boto3"}])["KeyMetadata"]
key = meta["KeyId"]
arn = meta["Arn"]
check(meta["KeyState"] == "Enabled" and meta["KeySpec"] == "SYMMETRIC_DEFAULT", "CreateKey metadata")
check(arn == f"arn:aws:kms:us-east-1:111122223333:key/{key}", "ARN shape")
check(kms.describe_key(KeyId=arn)["KeyMetadata"]["Description"] == "boto3 suite", "DescribeKey by ARN")
kms.update_key_description(KeyId=key, Description="renamed")
check(kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "renamed", "UpdateKeyDescription")
# Grants: made, listed, used with their token, retired, with AWS's errors.
grants = kms.get_paginator("list_grants").paginate(KeyId=key).build_full_result()
check(grants["Grants"] == [], f"ListGrants before any: {grants}")
made = kms.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:role/default/app",
                        RetiringPrincipal="arn:aws:iam::111122223333:role/default/ops",
                        Operations=["Encrypt", "Decrypt"], Name="boto3",
                        Constraints={"EncryptionContextSubset": {"app": "boto3"}})
check(len(made["GrantId"]) == 64 and made["GrantToken"], f"CreateGrant: {made}")
again = kms.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:role/default/app",
                         RetiringPrincipal="arn:aws:iam::111122223333:role/default/ops",
                         Operations=["Decrypt", "Encrypt"], Name="boto3",
                         Constraints={"EncryptionContextSubset": {"app": "boto3"}})
check(again["GrantId"] == made["GrantId"] and again["GrantToken"] != made["GrantToken"], "CreateGrant by Name is idempotent")
listed = kms.get_paginator("list_grants").paginate(KeyId=key).build_full_result()["Grants"]
check(len(listed) == 1 and listed[0]["Operations"] == ["Decrypt", "Encrypt"]
      and listed[0]["Constraints"] == {"EncryptionContextSubset": {"app": "boto3"}}
      and listed[0]["CreationDate"].year >= 2026, f"ListGrants: {listed}")
retirable = kms.list_retirable_grants(RetiringPrincipal="arn:aws:iam::111122223333:role/default/ops")["Grants"]
check([g["GrantId"] for g in retirable] == [made["GrantId"]], f"ListRetirableGrants: {retirable}")
kms.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=[made["GrantToken"]])
check(_raises(kms.encrypt, kms.exceptions.InvalidGrantTokenException, KeyId=key, Plaintext=b"x", GrantTokens=["nope"]),
      "an invalid grant token is InvalidGrantTokenException")
code, status, message = error_of(kms.create_grant, KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:root", Operations=["Sign"])
check(code == "ValidationException" and status == 400, f"CreateGrant for an operation the key does not take: {code} {message}")
kms.retire_grant(GrantToken=made["GrantToken"])
check(kms.list_grants(KeyId=key)["Grants"] == [], "RetireGrant by token")
check(_raises(kms.revoke_grant, kms.exceptions.NotFoundException, KeyId=key, GrantId="0" * 64), "RevokeGrant of no grant")
check(_raises(kms.revoke_grant, kms.exceptions.InvalidGrantIdException, KeyId=key, GrantId="nope"), "RevokeGrant of a malformed id")
# An AWS operation the endpoint does not serve says so, as a modelled error.
code, status, message = error_of(kms.delete_custom_key_store, CustomKeyStoreId="cks-1234567890abcdef0")
check(code == "UnsupportedOperationException" and status == 400 and message.startswith("DeleteCustomKeyStore is not served"), f"DeleteCustomKeyStore: {code} {status} {message}")
code, status, message = error_of(kms.update_primary_region, KeyId=key, PrimaryRegion="us-west-2")
check(code == "UnsupportedOperationException" and message.endswith("is not a multi-Region key."), f"UpdatePrimaryRegion of a single-Region key: {code} {message}")
code, status, message = error_of(kms.replicate_key, KeyId=key, ReplicaRegion="us-west-2")
check(code == "UnsupportedOperationException" and message.endswith("is not a multi-Region key."), f"ReplicateKey of a single-Region key: {code} {message}")
# A multi-Region key: an mrk- id, a primary (without replicas yet).
mrk = kms.create_key(MultiRegion=True, Description="multi-Region")["KeyMetadata"]
check(mrk["KeyId"].startswith("mrk-") and len(mrk["KeyId"]) == 36 and mrk["Arn"].endswith(":key/" + mrk["KeyId"])
      and mrk["MultiRegion"] is True, f"CreateKey MultiRegion: {mrk}")
check(mrk["MultiRegionConfiguration"] == {"MultiRegionKeyType": "PRIMARY", "PrimaryKey": {"Arn": mrk["Arn"], "Region": "us-east-1"}, "ReplicaKeys": []},
      f"MultiRegionConfiguration: {mrk['MultiRegionConfiguration']}")
blob = kms.encrypt(KeyId=mrk["KeyId"], Plaintext=b"everywhere", EncryptionContext={"app": "boto3"})["CiphertextBlob"]
back = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "boto3"})
check(back["Plaintext"] == b"everywhere" and back["KeyId"] == mrk["Arn"], "Decrypt finds a multi-Region key from its ciphertext")
kms.create_alias(AliasName="alias/boto3-mrk", TargetKeyId=mrk["KeyId"])
check(kms.describe_key(KeyId="alias/boto3-mrk")["KeyMetadata"]["Arn"] == mrk["Arn"], "an alias of a multi-Region key")
check(mrk["KeyId"] in [k["KeyId"] for k in kms.get_paginator("list_keys").paginate().build_full_result()["Keys"]], "ListKeys lists a multi-Region key")
single = kms.describe_key(KeyId=key)["KeyMetadata"]
check(single["MultiRegion"] is False and "MultiRegionConfiguration" not in single, "a single-Region key says it is one")
# AWS's example id has no marker kube-kms makes: no such key, ever.
code, status, message = error_of(kms.describe_key, KeyId="mrk-1234abcd12ab34cd56ef1234567890ab")
check(code == "NotFoundException" and status == 400, f"DescribeKey of an unmarked mrk- id: {code} {message}")
code, status, message = error_of(kms.describe_key, KeyId=mrk["Arn"].replace("us-east-1", "us-west-2"))
check(code == "NotFoundException", f"a multi-Region key's ARN in a Region it has no replica in: {code} {message}")
# A key policy is checked as AWS checks one, and enforced.
policy = '{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}'
with_policy = kms.create_key(Policy=policy, Description="with a policy")["KeyMetadata"]
check(with_policy["KeyState"] == "Enabled", "CreateKey with AWS's default policy")
check(kms.get_key_policy(KeyId=with_policy["KeyId"])["Policy"] == policy, "GetKeyPolicy returns the policy CreateKey was given")
default = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
check(default["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}, "GetKeyPolicy: the default policy names the account")
narrower = policy.replace('"kms:*"', '["kms:Encrypt","kms:Decrypt"]')
# The lockout safety check: the caller could not set the policy again.
code, status, message = error_of(kms.put_key_policy, KeyId=with_policy["Arn"], Policy=narrower, PolicyName="default")
check((code, status) == ("MalformedPolicyDocumentException", 400) and "will not allow you to update the key policy" in message, f"PutKeyPolicy locking its caller out: {code} {message}")
kms.put_key_policy(KeyId=with_policy["Arn"], Policy=narrower, BypassPolicyLockoutSafetyCheck=True)
blob = kms.encrypt(KeyId=with_policy["KeyId"], Plaintext=b"p")["CiphertextBlob"]
check(kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p", "the narrower policy still allows Encrypt and Decrypt")
code, status, message = error_of(kms.get_key_policy, KeyId=with_policy["KeyId"])
check((code, status) == ("AccessDeniedException", 400) and "is not authorized to perform: kms:GetKeyPolicy on resource: " + with_policy["Arn"] in message, f"GetKeyPolicy the policy does not allow: {code} {status} {message}")
# An explicit deny wins over the account's allow.
guarded = kms.create_key(Description="guarded")["KeyMetadata"]
deny_decrypt = policy.replace("]}", ',{"Sid":"NoDecrypt","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}]}')
kms.put_key_policy(KeyId=guarded["KeyId"], Policy=deny_decrypt)
check(kms.get_key_policy(KeyId=guarded["KeyId"])["Policy"] == deny_decrypt, "PutKeyPolicy then GetKeyPolicy")
blob = kms.encrypt(KeyId=guarded["KeyId"], Plaintext=b"p")["CiphertextBlob"]
code, status, message = error_of(kms.decrypt, CiphertextBlob=blob)
check((code, status) == ("AccessDeniedException", 400) and message.endswith("with an explicit deny in a resource-based policy"), f"Decrypt a policy denies: {code} {status} {message}")
# The connection's address is aws:SourceIp: this client's is loopback.
local_only = policy.replace("]}", ',{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.0/8","::1"]}}}]}')
kms.put_key_policy(KeyId=guarded["KeyId"], Policy=local_only)
check(error_of(kms.encrypt, KeyId=guarded["KeyId"], Plaintext=b"p")[0] == "AccessDeniedException", "Encrypt from an address the policy denies")
elsewhere = local_only.replace('["127.0.0.0/8","::1"]', '"203.0.113.0/24"')
kms.put_key_policy(KeyId=guarded["KeyId"], Policy=elsewhere)
check(len(kms.encrypt(KeyId=guarded["KeyId"], Plaintext=b"p")["CiphertextBlob"]) > 0, "Encrypt from an address the policy does not deny")
check(error_of(kms.put_key_policy, KeyId=key, Policy="{}")[0] == "MalformedPolicyDocumentException", "PutKeyPolicy with no statement")
check(error_of(kms.get_key_policy, KeyId=key, PolicyName="other")[0] == "NotFoundException", "GetKeyPolicy of a policy name other than default")
listed_policies = kms.list_key_policies(KeyId=key)
check(listed_policies["PolicyNames"] == ["default"] and not listed_policies["Truncated"], "ListKeyPolicies")
check(error_of(kms.create_key, Policy="{not json")[:2] == ("MalformedPolicyDocumentException", 400), "CreateKey with a policy that is not JSON")
check(error_of(kms.create_key, Policy=policy.replace('"Effect":"Allow",', ""))[0] == "MalformedPolicyDocumentException", "CreateKey with a statement without Effect")
try:
    kms.create_key(Policy="{}")
    check(False, "CreateKey with an empty policy document should have failed")
except kms.exceptions.MalformedPolicyDocumentException:
    pass
listed = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1}) for k in page["Keys"]]
check(key in listed, "ListKeys with pagination")

# Aliases
kms.create_alias(AliasName="alias/boto3", TargetKeyId=key)
check(kms.describe_key(KeyId="alias/boto3")["KeyMetadata"]["KeyId"] == key, "alias resolves")
check(any(a["AliasName"] == "alias/boto3" for a in kms.list_aliases(KeyId=key)["Aliases"]), "ListAliases")
second = kms.create_key()["KeyMetadata"]["KeyId"]
kms.update_alias(AliasName="alias/boto3", TargetKeyId=second)
check(kms.describe_key(KeyId="alias/boto3")["KeyMetadata"]["KeyId"] == second, "UpdateAlias")
kms.update_alias(AliasName="alias/boto3", TargetKeyId=key)
check(error_of(kms.create_alias, AliasName="alias/boto3", TargetKeyId=key)[0] == "AlreadyExistsException", "duplicate alias")
check(error_of(kms.create_alias, AliasName="alias/aws/x", TargetKeyId=key)[0] == "InvalidAliasNameException", "reserved alias")

# Symmetric crypto
ctx = {"purpose": "test", "tenant": "a"}
ct = kms.encrypt(KeyId="alias/boto3", Plaintext=b"hello", EncryptionContext=ctx)
check(ct["KeyId"] == arn and ct["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT", "Encrypt response")
pt = kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionContext=dict(reversed(list(ctx.items()))))
check(pt["Plaintext"] == b"hello" and pt["KeyId"] == arn and len(pt["KeyMaterialId"]) == 64, "Decrypt, context in another order")
check(error_of(kms.decrypt, CiphertextBlob=ct["CiphertextBlob"])[:2] == ("InvalidCiphertextException", 400), "wrong context")
tampered = bytearray(ct["CiphertextBlob"])
tampered[-1] ^= 1
check(error_of(kms.decrypt, CiphertextBlob=bytes(tampered), EncryptionContext=ctx)[0] == "InvalidCiphertextException", "tampered")
check(error_of(kms.decrypt, CiphertextBlob=ct["CiphertextBlob"], EncryptionContext=ctx, KeyId=second)[0] == "IncorrectKeyException", "IncorrectKey")
re = kms.re_encrypt(CiphertextBlob=ct["CiphertextBlob"], SourceEncryptionContext=ctx, DestinationKeyId=second)
check(kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"hello", "ReEncrypt")
check(error_of(kms.encrypt, KeyId=key, Plaintext=b"x" * 4097)[0] == "ValidationException", "plaintext limit")
check(error_of(kms.encrypt, KeyId=key, Plaintext=b"x", DryRun=True)[0] == "DryRunOperationException", "DryRun")
check(error_of(kms.decrypt, KeyId=key, DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])[0] == "DryRunOperationException", "DryRun without a ciphertext")
# Recipient (Nitro Enclaves) wants the result encrypted to an attested key:
# refused, never answered in plaintext.
enclave = {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"attestation"}
for call, kwargs in [
    (kms.decrypt, {"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": ctx}),
    (kms.generate_data_key, {"KeyId": key, "KeySpec": "AES_256"}),
    (kms.generate_data_key_pair, {"KeyId": key, "KeyPairSpec": "ECC_NIST_P256"}),
    (kms.generate_random, {"NumberOfBytes": 16}),
]:
    check(error_of(call, Recipient=enclave, **kwargs)[0] == "UnsupportedOperationException", f"{call.__name__} with a Recipient")

dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=ctx)
check(len(dk["Plaintext"]) == 32, "GenerateDataKey AES_256")
check(kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == dk["Plaintext"], "data key decrypts")
check(len(kms.generate_data_key(KeyId=key, NumberOfBytes=64)["Plaintext"]) == 64, "NumberOfBytes")
check(error_of(kms.generate_data_key, KeyId=key, NumberOfBytes=1025)[0] == "ValidationException", "NumberOfBytes limit")
dkw = kms.generate_data_key_without_plaintext(KeyId=key, KeySpec="AES_128")
check("Plaintext" not in dkw and len(kms.decrypt(CiphertextBlob=dkw["CiphertextBlob"])["Plaintext"]) == 16, "WithoutPlaintext")
pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
check(pair["PrivateKeyPlaintext"][:1] == b"\x30" and pair["PublicKey"][:1] == b"\x30", "data key pair DER")
check(kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] == pair["PrivateKeyPlaintext"], "private key decrypts")
pairw = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="RSA_2048")
check("PrivateKeyPlaintext" not in pairw and pairw["KeyPairSpec"] == "RSA_2048", "pair without plaintext")
check(len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024, "GenerateRandom")
check(error_of(kms.generate_random, NumberOfBytes=1025)[0] == "ValidationException", "GenerateRandom limit")

# Asymmetric and HMAC
signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
check(signer["SigningAlgorithms"] == ["ECDSA_SHA_256"], "signing key metadata")
sig = kms.sign(KeyId=signer["KeyId"], Message=b"msg", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
check(kms.verify(KeyId=signer["KeyId"], Message=b"msg", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"], "Verify")
digest = hashlib.sha256(b"msg").digest()
check(kms.verify(KeyId=signer["KeyId"], Message=digest, MessageType="DIGEST", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"], "Verify DIGEST")
check(error_of(kms.verify, KeyId=signer["KeyId"], Message=b"other", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")[0] == "KMSInvalidSignatureException", "bad signature")
check(error_of(kms.encrypt, KeyId=signer["KeyId"], Plaintext=b"x")[0] == "InvalidKeyUsageException", "wrong key usage")
pub = kms.get_public_key(KeyId=signer["KeyId"])
check(pub["KeySpec"] == "ECC_NIST_P256" and pub["KeyUsage"] == "SIGN_VERIFY" and pub["PublicKey"][:1] == b"\x30", "GetPublicKey")
edwards = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
check(edwards["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"] and "CustomerMasterKeySpec" not in edwards, "Ed25519 key metadata")
check(error_of(kms.sign, KeyId=edwards["KeyId"], Message=hashlib.sha512(b"m").digest(), MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")[0] == "ValidationException", "ED25519_SHA_512 takes RAW only")
check(error_of(kms.sign, KeyId=edwards["KeyId"], Message=b"m", SigningAlgorithm="ED25519_PH_SHA_512")[0] == "ValidationException", "ED25519_PH_SHA_512 takes DIGEST only")
check(error_of(kms.create_key, CustomerMasterKeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")[0] == "ValidationException", "CustomerMasterKeySpec has no Ed25519")
check(error_of(kms.create_key, KeySpec="ECC_NIST_EDWARDS25519")[0] == "ValidationException", "Ed25519 keys are SIGN_VERIFY only")
lattice = kms.create_key(KeySpec="ML_DSA_65", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
check(lattice["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"] and "CustomerMasterKeySpec" not in lattice, "ML-DSA key metadata")
pq_sig = kms.sign(KeyId=lattice["KeyId"], Message=b"post-quantum", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
check(len(pq_sig) == 3309, "ML_DSA_65 signature size (FIPS 204)")
check(kms.verify(KeyId=lattice["KeyId"], Message=b"post-quantum", Signature=pq_sig, SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"], "ML-DSA Verify")
check(error_of(kms.verify, KeyId=lattice["KeyId"], Message=b"pre-quantum", Signature=pq_sig, SigningAlgorithm="ML_DSA_SHAKE_256")[0] == "KMSInvalidSignatureException", "ML-DSA bad signature")
check(error_of(kms.sign, KeyId=lattice["KeyId"], Message=bytes(64), MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")[0] == "UnsupportedOperationException", "EXTERNAL_MU is refused as unsupported")
check(error_of(kms.sign, KeyId=lattice["KeyId"], Message=bytes(64), MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")[0] == "ValidationException", "ML-DSA takes no DIGEST")
check(kms.get_public_key(KeyId=lattice["KeyId"])["KeySpec"] == "ML_DSA_65", "ML-DSA GetPublicKey")
agreement = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
check(agreement["KeyAgreementAlgorithms"] == ["ECDH"] and "SigningAlgorithms" not in agreement, "key agreement key metadata")
agreement_pub = kms.get_public_key(KeyId=agreement["KeyId"])
check(agreement_pub["KeyAgreementAlgorithms"] == ["ECDH"] and agreement_pub["KeyUsage"] == "KEY_AGREEMENT", "GetPublicKey of a key agreement key")
peer = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
peer_pub = kms.get_public_key(KeyId=peer)["PublicKey"]
ab = kms.derive_shared_secret(KeyId=agreement["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_pub)
ba = kms.derive_shared_secret(KeyId=peer, KeyAgreementAlgorithm="ECDH", PublicKey=agreement_pub["PublicKey"])
check(ab["SharedSecret"] == ba["SharedSecret"] and len(ab["SharedSecret"]) == 48, "DeriveSharedSecret: both sides agree on 48 bytes")
check(ab["KeyAgreementAlgorithm"] == "ECDH" and ab["KeyOrigin"] == "AWS_KMS" and ab["KeyId"] == agreement["Arn"], "DeriveSharedSecret reply")
check(error_of(kms.derive_shared_secret, KeyId=agreement["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=pub["PublicKey"])[0] == "ValidationException", "a peer on another curve")
check(error_of(kms.derive_shared_secret, KeyId=signer["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_pub)[0] == "InvalidKeyUsageException", "a signing key cannot agree")
check(error_of(kms.sign, KeyId=peer, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")[0] == "InvalidKeyUsageException", "a key agreement key cannot sign")
check(error_of(kms.derive_shared_secret, KeyId=peer, KeyAgreementAlgorithm="ECDH", PublicKey=peer_pub, DryRun=True)[0] == "DryRunOperationException", "DeriveSharedSecret DryRun")
check(error_of(kms.derive_shared_secret, KeyId=peer, KeyAgreementAlgorithm="ECDH", PublicKey=peer_pub, Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"doc"})[0] == "UnsupportedOperationException", "Recipient is refused, not answered in plaintext")
check(error_of(kms.create_key, KeySpec="ECC_SECG_P256K1", KeyUsage="KEY_AGREEMENT")[0] == "ValidationException", "secp256k1 keys cannot agree")
kms.disable_key(KeyId=peer)
check(error_of(kms.derive_shared_secret, KeyId=peer, KeyAgreementAlgorithm="ECDH", PublicKey=peer_pub)[0] == "DisabledException", "DeriveSharedSecret with a disabled key")
rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
rct = kms.encrypt(KeyId=rsa, Plaintext=b"rsa secret", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
check(kms.decrypt(KeyId=rsa, CiphertextBlob=rct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"rsa secret", "RSA OAEP")
check(error_of(kms.encrypt, KeyId=rsa, Plaintext=b"x" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256")[0] == "ValidationException", "RSA limit")
mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
mac = kms.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
check(kms.verify_mac(KeyId=mac_key, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"], "VerifyMac")
check(error_of(kms.verify_mac, KeyId=mac_key, Message=b"n", Mac=mac, MacAlgorithm="HMAC_SHA_256")[0] == "KMSInvalidMacException", "bad MAC")
check(error_of(kms.generate_mac, KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_512")[0] == "InvalidKeyUsageException", "MAC algorithm")

# Last usage: a Decrypt is the last use of `second`, named by the request
# id its reply carried; a refused Decrypt is no use.
opened = kms.decrypt(CiphertextBlob=re["CiphertextBlob"])
usage = kms.get_key_last_usage(KeyId=second)
check(usage["KeyId"] == second and usage["KeyLastUsage"]["Operation"] == "Decrypt", f"GetKeyLastUsage: {usage}")
check(usage["KeyLastUsage"]["KmsRequestId"] == opened["ResponseMetadata"]["RequestId"], "the use names its request")
check(usage["TrackingStartDate"] == usage["KeyCreationDate"] <= usage["KeyLastUsage"]["Timestamp"], "tracked since the key was made")
check(error_of(kms.decrypt, CiphertextBlob=ct["CiphertextBlob"], KeyId=second)[0] == "IncorrectKeyException", "a refused Decrypt")
second_arn = f"arn:aws:kms:us-east-1:111122223333:key/{second}"
check(kms.get_key_last_usage(KeyId=second_arn)["KeyLastUsage"] == usage["KeyLastUsage"], "by ARN, and a refusal is no use")
unused = kms.create_key()["KeyMetadata"]["KeyId"]
check(kms.get_key_last_usage(KeyId=unused)["KeyLastUsage"] == {}, "a key never used")
check(error_of(kms.get_key_last_usage, KeyId="alias/boto3")[0] == "NotFoundException", "GetKeyLastUsage takes no alias")

# Rotation
kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
status = kms.get_key_rotation_status(KeyId=key)
check(status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90 and "NextRotationDate" in status, "rotation status")
kms.rotate_key_on_demand(KeyId=key)
rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
check(len(rotations) == 1 and rotations[0]["RotationType"] == "ON_DEMAND", "ListKeyRotations")
check(kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == b"hello", "old ciphertext after rotation")
kms.disable_key_rotation(KeyId=key)
check(not kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"], "DisableKeyRotation")
check(error_of(kms.enable_key_rotation, KeyId=key, RotationPeriodInDays=2561)[0] == "ValidationException", "period range")

# Tags
kms.tag_resource(KeyId=key, Tags=[{"TagKey": "env", "TagValue": "test"}])
kms.untag_resource(KeyId=key, TagKeys=["suite"])
check(kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "env", "TagValue": "test"}], "tags")
twice = [{"TagKey": "team", "TagValue": "a"}, {"TagKey": "team", "TagValue": "b"}]
check(error_of(kms.tag_resource, KeyId=key, Tags=twice)[::2] == ("TagException", "Duplicate tag keys"), "a tag key twice")
check(error_of(kms.list_keys, Marker="made-up")[0] == "InvalidMarkerException", "a marker we did not issue")

# States
kms.disable_key(KeyId=key)
code, status_code, message = error_of(kms.encrypt, KeyId=key, Plaintext=b"x")
check((code, status_code, message) == ("DisabledException", 400, f"{arn} is disabled."), "disabled")
kms.enable_key(KeyId=key)
deletion = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
check(deletion["KeyState"] == "PendingDeletion" and deletion["PendingWindowInDays"] == 7, "ScheduleKeyDeletion")
check(kms.describe_key(KeyId=key)["KeyMetadata"]["DeletionDate"] == deletion["DeletionDate"], "DeletionDate as described")
check(error_of(kms.decrypt, CiphertextBlob=ct["CiphertextBlob"], EncryptionContext=ctx)[0] == "KMSInvalidStateException", "pending deletion")
check(error_of(kms.schedule_key_deletion, KeyId=key, PendingWindowInDays=31)[0] == "ValidationException", "window range")
kms.cancel_key_deletion(KeyId=key)
check(kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled", "CancelKeyDeletion -> Disabled")
kms.delete_alias(AliasName="alias/boto3")
check(error_of(kms.describe_key, KeyId="alias/boto3")[0] == "NotFoundException", "DeleteAlias")
check(error_of(kms.describe_key, KeyId="00000000-0000-4000-8000-000000000000")[0] == "NotFoundException", "not found")

# Manifest fixture (deterministic key)
fixture = kms.encrypt(KeyId="alias/fixture", Plaintext=b"fixed")
check(fixture["KeyId"].endswith("1234abcd-12ab-34cd-56ef-1234567890ab"), "manifest key id pinned")

# Key import (BYOK): wrapped as AWS's documentation has users wrap, with
# OpenSSL (through the cryptography package).
import datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

DER = serialization.Encoding.DER


def wrapped_for(key, material, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048"):
    parameters = kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    public = serialization.load_der_public_key(parameters["PublicKey"])
    check(public.key_size == int(spec[4:]), f"wrapping key of {spec}")
    sha = hashes.SHA256() if algorithm.endswith("256") else hashes.SHA1()
    oaep = padding.OAEP(mgf=padding.MGF1(sha), algorithm=sha, label=None)
    if algorithm.startswith("RSA_AES"):
        aes = os.urandom(32)
        return parameters["ImportToken"], public.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)
    return parameters["ImportToken"], public.encrypt(material, oaep)


byok = kms.create_key(Origin="EXTERNAL", Description="imported")["KeyMetadata"]
check((byok["Origin"], byok["KeyState"], byok["Enabled"]) == ("EXTERNAL", "PendingImport", False), f"CreateKey Origin EXTERNAL: {byok}")
code, status, message = error_of(kms.encrypt, KeyId=byok["KeyId"], Plaintext=b"x")
check((code, status, message) == ("KMSInvalidStateException", 400, f"{byok['Arn']} is pending import."), f"pending import: {code} {message}")
material = os.urandom(32)
token, blob = wrapped_for(byok["KeyId"], material)
valid_to = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=30)
imported = kms.import_key_material(KeyId=byok["KeyId"], ImportToken=token, EncryptedKeyMaterial=blob, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
described = kms.describe_key(KeyId=byok["KeyId"])["KeyMetadata"]
check((described["KeyState"], described["ExpirationModel"], described["ValidTo"]) == ("Enabled", "KEY_MATERIAL_EXPIRES", valid_to), f"imported, expiring: {described}")
check(described["CurrentKeyMaterialId"] == imported["KeyMaterialId"], "KeyMaterialId")
sealed = kms.encrypt(KeyId=byok["KeyId"], Plaintext=b"byok")["CiphertextBlob"]
kms.delete_imported_key_material(KeyId=byok["KeyId"])
check(kms.describe_key(KeyId=byok["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport", "DeleteImportedKeyMaterial")
check(error_of(kms.decrypt, CiphertextBlob=sealed)[0] == "KMSInvalidStateException", "no material, no decrypt")
other_token, other_blob = wrapped_for(byok["KeyId"], os.urandom(32), "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
check(_raises(kms.import_key_material, kms.exceptions.IncorrectKeyMaterialException, KeyId=byok["KeyId"], ImportToken=other_token, EncryptedKeyMaterial=other_blob), "other material refused")
check(_raises(kms.import_key_material, kms.exceptions.InvalidImportTokenException, KeyId=byok["KeyId"], ImportToken=b"x" * 100, EncryptedKeyMaterial=blob), "a token not ours")
check(_raises(kms.import_key_material, kms.exceptions.InvalidCiphertextException, KeyId=byok["KeyId"], ImportToken=token, EncryptedKeyMaterial=other_blob), "wrapped for another wrapping key")
check(_raises(kms.get_parameters_for_import, kms.exceptions.UnsupportedOperationException, KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"), "a key of generated material takes no import")
check(_raises(kms.enable_key_rotation, kms.exceptions.UnsupportedOperationException, KeyId=byok["KeyId"]), "imported keys do not rotate")
again = kms.import_key_material(KeyId=byok["KeyId"], ImportToken=token, EncryptedKeyMaterial=blob, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=imported["KeyMaterialId"], ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
check(again["KeyMaterialId"] == imported["KeyMaterialId"], "the same material again")
check(kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"byok", "what it encrypted decrypts again")
rotations = kms.list_key_rotations(KeyId=byok["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
check([(r["ImportState"], r["ExpirationModel"]) for r in rotations] == [("IMPORTED", "KEY_MATERIAL_DOES_NOT_EXPIRE")], f"ListKeyRotations: {rotations}")

# On-demand rotation onto new imported material: it waits, pending rotation,
# then becomes the current version; what the first encrypted still decrypts.
check(error_of(kms.rotate_key_on_demand, KeyId=byok["KeyId"])[0] == "KMSInvalidStateException", "nothing imported to rotate onto")
token, blob = wrapped_for(byok["KeyId"], os.urandom(32), "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
new = kms.import_key_material(KeyId=byok["KeyId"], ImportToken=token, EncryptedKeyMaterial=blob, ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="second")
states = lambda: [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"]) for r in kms.list_key_rotations(KeyId=byok["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]]
first_id, new_id = imported["KeyMaterialId"], new["KeyMaterialId"]
check(states() == [(first_id, "CURRENT", "IMPORTED"), (new_id, "PENDING_ROTATION", "IMPORTED")], f"pending rotation: {states()}")
kms.rotate_key_on_demand(KeyId=byok["KeyId"])
check(states() == [(first_id, "NON_CURRENT", "IMPORTED"), (new_id, "CURRENT", "IMPORTED")], f"rotated: {states()}")
only = kms.list_key_rotations(KeyId=byok["KeyId"])["Rotations"]
check([(r["KeyMaterialId"], r["RotationType"]) for r in only] == [(new_id, "ON_DEMAND")], f"ROTATIONS_ONLY: {only}")
check(kms.describe_key(KeyId=byok["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == new_id, "the new material is current")
after = kms.encrypt(KeyId=byok["KeyId"], Plaintext=b"after")["CiphertextBlob"]
check(kms.decrypt(CiphertextBlob=after)["KeyMaterialId"] == new_id, "new ciphertexts use the new material")
check(kms.decrypt(CiphertextBlob=sealed)["KeyMaterialId"] == first_id, "old ones still the first")
kms.delete_imported_key_material(KeyId=byok["KeyId"], KeyMaterialId=first_id)
check(kms.describe_key(KeyId=byok["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport", "any version's material deleted: pending import")
token, blob = wrapped_for(byok["KeyId"], material)
kms.import_key_material(KeyId=byok["KeyId"], ImportToken=token, EncryptedKeyMaterial=blob, KeyMaterialId=first_id)
check(kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"byok", "and back")

# Asymmetric material: the key signs as the private key imported into it.
for private, spec, algorithm, verify_with in [
    (ec.generate_private_key(ec.SECP256R1()), "ECC_NIST_P256", "ECDSA_SHA_256", lambda k, s, m: k.verify(s, m, ec.ECDSA(hashes.SHA256()))),
    (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RSA_2048", "RSASSA_PSS_SHA_256",
     lambda k, s, m: k.verify(s, m, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())),
]:
    signer = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    pkcs8 = private.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    token, blob = wrapped_for(signer, pkcs8, "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072")
    kms.import_key_material(KeyId=signer, ImportToken=token, EncryptedKeyMaterial=blob)
    public = private.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    check(kms.get_public_key(KeyId=signer)["PublicKey"] == public, f"{spec}: the imported key's public key")
    signature = kms.sign(KeyId=signer, Message=b"imported", SigningAlgorithm=algorithm)["Signature"]
    verify_with(private.public_key(), signature, b"imported")  # raises if not
    checks.passed += 1

print(f"boto3 suite: {checks.passed} checks passed")
