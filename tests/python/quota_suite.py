"""Request quotas through boto3: `serve` started with
--request-quota CreateKey=2,cryptographic=1,rsa=0.1,ecc=1,
GenerateDataKeyPair/RSA_2048=1. Past a quota,
requests are ThrottlingException (400, AWS's message); quotas are per
namespace and per operation (the cryptographic ones shared, and per key type
for asymmetric keys); boto3's retries get through."""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import checks
from checks import check

endpoint = os.environ["KUBE_KMS_ENDPOINT"]
once = Config(retries={"total_max_attempts": 1, "mode": "standard"})  # no retries
kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1", config=once)
other = boto3.client(
    "kms", endpoint_url=endpoint, region_name="us-east-1", config=once,
    aws_access_key_id=os.environ["KUBE_KMS_OTHER_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["KUBE_KMS_OTHER_SECRET_ACCESS_KEY"],
)
MESSAGE = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."


def attempt(call, **kwargs):
    """The call's result, or the error's code, status and message."""
    try:
        return call(**kwargs)
    except ClientError as e:
        return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Message"])


def code(outcome):
    """An outcome's error code, or "ok"."""
    return outcome[0] if isinstance(outcome, tuple) else "ok"


def at_once(n, call, **kwargs):
    """n calls sent together, so that the quota cannot refill meanwhile."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: attempt(call, **kwargs), range(n)))


# CreateKey: 2 a second in this namespace.
outcomes = at_once(6, kms.create_key, Description="quota")
created = [o for o in outcomes if isinstance(o, dict)]
throttled = [o for o in outcomes if isinstance(o, tuple)]
check(1 <= len(created) <= 3, f"CreateKey within the quota: {len(created)} of 6")
check(throttled and all(t == ("ThrottlingException", 400, MESSAGE) for t in throttled), f"past it, ThrottlingException: {throttled}")
key = created[0]["KeyMetadata"]["KeyId"]
# Another namespace has its own quota; another operation its own too.
check(isinstance(attempt(other.create_key, Description="other"), dict), "another namespace's CreateKey is not throttled")
check(isinstance(attempt(kms.describe_key, KeyId=key), dict), "DescribeKey has its own quota")

# The cryptographic operations share one quota: 1 a second here.
blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
results = at_once(10, kms.encrypt, KeyId=key, Plaintext=b"x")
check(sum(isinstance(r, tuple) and r[0] == "ThrottlingException" for r in results) >= 7, f"Encrypt past the cryptographic quota is throttled: {results}")
decrypted = at_once(5, kms.decrypt, CiphertextBlob=blob)
check(any(isinstance(d, tuple) and d[0] == "ThrottlingException" for d in decrypted), f"Decrypt shares Encrypt's quota: {decrypted}")
check(isinstance(attempt(other.generate_random, NumberOfBytes=8), dict), "another namespace's cryptographic quota is its own")

# Data key pairs: a quota per key pair spec, shared by both operations
# (RSA_2048: 1 a second).
pairs = at_once(3, kms.generate_data_key_pair_without_plaintext, KeyId=key, KeyPairSpec="RSA_2048")
check(sum(isinstance(p, tuple) and p[0] == "ThrottlingException" for p in pairs) >= 1 and any(isinstance(p, dict) for p in pairs), f"RSA_2048 pairs past their quota are throttled: {pairs}")
rsa = at_once(3, kms.generate_data_key_pair, KeyId=key, KeyPairSpec="RSA_2048")
check(sum(isinstance(r, tuple) and r[0] == "ThrottlingException" for r in rsa) >= 2, f"GenerateDataKeyPair shares it: {rsa}")
check(isinstance(attempt(kms.generate_data_key_pair, KeyId=key, KeyPairSpec="ECC_NIST_P256"), dict), "an ECC_NIST_P256 pair has its own quota")

# boto3 retries ThrottlingException with backoff, and gets through.
while not isinstance(attempt(kms.create_key, Description="drain"), tuple):
    pass
retrying = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 10, "mode": "standard"}))
started = time.monotonic()
response = retrying.create_key(Description="after a retry")
check(response["ResponseMetadata"]["RetryAttempts"] >= 1, f"retried: {response['ResponseMetadata']}")
print(f"retried {response['ResponseMetadata']['RetryAttempts']} times over {time.monotonic() - started:.2f} s")

# Asymmetric keys: a quota per key type, counted once the key is known
# (here RSA one every 10 s, elliptic curves 1 a second).
def new_key(spec, usage):
    return retrying.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]


rsa_signer, rsa_crypter = new_key("RSA_2048", "SIGN_VERIFY"), new_key("RSA_2048", "ENCRYPT_DECRYPT")
ecc_signer, symmetric = new_key("ECC_NIST_P256", "SIGN_VERIFY"), new_key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
pss = dict(Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
signed = at_once(4, kms.sign, KeyId=rsa_signer, **pss)
ok = [s for s in signed if isinstance(s, dict)]
check(len(ok) == 1 and all(s == ("ThrottlingException", 400, MESSAGE) for s in signed if isinstance(s, tuple)), f"Sign with an RSA key past the RSA quota is throttled: {[code(s) for s in signed]}")
verified = attempt(kms.verify, KeyId=rsa_signer, Signature=ok[0]["Signature"], **pss)
check(code(verified) == "ThrottlingException", f"Verify with an RSA key shares it: {code(verified)}")
ecdsa = dict(KeyId=ecc_signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
check(isinstance(attempt(kms.sign, **ecdsa), dict), "an elliptic curve key has a quota of its own")
check(code(attempt(kms.sign, **ecdsa)) == "ThrottlingException", "past it, throttled")
time.sleep(1.1)  # the symmetric quota (1 a second) refills; the RSA one has not
check(isinstance(attempt(kms.encrypt, KeyId=symmetric, Plaintext=b"x"), dict), "symmetric Encrypt is not held back by the RSA quota")
time.sleep(1.1)
rsa_decrypt = attempt(kms.decrypt, KeyId=rsa_crypter, CiphertextBlob=b"\0" * 256, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
check(code(rsa_decrypt) == "ThrottlingException", f"Decrypt with an RSA key counts against the RSA quota: {code(rsa_decrypt)}")
time.sleep(1.1)
to_rsa = attempt(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=rsa_crypter, DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
check(code(to_rsa) == "ThrottlingException", f"ReEncrypt to an RSA key counts against it too: {code(to_rsa)}")
print(f"quota suite: {checks.passed} checks passed")
