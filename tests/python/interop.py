"""What kube-kms makes, checked by an independent implementation.

OpenSSL, through the `cryptography` package, verifies every signature
algorithm of every signing key spec against the public key GetPublicKey
returns (Ed25519ph, which OpenSSL 3.0 lacks, only as distinct from pure
Ed25519; src/material/eddsa tests it against RFC 8032; ML-DSA, which it
lacks too, is checked by RustCrypto's ml-dsa in src/material/mldsa), encrypts under RSA public keys for kube-kms to decrypt, derives the same
ECDH secrets as DeriveSharedSecret, and loads the key pairs
GenerateDataKeyPair returns; Python's hmac computes the MACs
of a key whose material a fixture fixes, and AES-GCM reads and writes the
symmetric ciphertext blob from docs/formats.md alone. This is what users do
when they verify KMS signatures offline or encrypt to a KMS public key.

Run by tests/clients.rs against `kube-kms serve` on loopback.
"""
import hashlib
import hmac
import os
import struct
import uuid

import boto3
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import checks
from checks import check

kms = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1")
HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


def public_key(key_id):
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def verifies(public, algorithm, message, signature):
    digest = HASHES[algorithm[-3:]]
    try:
        if algorithm == "ED25519_SHA_512":
            public.verify(signature, message)
        elif algorithm.startswith("RSASSA_PSS"):
            public.verify(signature, message, padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size), digest)
        elif algorithm.startswith("RSASSA_PKCS1"):
            public.verify(signature, message, padding.PKCS1v15(), digest)
        else:
            public.verify(signature, message, ec.ECDSA(digest))
        return True
    except Exception:
        return False


SIGNING_SPECS = ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"]
for spec in SIGNING_SPECS:
    meta = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    public = public_key(meta["KeyId"])
    # Ed25519ph (HashEdDSA) is not in OpenSSL 3.0; it is checked below.
    for algorithm in [a for a in meta["SigningAlgorithms"] if a != "ED25519_PH_SHA_512"]:
        message = f"signed by {spec} with {algorithm}".encode()
        signature = kms.sign(KeyId=meta["KeyId"], Message=message, SigningAlgorithm=algorithm)["Signature"]
        check(verifies(public, algorithm, message, signature), f"{spec} {algorithm}: OpenSSL verifies")
        check(not verifies(public, algorithm, message + b"!", signature), f"{spec} {algorithm}: OpenSSL refuses another message")

for spec in ["RSA_2048", "RSA_3072"]:
    key_id = kms.create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    public = public_key(key_id)
    for algorithm, digest in [("RSAES_OAEP_SHA_1", hashes.SHA1()), ("RSAES_OAEP_SHA_256", hashes.SHA256())]:
        ciphertext = public.encrypt(b"to kube-kms", padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None))
        plaintext = kms.decrypt(KeyId=key_id, CiphertextBlob=ciphertext, EncryptionAlgorithm=algorithm)["Plaintext"]
        check(plaintext == b"to kube-kms", f"{spec} {algorithm}: decrypts what OpenSSL encrypted")

