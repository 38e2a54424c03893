"""SOPS (getsops/sops, the AWS SDK for Go v2 inside) against the endpoint:
secrets files kept encrypted in Git, as GitOps repositories keep them.

Run by tests/clients.rs with the venv's `sops` on PATH, AWS_ENDPOINT_URL
pointing at `kube-kms serve` and the usual AWS_* variables. Exits non-zero
on the first failed expectation.
"""
import atexit
import os
import shutil
import subprocess
import tempfile

import boto3
import yaml

import checks
from checks import check

kms = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1")
work = tempfile.mkdtemp()
# Its files hold test secrets in plaintext: gone when the script ends.
atexit.register(shutil.rmtree, work, ignore_errors=True)


def sops(*args, config=None):
    """Runs sops in the work directory; returns (exit code, stdout, stderr)."""
    command = ["sops"]
    if config:
        command += ["--config", config]
    done = subprocess.run(command + list(args), cwd=work, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def decrypted(path):
    code, out, err = sops("decrypt", path)
    check(code == 0, f"sops decrypt {path}: {err}")
    return yaml.safe_load(out)


secret = {"database": {"user": "app", "password": "hunter2"}, "api_token": "tok-123"}
with open(os.path.join(work, "secret.yaml"), "w") as f:
    yaml.safe_dump(secret, f)

key = kms.create_key(Description="sops")["KeyMetadata"]
kms.create_alias(AliasName="alias/sops", TargetKeyId=key["KeyId"])
alias_arn = key["Arn"].replace(f"key/{key['KeyId']}", "alias/sops")

# Encrypt by alias ARN with an encryption context, then decrypt.
code, out, err = sops("encrypt", "--kms", alias_arn, "--encryption-context", "team:payments", "secret.yaml")
check(code == 0, f"sops encrypt: {err}")
check("hunter2" not in out and "tok-123" not in out, "the encrypted file holds no secret in the clear")
document = yaml.safe_load(out)
entry = document["sops"]["kms"][0]
check(entry["arn"] == alias_arn and entry["context"] == {"team": "payments"}, "the file names the key and the context")
with open(os.path.join(work, "secret.enc.yaml"), "w") as f:
    f.write(out)
check(decrypted("secret.enc.yaml") == secret, "sops decrypt gives the secret back")

# The data key is a KMS ciphertext of our key: Decrypt with the same
# context opens it, without the context it does not.
blob = __import__("base64").b64decode(entry["enc"])
opened = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"team": "payments"})
check(opened["KeyId"] == key["Arn"] and len(opened["Plaintext"]) == 32, "sops's data key is a 32-byte key under our key")

# A repository's .sops.yaml names the key by ARN for every matching file.
with open(os.path.join(work, ".sops.yaml"), "w") as f:
    yaml.safe_dump({"creation_rules": [{"path_regex": r"\.yaml$", "kms": key["Arn"]}]}, f)
code, out, err = sops("encrypt", "--filename-override", "app.yaml", "secret.yaml", config=".sops.yaml")
check(code == 0, f"sops encrypt through .sops.yaml: {err}")
with open(os.path.join(work, "app.enc.yaml"), "w") as f:
    f.write(out)
check(yaml.safe_load(out)["sops"]["kms"][0]["arn"] == key["Arn"], "the creation rule's key")
check(decrypted("app.enc.yaml") == secret, "a file encrypted through .sops.yaml decrypts")

# Rotation: files encrypted before it still decrypt; `sops rotate` makes a
# new data key under the new key material.
kms.rotate_key_on_demand(KeyId=key["KeyId"])
check(decrypted("secret.enc.yaml") == secret, "a file from before the rotation decrypts")
code, _, err = sops("rotate", "--in-place", "secret.enc.yaml")
check(code == 0, f"sops rotate: {err}")
with open(os.path.join(work, "secret.enc.yaml")) as f:
    check(yaml.safe_load(f)["sops"]["kms"][0]["enc"] != entry["enc"], "sops rotate wrapped a new data key")
check(decrypted("secret.enc.yaml") == secret, "the rotated file decrypts")

# A context edited in the file no longer opens the data key.
with open(os.path.join(work, "secret.enc.yaml")) as f:
    edited = f.read().replace("team: payments", "team: marketing")
with open(os.path.join(work, "edited.enc.yaml"), "w") as f:
    f.write(edited)
code, _, err = sops("decrypt", "edited.enc.yaml")
check(code != 0 and "InvalidCiphertextException" in err, f"an edited context is refused: {err}")

# Disabled and pending deletion keys refuse, with the AWS error in sops's message.
kms.disable_key(KeyId=key["KeyId"])
code, _, err = sops("decrypt", "secret.enc.yaml")
check(code != 0 and "DisabledException" in err, f"a disabled key: {err}")
kms.enable_key(KeyId=key["KeyId"])
kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
code, _, err = sops("decrypt", "app.enc.yaml")
check(code != 0 and "KMSInvalidStateException" in err, f"a key pending deletion: {err}")
kms.cancel_key_deletion(KeyId=key["KeyId"])
kms.enable_key(KeyId=key["KeyId"])
check(decrypted("app.enc.yaml") == secret, "the key back in use decrypts again")

# Encrypting to a key that does not exist fails and writes nothing.
code, out, err = sops("encrypt", "--kms", key["Arn"].replace(key["KeyId"], "00000000-0000-4000-8000-000000000000"), "secret.yaml")
check(code != 0 and "NotFoundException" in err and "hunter2" not in out, f"an unknown key: {err}")

print(f"sops suite: {checks.passed} checks passed")
