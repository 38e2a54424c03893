"""boto3 over HTTPS, verifying the endpoint's certificate against KUBE_KMS_CA."""
import os

import boto3

kms = boto3.client("kms", endpoint_url=os.environ["KUBE_KMS_ENDPOINT"], region_name="us-east-1", verify=os.environ["KUBE_KMS_CA"])
key = kms.create_key()["KeyMetadata"]["KeyId"]
blob = kms.encrypt(KeyId=key, Plaintext=b"over tls")["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over tls"
print("tls ok")
