"""boto3 and SOPS (the AWS SDK for Go v2 inside, which takes HTTP/2 when
the server offers it) over HTTPS, verifying the endpoint's certificate
against KUBE_KMS_CA."""
import atexit
import json
import os
import shutil
import subprocess
import tempfile

import boto3

kms = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1", verify=os.environ["KUBE_KMS_CA"])
key = kms.create_key()["KeyMetadata"]
blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"over tls")["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over tls"


# Key policies see the connection as TLS (aws:SecureTransport).
def guarded(secure):
    deny = {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": secure}}}
    allow = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [allow, deny]})
    return kms.create_key(Policy=policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]


kms.encrypt(KeyId=guarded("false"), Plaintext=b"x")  # refused over plain HTTP
try:
    kms.encrypt(KeyId=guarded("true"), Plaintext=b"x")
    raise AssertionError("a policy denying TLS callers let one in")
except kms.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDeniedException", e.response

# The AWS SDKs take the trusted certificates from AWS_CA_BUNDLE.
work = tempfile.mkdtemp()
# Its files hold a test secret in plaintext: gone when the script ends.
atexit.register(shutil.rmtree, work, ignore_errors=True)
with open(os.path.join(work, "secret.yaml"), "w") as f:
    f.write("password: hunter2\n")
env = dict(os.environ, AWS_CA_BUNDLE=os.environ["KUBE_KMS_CA"])


def sops(*args):
    done = subprocess.run(["sops", *args], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"sops {args[0]} over HTTPS: {done.stderr}"
    return done.stdout


encrypted = sops("encrypt", "--kms", key["Arn"], "secret.yaml")
assert "hunter2" not in encrypted and key["Arn"] in encrypted, encrypted
with open(os.path.join(work, "secret.enc.yaml"), "w") as f:
    f.write(encrypted)
assert sops("decrypt", "secret.enc.yaml") == "password: hunter2\n"
print("tls ok")
