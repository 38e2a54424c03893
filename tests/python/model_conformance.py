"""The endpoint against AWS's own API model, as botocore ships it.

For every operation the endpoint serves, a well-formed request (BASE) is
sent, then the same request with one constraint of botocore's KMS model
broken: a required member left out, a string or blob one past its
length bounds, a number one past its range, a list one element too long
or short, a value outside an enum, a character outside a pattern, at any
depth (tags, grant tokens, Recipient). AWS checks those before anything
else and answers ValidationException; so must the endpoint. The other
way round, a value the model allows (every value of every enum, strings
at their longest, numbers at their bounds) must never be refused as
malformed: a well-formed request for something the endpoint does not do
is UnsupportedOperationException, not a ValidationException. Every other
operation of the model must be known (UnsupportedOperationException
saying why, not UnknownOperationException).

A newer botocore brings a newer model: a member or a value AWS adds shows
up here. Run by tests/clients.rs against `kube-kms serve` on loopback.
"""
import base64
import binascii
import json
import os
import re
import sys
import uuid

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

endpoint = os.environ["KUBE_KMS_ENDPOINT"]
# A refusal of what was sent is never retried; a dropped connection and a
# ThrottlingException are, and botocore's adaptive mode slows down to the
# endpoint's request quotas (`kube-kms api` has AWS's: 5/s for UpdateAlias).
retries = Config(retries={"mode": "adaptive", "max_attempts": 10})
kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1", config=retries)
# The same client without botocore's own checks, so malformed requests
# reach the endpoint.
raw = boto3.client(
    "kms",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=retries.merge(Config(parameter_validation=False)),
)
model = botocore.session.get_session().get_service_model("kms")

# Every answer, before botocore parses it (its parser drops what the model
# does not name, so a misspelt member would be lost without a word): a
# reply must be the operation's output shape, an error one of the errors
# the model gives the operation, or one every AWS JSON service may send.
ANY_OPERATION = {
    "ValidationException",
    "SerializationException",
    "ThrottlingException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "UnsupportedOperationException",
}
answers = []


def wrong_in(shape, value, at):
    """What in value does not fit shape, as a list of sentences."""
    t = shape.type_name
    kinds = {
        "structure": dict,
        "map": dict,
        "list": list,
        "string": str,
        "blob": str,
        "boolean": bool,
        "integer": int,
        "long": int,
        "timestamp": (int, float),
    }
    if not isinstance(value, kinds[t]) or (t != "boolean" and isinstance(value, bool)):
        return [f"{at}: {json.dumps(value)[:60]} is no {t}"]
    wrong = []
    if t == "structure":
        for name, member in value.items():
            if name not in shape.members:
                wrong.append(f"{at}.{name}: not a member of {shape.name}")
            else:
                wrong += wrong_in(shape.members[name], member, f"{at}.{name}")
        wrong += [f"{at}.{name}: required, absent" for name in shape.required_members if name not in value]
    elif t == "list":
        for i, element in enumerate(value):
            wrong += wrong_in(shape.member, element, f"{at}[{i}]")
    elif t == "map":
        for name, member in value.items():
            wrong += wrong_in(shape.value, member, f"{at}.{name}")
    elif t == "string" and getattr(shape, "enum", None) and value not in shape.enum:
        wrong.append(f"{at}: {value} is not in {shape.name}")
    elif t == "blob":
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            wrong.append(f"{at}: not base64")
    return wrong


def answer_as_modeled(operation_model, response_dict, **_):
    op = operation_model.name
    body = json.loads(response_dict["body"] or b"{}")
    if response_dict["status_code"] < 300:
        wrong = wrong_in(operation_model.output_shape, body, op) if operation_model.output_shape else []
    else:
        code = body.get("__type", "").rsplit("#", 1)[-1]
        modeled = {e.name for e in operation_model.error_shapes} | ANY_OPERATION
        wrong = [] if code in modeled else [f"{op}: {code} is not an error of {op}"]
        if not isinstance(body.get("message", body.get("Message")), str):
            wrong.append(f"{op} {code}: no message")
    answers.append(op)
    failures.extend(wrong)


failures = []
for client in (kms, raw):
    client.meta.events.register("before-parse.kms.*", answer_as_modeled)

sym = kms.create_key()["KeyMetadata"]["KeyId"]
rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
ecdh = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
kem = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
blob = kms.encrypt(KeyId=sym, Plaintext=b"x")["CiphertextBlob"]
ALIAS = f"alias/conformance-{uuid.uuid4()}"
kms.create_alias(AliasName=ALIAS, TargetKeyId=sym)
peer = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
)
POLICY = json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
)
NO_SUCH_KEY = "00000000-0000-4000-8000-000000000000"
external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
import_token = kms.get_parameters_for_import(
    KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
)["ImportToken"]

