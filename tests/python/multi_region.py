"""A multi-Region key across two deployments (tests/clients.rs starts them):
the primary in us-east-1 (KUBE_KMS_ENDPOINT), its replica in eu-west-1
(KUBE_KMS_REPLICA_ENDPOINT), through boto3 and the AWS Encryption SDK's
MRK-aware keyrings."""
import json
import os

import aws_encryption_sdk
import boto3
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateAwsKmsMrkDiscoveryKeyringInput,
    CreateAwsKmsMrkKeyringInput,
    DiscoveryFilter,
)
from aws_encryption_sdk import CommitmentPolicy
from botocore.exceptions import ClientError

import checks
from checks import check

east = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1")
west = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_REPLICA_ENDPOINT"], region_name="eu-west-1",
                    verify=os.environ["KUBE_KMS_REPLICA_CA"])


def error_of(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", "")
    check(False, f"{call.__name__} should have failed")


primary = east.create_key(MultiRegion=True, Description="orders")["KeyMetadata"]
key_id = primary["KeyId"]
west_arn = primary["Arn"].replace(":us-east-1:", ":eu-west-1:")
reply = east.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1", Description="orders, replica",
                           Tags=[{"TagKey": "site", "TagValue": "west"}])
replica = reply["ReplicaKeyMetadata"]
check(replica["KeyId"] == key_id and replica["Arn"] == west_arn and replica["KeyState"] == "Enabled"
      and replica["Description"] == "orders, replica", f"ReplicateKey: {replica}")
check(replica["MultiRegionConfiguration"] == {
    "MultiRegionKeyType": "REPLICA",
    "PrimaryKey": {"Arn": primary["Arn"], "Region": "us-east-1"},
    "ReplicaKeys": [{"Arn": west_arn, "Region": "eu-west-1"}],
}, f"the replica's configuration: {replica['MultiRegionConfiguration']}")
check(reply["ReplicaTags"] == [{"TagKey": "site", "TagValue": "west"}], f"ReplicaTags: {reply['ReplicaTags']}")
check(json.loads(reply["ReplicaPolicy"])["Statement"][0]["Action"] == "kms:*", "the replica has the default policy")
config = east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
check(config["MultiRegionKeyType"] == "PRIMARY" and config["ReplicaKeys"] == [{"Arn": west_arn, "Region": "eu-west-1"}],
      f"the primary lists its replica: {config}")
