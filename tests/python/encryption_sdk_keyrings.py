"""The AWS Encryption SDK for Python's other ways of using KMS, against the
endpoint: a multi-keyring (GenerateDataKey, then Encrypt for the second
key), the discovery keyring (Decrypt naming the key from the message), the
MRK-aware keyring, the RSA keyring (GetPublicKey, then Decrypt with
RSAES_OAEP_SHA_256), the ECDH keyring (DeriveSharedSecret on both sides)
and the legacy master key provider (its own botocore clients, which find
the endpoint in AWS_ENDPOINT_URL)."""
import logging
import os

import aws_encryption_sdk
import boto3
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateAwsKmsDiscoveryKeyringInput,
    CreateAwsKmsEcdhKeyringInput,
    CreateAwsKmsKeyringInput,
    CreateAwsKmsMrkKeyringInput,
    CreateAwsKmsRsaKeyringInput,
    CreateMultiKeyringInput,
    DiscoveryFilter,
    KmsEcdhStaticConfigurationsKmsPrivateKeyToStaticPublicKey,
    KmsEcdhStaticConfigurationsKmsPublicKeyDiscovery,
    KmsPrivateKeyToStaticPublicKeyInput,
    KmsPublicKeyDiscoveryInput,
)
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import AlgorithmSuite
from cryptography.hazmat.primitives import serialization

import checks
from checks import check

kms = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1")
providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
message = os.urandom(10_000)
# The refusals below are expected; the SDK would log each with a traceback.
logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
context = {"purpose": "keyrings"}


def create_key(**args):
    return kms.create_key(**args)["KeyMetadata"]["Arn"]


def kms_keyring(arn):
    return providers.create_aws_kms_keyring(input=CreateAwsKmsKeyringInput(kms_key_id=arn, kms_client=kms))


def opens(ciphertext, **how):
    """Whether the message decrypts to `message` with `how` (a keyring or a
    key provider); False when the SDK refuses it."""
    try:
        plaintext, header = client.decrypt(source=ciphertext, **how)
    except Exception:  # the SDK wraps KMS errors and missing keys alike
        return False
    return plaintext == message and header.encryption_context["purpose"] == "keyrings"


# A multi-keyring: the generator makes the data key, the child encrypts it
# again; either key alone opens the message.
first, second, stranger = create_key(), create_key(), create_key()
multi = providers.create_multi_keyring(
    input=CreateMultiKeyringInput(generator=kms_keyring(first), child_keyrings=[kms_keyring(second)])
)
ciphertext, header = client.encrypt(source=message, keyring=multi, encryption_context=context)
check(len(header.encrypted_data_keys) == 2, f"a multi-keyring message has two data keys: {len(header.encrypted_data_keys)}")
check(opens(ciphertext, keyring=kms_keyring(first)), "the generator key alone opens a multi-keyring message")
check(opens(ciphertext, keyring=kms_keyring(second)), "the child key alone opens a multi-keyring message")
check(not opens(ciphertext, keyring=kms_keyring(stranger)), "a third key does not open a multi-keyring message")

# Discovery: the keyring asks KMS to decrypt with whatever key the message
# names, within the accounts its filter allows.
def discovery(account):
    return providers.create_aws_kms_discovery_keyring(
        input=CreateAwsKmsDiscoveryKeyringInput(
            kms_client=kms, discovery_filter=DiscoveryFilter(account_ids=[account], partition="aws")
        )
    )


check(opens(ciphertext, keyring=discovery("111122223333")), "the discovery keyring opens a message of the endpoint's account")
check(not opens(ciphertext, keyring=discovery("444455556666")), "a discovery filter for another account does not open it")

# The MRK-aware keyring treats a single-Region key like the plain keyring.
mrk = providers.create_aws_kms_mrk_keyring(input=CreateAwsKmsMrkKeyringInput(kms_key_id=first, kms_client=kms))
ciphertext, _ = client.encrypt(source=message, keyring=mrk, encryption_context=context)
check(opens(ciphertext, keyring=mrk), "the MRK-aware keyring round trip")