# A well-formed request for every operation served. Each may fail for
# what it names (a key that does not exist, a signature that is wrong),
# never as malformed.
BASE = {
    "Encrypt": {"KeyId": sym, "Plaintext": b"x"},
    "Decrypt": {"CiphertextBlob": blob},
    "ReEncrypt": {"CiphertextBlob": blob, "DestinationKeyId": sym},
    "GenerateDataKey": {"KeyId": sym, "NumberOfBytes": 32},
    "GenerateDataKeyWithoutPlaintext": {"KeyId": sym, "NumberOfBytes": 32},
    "GenerateDataKeyPair": {"KeyId": sym, "KeyPairSpec": "ECC_NIST_P256"},
    "GenerateDataKeyPairWithoutPlaintext": {"KeyId": sym, "KeyPairSpec": "ECC_NIST_P256"},
    "GenerateRandom": {"NumberOfBytes": 8},
    "Sign": {"KeyId": rsa, "Message": b"m", "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
    "Verify": {
        "KeyId": rsa,
        "Message": b"m",
        "Signature": b"s",
        "SigningAlgorithm": "RSASSA_PSS_SHA_256",
    },
    "GetPublicKey": {"KeyId": rsa},
    "GenerateMac": {"KeyId": hmac, "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
    "VerifyMac": {"KeyId": hmac, "Message": b"m", "Mac": b"m", "MacAlgorithm": "HMAC_SHA_256"},
    "DeriveSharedSecret": {"KeyId": ecdh, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer},
    "Encapsulate": {"KeyId": kem, "EncapsulationAlgorithm": "ML_KEM"},
    "Decapsulate": {
        "KeyId": kem,
        "EncapsulationAlgorithm": "ML_KEM",
        "SharedSecretCiphertextBlob": b"c" * 1088,
    },
    "CreateKey": {},
    "DescribeKey": {"KeyId": sym},
    "ListKeys": {},
    "EnableKey": {"KeyId": sym},
    "DisableKey": {"KeyId": NO_SUCH_KEY},
    "ScheduleKeyDeletion": {"KeyId": NO_SUCH_KEY},
    "CancelKeyDeletion": {"KeyId": sym},
    "UpdateKeyDescription": {"KeyId": sym, "Description": "d"},
    "GetKeyLastUsage": {"KeyId": sym},
    "EnableKeyRotation": {"KeyId": sym},
    "DisableKeyRotation": {"KeyId": sym},
    "GetKeyRotationStatus": {"KeyId": sym},
    "RotateKeyOnDemand": {"KeyId": NO_SUCH_KEY},
    "ReplicateKey": {"KeyId": NO_SUCH_KEY, "ReplicaRegion": "eu-west-1"},
    "UpdatePrimaryRegion": {"KeyId": NO_SUCH_KEY, "PrimaryRegion": "eu-west-1"},
    "ListKeyRotations": {"KeyId": sym},
    "CreateAlias": {"AliasName": ALIAS, "TargetKeyId": sym},
    "UpdateAlias": {"AliasName": ALIAS, "TargetKeyId": sym},
    "DeleteAlias": {"AliasName": "alias/none"},
    "ListAliases": {},
    "TagResource": {"KeyId": sym, "Tags": [{"TagKey": "k", "TagValue": "v"}]},
    "UntagResource": {"KeyId": sym, "TagKeys": ["k"]},
    "ListResourceTags": {"KeyId": sym},
    "GetKeyPolicy": {"KeyId": sym},
    "PutKeyPolicy": {"KeyId": sym, "Policy": POLICY},
    "ListKeyPolicies": {"KeyId": sym},
    "CreateGrant": {
        "KeyId": sym,
        "GranteePrincipal": "arn:aws:iam::111122223333:role/r",
        "Operations": ["Decrypt"],
    },
    "RetireGrant": {"KeyId": sym, "GrantId": "0" * 64},
    "RevokeGrant": {"KeyId": sym, "GrantId": "0" * 64},
    "ListGrants": {"KeyId": sym},
    "ListRetirableGrants": {"RetiringPrincipal": "arn:aws:iam::111122223333:role/r"},
    "DescribeCustomKeyStores": {},
    "GetParametersForImport": {
        "KeyId": external,
        "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
        "WrappingKeySpec": "RSA_2048",
    },
    # Wrapped material that does not unwrap: InvalidCiphertextException.
    "ImportKeyMaterial": {
        "KeyId": external,
        "ImportToken": import_token,
        "EncryptedKeyMaterial": b"m" * 256,
    },
    "DeleteImportedKeyMaterial": {"KeyId": external},
}


def call(op, params):
    try:
        getattr(raw, botocore.xform_name(op))(**params)
        return "OK", ""
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", "")


def outside(pattern):
    """A short string the pattern does not match, if one of a few does."""
    for c in ["\u0001", "\u20ac", " ", "#", "!", "~", "\n"]:
        if not re.fullmatch(pattern, "a" + c):
            return "a" + c
    return None


def sample(shape):
    """A value of shape within its constraints."""
    t, meta = shape.type_name, shape.metadata
    if t == "string":
        if getattr(shape, "enum", None):
            return shape.enum[0]
        return "a" * max(1, meta.get("min", 1))
    if t == "blob":
        return b"a" * max(1, meta.get("min", 1))
    if t in ("integer", "long"):
        return meta.get("min", 1)
    if t == "boolean":
        return False
    if t == "list":
        return [sample(shape.member)]
    if t == "map":
        return {}
    if t == "structure":
        return {n: sample(shape.members[n]) for n in shape.required_members}
    raise ValueError(t)


def broken(shape):
    """(what, value) pairs, each breaking one of shape's own constraints."""
    meta, t = shape.metadata, shape.type_name
    out = []
    if t in ("string", "blob"):
        unit = "a" if t == "string" else b"a"
        if getattr(shape, "enum", None):
            out.append(("outside the enum", "NOT_A_VALUE"))
        if "max" in meta:
            out.append(("too long", unit * (meta["max"] + 1)))
        if meta.get("min", 0) > 0:
            out.append(("too short", unit * (meta["min"] - 1)))
        if t == "string" and "pattern" in meta and (bad := outside(meta["pattern"])):
            out.append((f"outside its pattern ({bad!r})", bad))
    elif t in ("integer", "long"):
        if "max" in meta:
            out.append(("too large", meta["max"] + 1))
        if "min" in meta:
            out.append(("too small", meta["min"] - 1))
    elif t == "list":
        if "max" in meta:
            out.append(("too many elements", [sample(shape.member)] * (meta["max"] + 1)))
        if meta.get("min", 0) > 0:
            out.append(("too few elements", [sample(shape.member)] * (meta["min"] - 1)))
    return out


def malformed(shape, base):
    """(what, request) pairs: base with one constraint broken."""
    for name, member in shape.members.items():
        if name in shape.required_members and name in base:
            yield f"{name} left out", {k: v for k, v in base.items() if k != name}
        for what, value in broken(member):
            yield f"{name} {what}", {**base, name: value}
        t = member.type_name
        if t == "structure":
            for what, inner in malformed(member, base.get(name) or sample(member)):
                yield f"{name}.{what}", {**base, name: inner}
        elif t == "list" and member.member.type_name == "structure":
            elements = base.get(name) or [sample(member.member)]
            for what, inner in malformed(member.member, elements[0]):
                yield f"{name}[0].{what}", {**base, name: [inner] + elements[1:]}
        elif t == "list":
            for what, value in broken(member.member):
                yield f"{name}[0] {what}", {**base, name: [value]}
        elif t == "map":
            for what, value in broken(member.key):
                yield f"{name} key {what}", {**base, name: {value: "v"}}
            for what, value in broken(member.value):
                yield f"{name} value {what}", {**base, name: {"k": value}}


def allowed(shape):
    """(what, value) pairs at the edges of what shape allows."""
    meta, t = shape.metadata, shape.type_name
    if t == "string" and getattr(shape, "enum", None):
        return [(f"= {v}", v) for v in shape.enum]
    if t in ("string", "blob") and "max" in meta and "pattern" not in meta:
        return [("at its longest", ("a" if t == "string" else b"a") * meta["max"])]
    if t in ("integer", "long"):
        return [(f"= {meta[b]}", meta[b]) for b in ("min", "max") if b in meta]
    return []


def well_formed(shape, base):
    for name, member in shape.members.items():
        for what, value in allowed(member):
            yield f"{name} {what}", {**base, name: value}
        if member.type_name == "list" and getattr(member.member, "enum", None):
            for what, value in allowed(member.member):
                yield f"{name}[0] {what}", {**base, name: [value]}


def refused_as_malformed(code, message):
    return code == "SerializationException" or (
        code == "ValidationException" and "failed to satisfy constraint" in message
    )


cases = 0
for op in model.operation_names:
    if op not in BASE:
        cases += 1
        code, message = call(op, {})
        if code != "UnsupportedOperationException":
            failures.append(f"{op} (not served): {code} {message}")
        continue
    shape = model.operation_model(op).input_shape
    cases += 1
    code, message = call(op, BASE[op])
    if code in ("ValidationException", "SerializationException", "UnsupportedOperationException"):
        failures.append(f"{op} well-formed request: {code} {message}")
    for what, request in malformed(shape, BASE[op]):
        cases += 1
        code, message = call(op, request)
        # A blob past its bound may not fit the endpoint's body limit
        # (256 KiB), which is refused as a ValidationException as well.
        too_big = "Request body exceeds" in message
        if code != "ValidationException" or not ("validation error" in message or too_big):
            failures.append(f"{op} {what}: {code} {message[:160]}")
    for what, request in well_formed(shape, BASE[op]):
        cases += 1
        code, message = call(op, request)
        if refused_as_malformed(code, message) or code == "UnknownOperationException":
            failures.append(f"{op} {what}: {code} {message[:160]}")

# Successful answers of every kind, for the check of what is answered:
# keys of each family, with their public keys, rotations, a pending
# deletion, a disabled key, tags, aliases, policies.
for spec, usage in [
    ("RSA_3072", "ENCRYPT_DECRYPT"),
    ("ECC_NIST_P384", "SIGN_VERIFY"),
    ("ECC_SECG_P256K1", "SIGN_VERIFY"),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
    ("ML_DSA_44", "SIGN_VERIFY"),
    ("HMAC_512", "GENERATE_VERIFY_MAC"),
]:
    key = kms.create_key(KeySpec=spec, KeyUsage=usage, Tags=[{"TagKey": "spec", "TagValue": spec}])
    key = key["KeyMetadata"]["KeyId"]
    kms.describe_key(KeyId=key)
    if usage == "GENERATE_VERIFY_MAC":
        mac = kms.generate_mac(KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_512")["Mac"]
        kms.verify_mac(KeyId=key, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_512")
        continue
    kms.get_public_key(KeyId=key)
    if usage == "ENCRYPT_DECRYPT":
        sealed = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        kms.decrypt(
            KeyId=key,
            CiphertextBlob=sealed["CiphertextBlob"],
            EncryptionAlgorithm="RSAES_OAEP_SHA_256",
        )
    else:
        algorithm = kms.describe_key(KeyId=key)["KeyMetadata"]["SigningAlgorithms"][0]
        signature = kms.sign(KeyId=key, Message=b"m", SigningAlgorithm=algorithm)["Signature"]
        kms.verify(KeyId=key, Message=b"m", Signature=signature, SigningAlgorithm=algorithm)
kms.generate_data_key_pair_without_plaintext(KeyId=sym, KeyPairSpec="RSA_2048")
kms.generate_data_key_pair(KeyId=sym, KeyPairSpec="ML_KEM_512")
kms.describe_key(KeyId=kem)
kms.get_public_key(KeyId=kem)
kms.enable_key_rotation(KeyId=sym, RotationPeriodInDays=90)
kms.get_key_rotation_status(KeyId=sym)
kms.rotate_key_on_demand(KeyId=sym)
# In a cluster the controller rotates after the call returns: in progress.
kms.get_key_rotation_status(KeyId=sym)
kms.list_key_rotations(KeyId=sym)
kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=sym)
doomed = kms.create_key(Description="pending deletion")["KeyMetadata"]["KeyId"]
kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
kms.describe_key(KeyId=doomed)
kms.cancel_key_deletion(KeyId=doomed)
kms.disable_key(KeyId=doomed)
kms.describe_key(KeyId=doomed)
kms.tag_resource(KeyId=sym, Tags=[{"TagKey": "team", "TagValue": ""}])
kms.list_resource_tags(KeyId=sym)
kms.list_aliases()
kms.list_aliases(KeyId=sym)
kms.get_key_policy(KeyId=sym)
kms.list_key_policies(KeyId=sym)
kms.list_keys(Limit=2)
kms.get_key_last_usage(KeyId=sym)
kms.get_key_last_usage(KeyId=doomed)
# Imported material: pending import, imported with an end, described,
# listed, deleted.
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

kms.describe_key(KeyId=external)
parameters = kms.get_parameters_for_import(
    KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_3072"
)
wrapping = serialization.load_der_public_key(parameters["PublicKey"])
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
kms.import_key_material(
    KeyId=external,
    ImportToken=parameters["ImportToken"],
    EncryptedKeyMaterial=wrapping.encrypt(os.urandom(32), oaep),
    ExpirationModel="KEY_MATERIAL_EXPIRES",
    ValidTo=parameters["ParametersValidTo"],
    KeyMaterialDescription="conformance",
)
kms.describe_key(KeyId=external)
kms.list_key_rotations(KeyId=external, IncludeKeyMaterial="ALL_KEY_MATERIAL")
kms.delete_imported_key_material(KeyId=external)
kms.list_key_rotations(KeyId=external, IncludeKeyMaterial="ALL_KEY_MATERIAL")

for failure in failures:
    print("NOT AS THE MODEL SAYS:", failure, file=sys.stderr)
print(
    f"botocore {botocore.__version__}: {len(model.operation_names)} operations, "
    f"{cases} requests, {len(answers)} answers checked"
)
if failures:
    sys.exit(1)
print(f"model conformance: {cases} cases as AWS's model says")
