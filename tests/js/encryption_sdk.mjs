// The AWS Encryption SDK for JavaScript (@aws-crypto/client-node): encrypt
// and decrypt through a KMS keyring whose KMS client points at the
// endpoint, and, with a directory argument, messages exchanged with the
// AWS Encryption SDK for Python (tests/python/encryption_sdk.py): it
// decrypts `py.msg` if Python left one, and leaves `js.msg` for Python.
//
// Run by tests/clients.rs with KUBE_KMS_ENDPOINT and AWS_* variables set.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { KMS } from "@aws-sdk/client-kms";
import { KmsKeyringNode, buildClient, CommitmentPolicy, getClient } from "@aws-crypto/client-node";

const config = {
  endpoint: process.env.KUBE_KMS_ENDPOINT,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
};
const fail = (what) => {
  console.error(`FAILED: ${what}`);
  process.exit(1);
};

const kms = new KMS({ ...config, region: "us-east-1" });
const { KeyMetadata } = await kms.createKey({ Description: "encryption sdk for javascript" });
// The keyring asks its supplier for a client (the SDK's aggregated `KMS`)
// in the key ARN's region.
const clientProvider = getClient(KMS, config);
const keyring = new KmsKeyringNode({ generatorKeyId: KeyMetadata.Arn, clientProvider });
const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

const message = randomBytes(100_000);
const { result } = await encrypt(keyring, message, { encryptionContext: { purpose: "esdk-js-test" } });
if (Buffer.from(result).includes(message.subarray(0, 64))) fail("the message is in the ciphertext");
const opened = await decrypt(keyring, result);
if (!opened.plaintext.equals(message)) fail("the round trip changed the message");
if (opened.messageHeader.encryptionContext.purpose !== "esdk-js-test") fail("the encryption context was lost");
// A discovery keyring names no key: it asks KMS to decrypt with the key
// ARN the message records.
const discovery = new KmsKeyringNode({ discovery: true, clientProvider });
const discovered = await decrypt(discovery, result);
if (!discovered.plaintext.equals(message)) fail("a discovery keyring decrypted something else");
const tampered = Buffer.from(result);
tampered[tampered.length >> 1] ^= 1;
let tamperedOpened = true;
try {
  await decrypt(keyring, tampered);
} catch {
  tamperedOpened = false;
}
if (tamperedOpened) fail("a tampered message decrypted");

const dir = process.argv[2];
if (dir) {
  const fromPython = join(dir, "py.msg");
  if (existsSync(fromPython)) {
    // Python's keyring named its own key: a discovery-free keyring for
    // that key opens it here.
    const pythonKey = readFileSync(join(dir, "py.key"), "utf8").trim();
    const pythonKeyring = new KmsKeyringNode({ keyIds: [pythonKey], clientProvider });
    const { plaintext } = await decrypt(pythonKeyring, readFileSync(fromPython));
    if (!plaintext.equals(readFileSync(join(dir, "py.plain")))) fail("Python's message decrypted to something else");
    console.log("decrypted the Python SDK's message");
  }
  writeFileSync(join(dir, "js.msg"), result);
  writeFileSync(join(dir, "js.plain"), message);
  writeFileSync(join(dir, "js.key"), KeyMetadata.Arn);
}
console.log("round trip ok");
