"""boto3 against `kube-kms api` serving keys the controller made.
Usage: cluster_boto3.py encrypt|decrypt|refused ENDPOINT [CIPHERTEXT_B64]
Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."""
import base64
import sys

import boto3
import botocore

step, endpoint = sys.argv[1], sys.argv[2]
kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
context = {"purpose": "e2e"}

if step == "encrypt":
    out = kms.encrypt(KeyId="alias/app", Plaintext=b"cluster secret", EncryptionContext=context)
    meta = kms.describe_key(KeyId="alias/app")["KeyMetadata"]
    assert meta["KeyState"] == "Enabled", meta
    aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert "alias/app" in aliases, aliases
    print("CIPHERTEXT", base64.b64encode(out["CiphertextBlob"]).decode())
    print("KEYID", meta["KeyId"])
elif step == "decrypt":
    blob = base64.b64decode(sys.argv[3])
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert out["Plaintext"] == b"cluster secret"
    try:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "other"})
        raise SystemExit("decrypted with the wrong context")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidCiphertextException", e.response
    print("DECRYPTED", out["KeyId"])
elif step == "refused":
    # Keys are changed by applying KmsKey objects; the API says so.
    try:
        kms.create_key()
        raise SystemExit("CreateKey should be refused in cluster mode")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "UnsupportedOperationException", e.response
    print("REFUSED")
