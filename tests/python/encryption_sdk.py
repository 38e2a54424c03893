"""AWS Encryption SDK for Python: encrypt and decrypt through an AWS KMS
keyring whose boto3 client points at the endpoint."""
import os

import aws_encryption_sdk
import boto3
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsKeyringInput
from aws_encryption_sdk import CommitmentPolicy

kms = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1")
key_arn = kms.create_key(Description="encryption sdk")["KeyMetadata"]["Arn"]

providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
keyring = providers.create_aws_kms_keyring(input=CreateAwsKmsKeyringInput(kms_key_id=key_arn, kms_client=kms))
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

message = os.urandom(100_000)
context = {"purpose": "esdk-test"}
ciphertext, header = client.encrypt(source=message, keyring=keyring, encryption_context=context)
assert ciphertext != message
plaintext, decrypt_header = client.decrypt(source=ciphertext, keyring=keyring)
assert plaintext == message, "round trip changed the message"
assert decrypt_header.encryption_context["purpose"] == "esdk-test"
tampered = bytearray(ciphertext)
tampered[len(tampered) // 2] ^= 1
try:
    client.decrypt(source=bytes(tampered), keyring=keyring)
    tampered_decrypted = True
except Exception:  # the SDK raises InvalidTag from `cryptography` here
    tampered_decrypted = False
assert not tampered_decrypted, "FAILED: tampered message decrypted"
print("round trip ok")