# Ed25519ph over the caller's SHA-512 digest: Verify accepts it, and it is
# not a pure Ed25519 signature of the message or of the digest.
ed25519 = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
message = b"too long to send, so sent as a digest" * 200
digest = hashlib.sha512(message).digest()
signature = kms.sign(KeyId=ed25519, Message=digest, MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
check(len(signature) == 64, "ED25519_PH_SHA_512: a 64-byte signature")
verified = kms.verify(KeyId=ed25519, Message=digest, MessageType="DIGEST", Signature=signature, SigningAlgorithm="ED25519_PH_SHA_512")
check(verified["SignatureValid"], "ED25519_PH_SHA_512: Verify accepts it")
public = public_key(ed25519)
check(not verifies(public, "ED25519_SHA_512", message, signature), "ED25519_PH_SHA_512: not a pure Ed25519 signature of the message")
check(not verifies(public, "ED25519_SHA_512", digest, signature), "ED25519_PH_SHA_512: nor of the digest")

# The fixture key's material is RFC 8032's test 2 key (tests/support/mod.rs):
# signing its message gives the RFC's signature, byte for byte.
rfc = kms.sign(KeyId="alias/ed25519-fixture", Message=bytes([0x72]), SigningAlgorithm="ED25519_SHA_512")["Signature"]
check(rfc.hex() == "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00", "ED25519_SHA_512 of a manifest's key: RFC 8032's signature")
rfc_public = kms.get_public_key(KeyId="alias/ed25519-fixture")["PublicKey"][12:]
check(rfc_public.hex() == "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "GetPublicKey of a manifest's Ed25519 key: RFC 8032's public key")

# ECDH: OpenSSL computes the same shared secret from its own private key
# and the KMS key's public key as DeriveSharedSecret does from the other two.
for spec, curve in [("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1()), ("ECC_NIST_P521", ec.SECP521R1())]:
    key_id = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    theirs = ec.generate_private_key(curve)
    their_public = theirs.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    derived = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=their_public)["SharedSecret"]
    check(derived == theirs.exchange(ec.ECDH(), public_key(key_id)), f"{spec} ECDH: OpenSSL derives the same secret")

wrapping = kms.create_key()["KeyMetadata"]["KeyId"]
for spec in ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"]:
    pair = kms.generate_data_key_pair(KeyId=wrapping, KeyPairSpec=spec)
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    spki = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    check(spki == pair["PublicKey"], f"{spec} pair: the PKCS#8 private key matches the SPKI public key")
    unwrapped = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"]
    check(unwrapped == pair["PrivateKeyPlaintext"], f"{spec} pair: the wrapped private key decrypts to it")

# ML-KEM: OpenSSL encapsulates to the public key GetPublicKey returns and
# Decapsulate recovers its secret; what Encapsulate makes, Decapsulate
# opens; a data key pair's PKCS#8 (the seed) and SPKI load in OpenSSL and
# belong together. (OpenSSL through `cryptography` has no ML-KEM-512.)
for spec, private_class in [("ML_KEM_768", mlkem.MLKEM768PrivateKey), ("ML_KEM_1024", mlkem.MLKEM1024PrivateKey)]:
    key = kms.create_key(KeySpec=spec, KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
    public = public_key(key)
    shared, ciphertext = public.encapsulate()
    opened = kms.decapsulate(KeyId=key, SharedSecretCiphertextBlob=ciphertext, EncapsulationAlgorithm="ML_KEM")
    check(opened["SharedSecret"] == shared, f"{spec}: Decapsulate recovers what OpenSSL encapsulated")
    made = kms.encapsulate(KeyId=key, EncapsulationAlgorithm="ML_KEM")
    again = kms.decapsulate(KeyId=key, SharedSecretCiphertextBlob=made["SharedSecretCiphertextBlob"], EncapsulationAlgorithm="ML_KEM")
    check(again["SharedSecret"] == made["SharedSecret"] and len(made["SharedSecret"]) == 32, f"{spec}: Encapsulate, then Decapsulate")
    pair = kms.generate_data_key_pair(KeyId="alias/fixture", KeyPairSpec=spec)
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
    check(isinstance(private, private_class), f"{spec}: OpenSSL reads the data key pair's PKCS#8")
    spki = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    check(spki == pair["PublicKey"], f"{spec}: the pair's public key is its private key's")
    shared, ciphertext = serialization.load_der_public_key(pair["PublicKey"]).encapsulate()
    check(private.decapsulate(ciphertext) == shared, f"{spec}: the pair encapsulates and decapsulates in OpenSSL")

# HMAC: the fixture key's material is known (tests/support/mod.rs), so the
# standard library computes the same MACs.
material = bytes(range(0x20, 0x40))
for message in [b"m", bytes(range(256)) * 16]:
    expected = hmac.new(material, message, "sha256").digest()
    mac = kms.generate_mac(KeyId="alias/mac-fixture", Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]
    check(mac == expected, f"HMAC_SHA_256 of {len(message)} bytes: Python's hmac computes the same")
    verified = kms.verify_mac(KeyId="alias/mac-fixture", Message=message, Mac=expected, MacAlgorithm="HMAC_SHA_256")
    check(verified["MacValid"], f"VerifyMac of {len(message)} bytes accepts Python's MAC")

# The symmetric ciphertext blob, read and written from docs/formats.md alone
# with the fixture key's known material (bytes 0x00..0x1f).
material = bytes(range(32))
context = {"tenant": "a", "purpose": "interop"}


def canonical(context):
    out = struct.pack(">I", len(context))
    for key, value in sorted((k.encode(), v.encode()) for k, v in context.items()):
        out += struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
    return out


def message_key(prefix):
    """Format 2's key for one blob: SP 800-108 counter mode, HMAC-SHA256."""
    label = b"kube-kms/ciphertext/2"
    block = struct.pack(">I", 1) + label + b"\0" + prefix + struct.pack(">I", 256)
    return hmac.new(material, block, hashlib.sha256).digest()


blob = kms.encrypt(KeyId="alias/fixture", Plaintext=b"read by the spec", EncryptionContext=context)["CiphertextBlob"]
prefix, sealed = blob[:53], blob[53:]
check(blob[0] == 0x02 and blob[1:17] == uuid.UUID("1234abcd-12ab-34cd-56ef-1234567890ab").bytes, "blob header: format and key id")
aad = b"kube-kms/ciphertext/2\0" + prefix + canonical(context)
opened = AESGCM(message_key(prefix)).decrypt(bytes(12), sealed, aad)
check(opened == b"read by the spec", "the documented message key and AAD decrypt an Encrypt blob")
check(len(blob) == len(b"read by the spec") + 69, "a blob is its plaintext and 69 bytes")
prefix = blob[:21] + os.urandom(32)
aad = b"kube-kms/ciphertext/2\0" + prefix + canonical(context)
made = prefix + AESGCM(message_key(prefix)).encrypt(bytes(12), b"written by the spec", aad)
check(kms.decrypt(CiphertextBlob=made, EncryptionContext=context)["Plaintext"] == b"written by the spec", "Decrypt opens a blob made from the documented format")
# Format 1, written before format 2: blobs stored then still decrypt.
header = bytes([1]) + blob[1:21]
nonce = os.urandom(12)
aad = b"kube-kms/ciphertext/1\0" + header + canonical(context)
made = header + nonce + AESGCM(material).encrypt(nonce, b"written by format 1", aad)
check(kms.decrypt(CiphertextBlob=made, EncryptionContext=context)["Plaintext"] == b"written by format 1", "Decrypt opens a blob of format 1")

print(f"interop: {checks.passed} checks passed")