described = west.describe_key(KeyId=west_arn)["KeyMetadata"]
check(described["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA", "DescribeKey in the replica Region")

# Ciphertexts of either open in the other Region.
context = {"order": "42"}
from_east = east.encrypt(KeyId=key_id, Plaintext=b"from east", EncryptionContext=context)["CiphertextBlob"]
opened = west.decrypt(CiphertextBlob=from_east, EncryptionContext=context)
check(opened["Plaintext"] == b"from east" and opened["KeyId"] == west_arn, "the replica decrypts the primary's ciphertext")
from_west = west.encrypt(KeyId=west_arn, Plaintext=b"from west")["CiphertextBlob"]
check(east.decrypt(CiphertextBlob=from_west)["Plaintext"] == b"from west", "the primary decrypts the replica's ciphertext")
data_key = west.generate_data_key(KeyId=key_id, KeySpec="AES_256")
check(east.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"], "a data key made in the replica Region")
check(error_of(west.decrypt, CiphertextBlob=from_east)[0] == "InvalidCiphertextException", "the context still counts")

# Refusals.
code, message = error_of(east.replicate_key, KeyId=key_id, ReplicaRegion="eu-west-1")
check(code == "AlreadyExistsException", f"replicating to the same Region twice: {code} {message}")
code, message = error_of(east.replicate_key, KeyId=key_id, ReplicaRegion="us-east-1")
check(code == "ValidationException", f"replicating to the primary's own Region: {code} {message}")
code, message = error_of(east.replicate_key, KeyId=key_id, ReplicaRegion="ap-south-1")
check(code == "UnsupportedOperationException" and "peers" in message, f"a Region that is not a peer: {code} {message}")
code, message = error_of(east.replicate_key, KeyId=key_id, ReplicaRegion="eu-central-1")
check(code == "DependencyTimeoutException" and "certificate" in message.lower(),
      f"a Region whose certificate does not chain to its caFile: {code} {message}")
code, message = error_of(east.replicate_key, KeyId=key_id, ReplicaRegion="Europe")
check(code == "ValidationException", f"not a Region name: {code} {message}")
code, message = error_of(west.replicate_key, KeyId=key_id, ReplicaRegion="us-west-2")
check(code == "UnsupportedOperationException" and "replica" in message, f"ReplicateKey of a replica: {code} {message}")
code, message = error_of(west.rotate_key_on_demand, KeyId=key_id)
check(code == "UnsupportedOperationException" and "rotates with its primary" in message, f"rotating a replica: {code} {message}")
single = east.create_key()["KeyMetadata"]["KeyId"]
code, message = error_of(east.replicate_key, KeyId=single, ReplicaRegion="eu-west-1")
check(code == "UnsupportedOperationException" and "not a multi-Region key" in message, f"a single-Region key: {code} {message}")
check(error_of(west.describe_key, KeyId=single)[0] == "NotFoundException", "nothing of it reached the other Region")

# A rotation of the primary reaches the replica, and so do its rotation
# settings (shared by a key's Regions; a replica never rotates on its own).
east.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
east.rotate_key_on_demand(KeyId=key_id)
status = west.get_key_rotation_status(KeyId=key_id)
check(status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 180,
      f"the replica's rotation status is the primary's: {status}")
code, message = error_of(west.disable_key_rotation, KeyId=key_id)
check(code == "UnsupportedOperationException", f"a replica's rotation is set on its primary: {code} {message}")
rotated = east.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
check(west.decrypt(CiphertextBlob=rotated)["Plaintext"] == b"after rotation", "the replica decrypts under the new version")
versions = west.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
check(len(versions) == 2, f"the replica holds both versions: {versions}")
check(west.decrypt(CiphertextBlob=from_east, EncryptionContext=context)["Plaintext"] == b"from east", "and still the first")

# The primary moves to eu-west-1 (UpdatePrimaryRegion), and back.
east.update_primary_region(KeyId=key_id, PrimaryRegion="eu-west-1")
config = west.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
check(config == {"MultiRegionKeyType": "PRIMARY", "PrimaryKey": {"Arn": west_arn, "Region": "eu-west-1"},
                 "ReplicaKeys": [{"Arn": primary["Arn"], "Region": "us-east-1"}]}, f"eu-west-1 is the primary: {config}")
config = east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
check(config["MultiRegionKeyType"] == "REPLICA" and config["PrimaryKey"]["Region"] == "eu-west-1", f"us-east-1 is a replica: {config}")
check(error_of(east.rotate_key_on_demand, KeyId=key_id)[0] == "UnsupportedOperationException", "the former primary no longer rotates")
code, message = error_of(east.update_primary_region, KeyId=key_id, PrimaryRegion="eu-west-1")
check(code == "UnsupportedOperationException" and "eu-west-1" in message, f"UpdatePrimaryRegion is the primary's: {code} {message}")
west.rotate_key_on_demand(KeyId=key_id)
third = west.encrypt(KeyId=key_id, Plaintext=b"third version")["CiphertextBlob"]
check(east.decrypt(CiphertextBlob=third)["Plaintext"] == b"third version", "the new primary's rotation reaches the former one")
code, message = error_of(west.update_primary_region, KeyId=key_id, PrimaryRegion="ap-south-1")
check(code == "NotFoundException", f"a Region without a replica: {code} {message}")
west.update_primary_region(KeyId=key_id, PrimaryRegion="us-east-1")
check(east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
      and west.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA",
      "and back to us-east-1")

# The Encryption SDK's MRK-aware keyrings treat the two as one key.
providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
in_east = providers.create_aws_kms_mrk_keyring(input=CreateAwsKmsMrkKeyringInput(kms_key_id=primary["Arn"], kms_client=east))
in_west = providers.create_aws_kms_mrk_keyring(input=CreateAwsKmsMrkKeyringInput(kms_key_id=west_arn, kms_client=west))
message = os.urandom(5000)
ciphertext, _ = client.encrypt(source=message, keyring=in_east, encryption_context={"purpose": "mrk"})
plaintext, _ = client.decrypt(source=ciphertext, keyring=in_west)
check(plaintext == message, "the MRK-aware keyring in the replica Region opens the primary's message")
discovery = providers.create_aws_kms_mrk_discovery_keyring(input=CreateAwsKmsMrkDiscoveryKeyringInput(
    kms_client=west, region="eu-west-1",
    discovery_filter=DiscoveryFilter(account_ids=["111122223333"], partition="aws")))
plaintext, _ = client.decrypt(source=ciphertext, keyring=discovery)
check(plaintext == message, "so does the MRK-aware discovery keyring there")

print(f"multi-Region: {checks.passed} checks passed")