# With a multi-Region key: the keyring's own case.
multi_region = create_key(MultiRegion=True)
check(":key/mrk-" in multi_region, f"a multi-Region key's ARN: {multi_region}")
mrk = providers.create_aws_kms_mrk_keyring(input=CreateAwsKmsMrkKeyringInput(kms_key_id=multi_region, kms_client=kms))
ciphertext, _ = client.encrypt(source=message, keyring=mrk, encryption_context=context)
check(opens(ciphertext, keyring=mrk), "the MRK-aware keyring round trip with a multi-Region key")
check(opens(ciphertext, keyring=kms_keyring(multi_region)), "the plain keyring opens it too")
# Naming the key in a Region it has no replica in: Decrypt is asked of that
# ARN, which is not found here.
elsewhere = multi_region.replace(":us-east-1:", ":us-west-2:")
other = providers.create_aws_kms_mrk_keyring(input=CreateAwsKmsMrkKeyringInput(kms_key_id=elsewhere, kms_client=kms))
check(not opens(ciphertext, keyring=other), "an MRK-aware keyring naming a Region without a replica refuses")

# RSA: encrypts locally under the key's public key (from GetPublicKey) and
# decrypts through KMS. It takes no signing suite.
def rsa_keyring(arn):
    public = kms.get_public_key(KeyId=arn)["PublicKey"]
    pem = serialization.load_der_public_key(public).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return providers.create_aws_kms_rsa_keyring(
        input=CreateAwsKmsRsaKeyringInput(
            public_key=pem, kms_key_id=arn, encryption_algorithm="RSAES_OAEP_SHA_256", kms_client=kms
        )
    )


rsa, other_rsa = (create_key(KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT") for _ in range(2))
ciphertext, _ = client.encrypt(
    source=message,
    keyring=rsa_keyring(rsa),
    encryption_context=context,
    algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
)
check(opens(ciphertext, keyring=rsa_keyring(rsa)), "the RSA keyring round trip (Decrypt with RSAES_OAEP_SHA_256)")
check(not opens(ciphertext, keyring=rsa_keyring(other_rsa)), "another RSA key does not open an RSA keyring message")

# ECDH: the sender's KMS key agrees a secret with the recipient's public key;
# the recipient's KMS key agrees the same secret with the sender's.
def ecdh_sender(sender, recipient):
    scheme = KmsEcdhStaticConfigurationsKmsPrivateKeyToStaticPublicKey(
        KmsPrivateKeyToStaticPublicKeyInput(
            sender_kms_identifier=sender,
            sender_public_key=kms.get_public_key(KeyId=sender)["PublicKey"],
            recipient_public_key=kms.get_public_key(KeyId=recipient)["PublicKey"],
        )
    )
    return providers.create_aws_kms_ecdh_keyring(
        input=CreateAwsKmsEcdhKeyringInput(key_agreement_scheme=scheme, curve_spec="ECC_NIST_P384", kms_client=kms)
    )


def ecdh_recipient(recipient):
    scheme = KmsEcdhStaticConfigurationsKmsPublicKeyDiscovery(KmsPublicKeyDiscoveryInput(recipient_kms_identifier=recipient))
    return providers.create_aws_kms_ecdh_keyring(
        input=CreateAwsKmsEcdhKeyringInput(key_agreement_scheme=scheme, curve_spec="ECC_NIST_P384", kms_client=kms)
    )


sender, recipient, bystander = (create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT") for _ in range(3))
ciphertext, _ = client.encrypt(source=message, keyring=ecdh_sender(sender, recipient), encryption_context=context)
check(opens(ciphertext, keyring=ecdh_recipient(recipient)), "the ECDH keyring: the recipient's KMS key opens the message")
check(opens(ciphertext, keyring=ecdh_sender(sender, recipient)), "the ECDH keyring: the sender's keyring opens it too")
check(not opens(ciphertext, keyring=ecdh_recipient(bystander)), "the ECDH keyring: a third KMS key does not open it")

# The legacy master key provider makes its own clients from a botocore
# session, which read AWS_ENDPOINT_URL.
legacy = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[first, second])
ciphertext, header = client.encrypt(source=message, key_provider=legacy, encryption_context=context)
check(len(header.encrypted_data_keys) == 2, "the master key provider wraps the data key under both keys")
check(opens(ciphertext, key_provider=aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[second])), "the master key provider round trip")
check(opens(ciphertext, keyring=kms_keyring(first)), "a keyring opens the master key provider's message")

print(f"keyrings: {checks.passed} checks passed")
