"""The KMS v2 plugin through Python's grpcio, an implementation independent
of ours: the proto is compiled here, at test time, with grpcio-tools.

Usage: kms_plugin_grpcio.py SOCKET PROTO_ROOT
"""
import atexit
import os
import shutil
import sys
import tempfile
import uuid

import grpc
from grpc_tools import protoc

socket, proto_root = sys.argv[1], sys.argv[2]
out = tempfile.mkdtemp()
atexit.register(shutil.rmtree, out, ignore_errors=True)
proto = os.path.join(proto_root, "k8s/kms/v2/api.proto")
rc = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={out}",
                  f"--grpc_python_out={out}", proto])
assert rc == 0, f"protoc failed: {rc}"
sys.path.insert(0, out)
from k8s.kms.v2 import api_pb2, api_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel(f"unix:{socket}", options=[("grpc.default_authority", "localhost")])
kms = api_pb2_grpc.KeyManagementServiceStub(channel)

status = kms.Status(api_pb2.StatusRequest(), timeout=3)
assert status.version == "v2", status.version
assert status.healthz == "ok", status.healthz
assert 0 < len(status.key_id) <= 1024, status.key_id

seeds = [os.urandom(32) for _ in range(5)]
wrapped = []
for seed in seeds:
    r = kms.Encrypt(api_pb2.EncryptRequest(plaintext=seed, uid=str(uuid.uuid4())), timeout=3)
    assert 0 < len(r.ciphertext) <= 1024, len(r.ciphertext)
    assert r.key_id == status.key_id, (r.key_id, status.key_id)
    assert len(r.annotations) == 0, dict(r.annotations)
    wrapped.append(r)
assert len({w.ciphertext for w in wrapped}) == len(seeds), "ciphertexts repeat"

for seed, w in zip(seeds, wrapped):
    r = kms.Decrypt(api_pb2.DecryptRequest(ciphertext=w.ciphertext, uid=str(uuid.uuid4()),
                                           key_id=w.key_id), timeout=3)
    assert r.plaintext == seed

for bad in [
    api_pb2.DecryptRequest(ciphertext=b"\x01garbage", key_id=status.key_id),
    api_pb2.DecryptRequest(ciphertext=wrapped[0].ciphertext, key_id="someone-elses-key"),
    api_pb2.DecryptRequest(ciphertext=wrapped[0].ciphertext[:-1], key_id=status.key_id),
]:
    try:
        kms.Decrypt(bad, timeout=3)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    else:
        raise AssertionError(f"accepted {bad}")

print(f"key_id {status.key_id}: 5 seeds wrapped and unwrapped, 3 bad requests refused")
