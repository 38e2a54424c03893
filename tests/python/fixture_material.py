"""Fixed key material for every asymmetric key spec, as test fixtures take it.

`write DIR`: makes private keys with OpenSSL (through `cryptography`) and
writes DIR/asymmetric.yaml, KmsKey manifests with each one's PKCS#8 DER as
`testMaterial`, and DIR/expected.json, the keys' PKCS#8 DER.
`check DIR`: against `kube-kms serve` started with those manifests, the
public key of each is the fixture's, what it signs verifies under the
fixture's public key, what is encrypted to the fixture's RSA public key
decrypts, and DeriveSharedSecret agrees with ECDH on the fixture's key. So
a team's CI gets the same asymmetric keys on every run (LocalStack's seeding
had bugs for exactly these: RSA material, secp256k1).
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, padding, rsa

import checks
from checks import check

step, directory = sys.argv[1], sys.argv[2]
# (name, key spec, key usage, key id)
FIXTURES = [
    ("rsa-sign", "RSA_2048", "SIGN_VERIFY", "2234abcd-12ab-34cd-56ef-1234567890a1"),
    ("rsa-encrypt", "RSA_3072", "ENCRYPT_DECRYPT", "2234abcd-12ab-34cd-56ef-1234567890a2"),
    ("p256", "ECC_NIST_P256", "SIGN_VERIFY", "2234abcd-12ab-34cd-56ef-1234567890a3"),
    ("p384", "ECC_NIST_P384", "SIGN_VERIFY", "2234abcd-12ab-34cd-56ef-1234567890a4"),
    ("p521", "ECC_NIST_P521", "SIGN_VERIFY", "2234abcd-12ab-34cd-56ef-1234567890a5"),
    ("secp256k1", "ECC_SECG_P256K1", "SIGN_VERIFY", "2234abcd-12ab-34cd-56ef-1234567890a6"),
    ("p256-agree", "ECC_NIST_P256", "KEY_AGREEMENT", "2234abcd-12ab-34cd-56ef-1234567890a7"),
    ("ed25519", "ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "2234abcd-12ab-34cd-56ef-1234567890a8"),
    ("ml-kem", "ML_KEM_768", "ENCAPSULATE_DECAPSULATE", "2234abcd-12ab-34cd-56ef-1234567890a9"),
]
CURVES = {"ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1(), "ECC_NIST_P521": ec.SECP521R1(), "ECC_SECG_P256K1": ec.SECP256K1()}


def generate(spec):
    if spec.startswith("RSA_"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec[4:]))
    if spec == "ECC_NIST_EDWARDS25519":
        return ed25519.Ed25519PrivateKey.generate()
    if spec == "ML_KEM_768":
        return mlkem.MLKEM768PrivateKey.generate()
    return ec.generate_private_key(CURVES[spec])


def der(private):
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


if step == "write":
    manifests, expected = [], {}
    for name, spec, usage, key_id in FIXTURES:
        material = base64.b64encode(der(generate(spec))).decode()
        expected[name] = material
        manifests.append(
            f"apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: {name}}}\n"
            f"spec:\n  keySpec: {spec}\n  keyUsage: {usage}\n  keyId: {key_id}\n  testMaterial: {material}\n"
        )
    with open(os.path.join(directory, "asymmetric.yaml"), "w") as f:
        f.write("---\n".join(manifests))
    with open(os.path.join(directory, "expected.json"), "w") as f:
        json.dump(expected, f)
    sys.exit(0)

import boto3  # noqa: E402 (only the check step talks to the endpoint)

kms = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1")
with open(os.path.join(directory, "expected.json")) as f:
    expected = json.load(f)
message = b"fixture message"
for name, spec, usage, key_id in FIXTURES:
    private = serialization.load_der_private_key(base64.b64decode(expected[name]), password=None)
    public = private.public_key()
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    served = kms.get_public_key(KeyId=key_id)
    check(served["PublicKey"] == spki and served["KeySpec"] == spec and served["KeyUsage"] == usage, f"{name}: the fixture's public key")
    if usage == "SIGN_VERIFY":
        if spec == "ECC_NIST_EDWARDS25519":
            signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ED25519_SHA_512", MessageType="RAW")["Signature"]
            public.verify(signature, message)
        elif spec.startswith("RSA_"):
            signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
            public.verify(signature, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        else:
            bits = {"ECC_NIST_P384": "384", "ECC_NIST_P521": "512"}.get(spec, "256")
            digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[bits]
            signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=f"ECDSA_SHA_{bits}")["Signature"]
            public.verify(signature, message, ec.ECDSA(digest))
        check(True, f"{name}: its signature verifies under the fixture's public key")
    elif usage == "ENCRYPT_DECRYPT":
        ciphertext = public.encrypt(message, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        plain = kms.decrypt(KeyId=key_id, CiphertextBlob=ciphertext, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"]
        check(plain == message, f"{name}: decrypts what was encrypted to the fixture's public key")
    elif usage == "ENCAPSULATE_DECAPSULATE":
        shared, ciphertext = public.encapsulate()
        opened = kms.decapsulate(KeyId=key_id, SharedSecretCiphertextBlob=ciphertext, EncapsulationAlgorithm="ML_KEM")
        check(opened["SharedSecret"] == shared, f"{name}: decapsulates what was encapsulated to the fixture's public key")
    else:
        peer = ec.generate_private_key(ec.SECP256R1())
        peer_public = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        shared = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer_public)["SharedSecret"]
        check(shared == private.exchange(ec.ECDH(), peer.public_key()), f"{name}: ECDH agrees with the fixture's private key")
print(f"fixture material: {checks.passed} checks passed")
