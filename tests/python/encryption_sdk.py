"""AWS Encryption SDK for Python: encrypt and decrypt through an AWS KMS
keyring whose boto3 client points at the endpoint. With a directory
argument, it also exchanges messages with the AWS Encryption SDK for
JavaScript (tests/js/encryption_sdk.mjs): it leaves `py.msg` there and
decrypts `js.msg` if JavaScript left one."""
import os
import sys

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

if len(sys.argv) > 1:
    exchange = sys.argv[1]
    from_js = os.path.join(exchange, "js.msg")
    if os.path.exists(from_js):
        with open(os.path.join(exchange, "js.key")) as f:
            js_key = f.read().strip()
        js_keyring = providers.create_aws_kms_keyring(input=CreateAwsKmsKeyringInput(kms_key_id=js_key, kms_client=kms))
        with open(from_js, "rb") as f:
            js_plaintext, _ = client.decrypt(source=f.read(), keyring=js_keyring)
        with open(os.path.join(exchange, "js.plain"), "rb") as f:
            assert js_plaintext == f.read(), "FAILED: the JavaScript SDK's message decrypted to something else"
        print("decrypted the JavaScript SDK's message")
    for name, data in [("py.msg", ciphertext), ("py.plain", message), ("py.key", key_arn.encode())]:
        with open(os.path.join(exchange, name), "wb") as f:
            f.write(data)
print("round trip ok")
