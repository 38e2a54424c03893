// Every operation of the endpoint through the AWS SDK for JavaScript v3
// (@aws-sdk/client-kms), errors included, as a Node.js service would call
// it: a KMSClient whose endpoint is the server on loopback.
//
// Run by tests/clients.rs; reads the endpoint from KUBE_KMS_ENDPOINT and
// credentials from the usual AWS_* variables. Exits non-zero on the first
// failed expectation.
import { createHash } from "node:crypto";
import * as kms from "@aws-sdk/client-kms";
import { NodeHttp2Handler } from "@smithy/node-http-handler";
import { endpointClient } from "./endpoint.mjs";

const client = endpointClient();

let passed = 0;
function check(condition, what) {
  if (!condition) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  passed += 1;
}

const send = (Command, input) => client.send(new Command(input));

// The error a call fails with: the SDK's modelled exception class, its
// status and message. A call that succeeds fails the suite.
async function errorOf(Command, input) {
  try {
    await send(Command, input);
  } catch (e) {
    return { error: e, name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  check(false, `${Command.name} should have failed`);
}

// Checks that `Command` fails with the modelled exception `Expected` (an
// instance of its class, as `catch (e) { if (e instanceof …) }` in
// services tests it) and the HTTP status AWS sends.
async function expectError(Command, input, Expected, what, status = 400) {
  const got = await errorOf(Command, input);
  check(
    got.error instanceof Expected && got.name === Expected.name && got.status === status,
    `${what}: expected ${Expected.name} (${status}), got ${got.name} (${got.status}): ${got.message}`,
  );
  return got;
}

const bytes = (text) => new TextEncoder().encode(text);
const text = (data) => new TextDecoder().decode(data);
const same = (a, b) => Buffer.from(a).equals(Buffer.from(b));

// Keys
const started = Date.now();
const created = await send(kms.CreateKeyCommand, {
  Description: "javascript suite",
  Tags: [{ TagKey: "suite", TagValue: "javascript" }],
});
const meta = created.KeyMetadata;
const key = meta.KeyId;
const arn = meta.Arn;
check(meta.KeyState === "Enabled" && meta.KeySpec === "SYMMETRIC_DEFAULT" && meta.Enabled === true, "CreateKey metadata");
check(arn === `arn:aws:kms:us-east-1:111122223333:key/${key}`, "ARN shape");
// Timestamps are epoch seconds on the wire; the SDK makes them Dates.
check(meta.CreationDate instanceof Date && Math.abs(meta.CreationDate.getTime() - started) < 60_000, "CreationDate is a Date near now");
check(created.$metadata.httpStatusCode === 200 && /^[0-9a-f-]{36}$/.test(created.$metadata.requestId), "request id reaches the SDK");
const described = await send(kms.DescribeKeyCommand, { KeyId: arn });
check(described.KeyMetadata.Description === "javascript suite" && described.KeyMetadata.KeyManager === "CUSTOMER", "DescribeKey by ARN");
await send(kms.UpdateKeyDescriptionCommand, { KeyId: key, Description: "renamed" });
check((await send(kms.DescribeKeyCommand, { KeyId: key })).KeyMetadata.Description === "renamed", "UpdateKeyDescription");
const listed = [];
for await (const page of kms.paginateListKeys({ client, pageSize: 1 }, {})) {
  check(page.Keys.length <= 1, "ListKeys honours Limit");
  listed.push(...page.Keys.map((k) => k.KeyId));
}
check(listed.includes(key) && new Set(listed).size === listed.length, "ListKeys paginated, each key once");
await expectError(kms.ListKeysCommand, { Marker: "made-up" }, kms.InvalidMarkerException, "a marker the server did not issue");
await expectError(kms.DescribeKeyCommand, { KeyId: "00000000-0000-4000-8000-000000000000" }, kms.NotFoundException, "unknown key");

// Key policies
const policy = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Sid: "Root", Effect: "Allow", Principal: { AWS: "arn:aws:iam::111122223333:root" }, Action: "kms:*", Resource: "*" }],
});
await send(kms.PutKeyPolicyCommand, { KeyId: key, PolicyName: "default", Policy: policy });
check((await send(kms.GetKeyPolicyCommand, { KeyId: key })).Policy === policy, "PutKeyPolicy, then GetKeyPolicy");
const policies = await send(kms.ListKeyPoliciesCommand, { KeyId: key });
check(policies.PolicyNames.length === 1 && policies.PolicyNames[0] === "default" && policies.Truncated === false, "ListKeyPolicies");
await expectError(kms.PutKeyPolicyCommand, { KeyId: key, Policy: "{}" }, kms.MalformedPolicyDocumentException, "a policy without statements");

// Aliases
await send(kms.CreateAliasCommand, { AliasName: "alias/javascript", TargetKeyId: key });
check((await send(kms.DescribeKeyCommand, { KeyId: "alias/javascript" })).KeyMetadata.KeyId === key, "alias resolves");
const aliases = await send(kms.ListAliasesCommand, { KeyId: key });
check(aliases.Aliases.some((a) => a.AliasName === "alias/javascript" && a.TargetKeyId === key && a.CreationDate instanceof Date), "ListAliases");
const second = (await send(kms.CreateKeyCommand, {})).KeyMetadata;
await send(kms.UpdateAliasCommand, { AliasName: "alias/javascript", TargetKeyId: second.KeyId });
check((await send(kms.DescribeKeyCommand, { KeyId: "alias/javascript" })).KeyMetadata.KeyId === second.KeyId, "UpdateAlias");
await send(kms.UpdateAliasCommand, { AliasName: "alias/javascript", TargetKeyId: key });
await expectError(kms.CreateAliasCommand, { AliasName: "alias/javascript", TargetKeyId: key }, kms.AlreadyExistsException, "an alias twice");
await expectError(kms.CreateAliasCommand, { AliasName: "alias/aws/javascript", TargetKeyId: key }, kms.InvalidAliasNameException, "a reserved alias");
const aliasArn = `arn:aws:kms:us-east-1:111122223333:alias/javascript`;

// Symmetric encryption
const context = { purpose: "test", tenant: "a" };
const sealed = await send(kms.EncryptCommand, { KeyId: aliasArn, Plaintext: bytes("hello"), EncryptionContext: context });
check(sealed.KeyId === arn && sealed.EncryptionAlgorithm === "SYMMETRIC_DEFAULT" && sealed.CiphertextBlob instanceof Uint8Array, "Encrypt by alias ARN");
const opened = await send(kms.DecryptCommand, { CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: { tenant: "a", purpose: "test" } });
check(text(opened.Plaintext) === "hello" && opened.KeyId === arn, "Decrypt, context in another order");
await expectError(kms.DecryptCommand, { CiphertextBlob: sealed.CiphertextBlob }, kms.InvalidCiphertextException, "Decrypt without the context");
const tampered = Uint8Array.from(sealed.CiphertextBlob);
tampered[tampered.length - 1] ^= 1;
await expectError(kms.DecryptCommand, { CiphertextBlob: tampered, EncryptionContext: context }, kms.InvalidCiphertextException, "a tampered ciphertext");
await expectError(
  kms.DecryptCommand,
  { CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: context, KeyId: second.KeyId },
  kms.IncorrectKeyException,
  "Decrypt naming another key",
);
const moved = await send(kms.ReEncryptCommand, {
  CiphertextBlob: sealed.CiphertextBlob,
  SourceEncryptionContext: context,
  DestinationKeyId: second.Arn,
});
check(moved.SourceKeyId === arn && moved.KeyId === second.Arn, "ReEncrypt names both keys");
check(text((await send(kms.DecryptCommand, { CiphertextBlob: moved.CiphertextBlob })).Plaintext) === "hello", "ReEncrypt's ciphertext decrypts");
check((await errorOf(kms.EncryptCommand, { KeyId: key, Plaintext: new Uint8Array(4097) })).name === "ValidationException", "plaintext limit is a ValidationException");
await expectError(kms.EncryptCommand, { KeyId: key, Plaintext: bytes("x"), DryRun: true }, kms.DryRunOperationException, "Encrypt DryRun");

// Data keys
const dataKey = await send(kms.GenerateDataKeyCommand, { KeyId: key, KeySpec: "AES_256", EncryptionContext: context });
check(dataKey.Plaintext.length === 32, "GenerateDataKey AES_256");
const reopened = await send(kms.DecryptCommand, { CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: context });
check(same(reopened.Plaintext, dataKey.Plaintext), "the data key decrypts to itself");
const withoutPlaintext = await send(kms.GenerateDataKeyWithoutPlaintextCommand, { KeyId: key, NumberOfBytes: 24 });
check(withoutPlaintext.Plaintext === undefined, "GenerateDataKeyWithoutPlaintext has no plaintext");
check((await send(kms.DecryptCommand, { CiphertextBlob: withoutPlaintext.CiphertextBlob })).Plaintext.length === 24, "NumberOfBytes");
const pair = await send(kms.GenerateDataKeyPairCommand, { KeyId: key, KeyPairSpec: "ECC_NIST_P256" });
check(pair.PrivateKeyPlaintext[0] === 0x30 && pair.PublicKey[0] === 0x30 && pair.KeyPairSpec === "ECC_NIST_P256", "GenerateDataKeyPair DER");
const privateKey = await send(kms.DecryptCommand, { CiphertextBlob: pair.PrivateKeyCiphertextBlob });
check(same(privateKey.Plaintext, pair.PrivateKeyPlaintext), "the pair's private key decrypts");
const pairWithout = await send(kms.GenerateDataKeyPairWithoutPlaintextCommand, { KeyId: key, KeyPairSpec: "RSA_2048" });
check(pairWithout.PrivateKeyPlaintext === undefined && pairWithout.KeyPairSpec === "RSA_2048", "GenerateDataKeyPairWithoutPlaintext");
check((await send(kms.GenerateRandomCommand, { NumberOfBytes: 1024 })).Plaintext.length === 1024, "GenerateRandom");
check((await errorOf(kms.GenerateRandomCommand, { NumberOfBytes: 1025 })).name === "ValidationException", "GenerateRandom limit");

// Signing, with Node's own crypto (OpenSSL) checking what the endpoint signs
const signer = (await send(kms.CreateKeyCommand, { KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" })).KeyMetadata;
check(signer.SigningAlgorithms.length === 1 && signer.SigningAlgorithms[0] === "ECDSA_SHA_256", "signing key metadata");
const message = bytes("signed by kube-kms");
const { Signature } = await send(kms.SignCommand, { KeyId: signer.KeyId, Message: message, SigningAlgorithm: "ECDSA_SHA_256" });
const publicKey = await send(kms.GetPublicKeyCommand, { KeyId: signer.Arn });
check(publicKey.KeySpec === "ECC_NIST_P256" && publicKey.KeyUsage === "SIGN_VERIFY", "GetPublicKey");
const { createPublicKey, verify } = await import("node:crypto");
const spki = createPublicKey({ key: Buffer.from(publicKey.PublicKey), format: "der", type: "spki" });
check(verify("sha256", message, spki, Buffer.from(Signature)), "OpenSSL verifies the endpoint's ECDSA signature");
check((await send(kms.VerifyCommand, { KeyId: signer.KeyId, Message: message, Signature, SigningAlgorithm: "ECDSA_SHA_256" })).SignatureValid, "Verify");
const digest = createHash("sha256").update(message).digest();
check(
  (await send(kms.VerifyCommand, { KeyId: signer.KeyId, Message: digest, MessageType: "DIGEST", Signature, SigningAlgorithm: "ECDSA_SHA_256" })).SignatureValid,
  "Verify a DIGEST",
);
await expectError(
  kms.VerifyCommand,
  { KeyId: signer.KeyId, Message: bytes("another message"), Signature, SigningAlgorithm: "ECDSA_SHA_256" },
  kms.KMSInvalidSignatureException,
  "a signature over another message",
);
await expectError(kms.EncryptCommand, { KeyId: signer.KeyId, Plaintext: bytes("x") }, kms.InvalidKeyUsageException, "encrypting with a signing key");

// HMAC
const macKey = (await send(kms.CreateKeyCommand, { KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC" })).KeyMetadata;
const { Mac } = await send(kms.GenerateMacCommand, { KeyId: macKey.KeyId, Message: bytes("m"), MacAlgorithm: "HMAC_SHA_256" });
check((await send(kms.VerifyMacCommand, { KeyId: macKey.KeyId, Message: bytes("m"), Mac, MacAlgorithm: "HMAC_SHA_256" })).MacValid, "VerifyMac");
await expectError(kms.VerifyMacCommand, { KeyId: macKey.KeyId, Message: bytes("n"), Mac, MacAlgorithm: "HMAC_SHA_256" }, kms.KMSInvalidMacException, "a MAC over another message");
// The manifest's HMAC fixture has known material: Node computes the same MAC.
const fixtureMaterial = Buffer.from("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=", "base64");
const fixtureMac = await send(kms.GenerateMacCommand, { KeyId: "alias/mac-fixture", Message: bytes("m"), MacAlgorithm: "HMAC_SHA_256" });
const { createHmac } = await import("node:crypto");
check(same(fixtureMac.Mac, createHmac("sha256", fixtureMaterial).update("m").digest()), "the fixture key's MAC is HMAC-SHA-256 of its material");

// Key agreement
const alice = (await send(kms.CreateKeyCommand, { KeySpec: "ECC_NIST_P256", KeyUsage: "KEY_AGREEMENT" })).KeyMetadata;
const alicePublic = (await send(kms.GetPublicKeyCommand, { KeyId: alice.KeyId })).PublicKey;
const { generateKeyPairSync, diffieHellman } = await import("node:crypto");
const bob = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const shared = await send(kms.DeriveSharedSecretCommand, {
  KeyId: alice.KeyId,
  KeyAgreementAlgorithm: "ECDH",
  PublicKey: bob.publicKey.export({ format: "der", type: "spki" }),
});
const expected = diffieHellman({ privateKey: bob.privateKey, publicKey: createPublicKey({ key: Buffer.from(alicePublic), format: "der", type: "spki" }) });
check(same(shared.SharedSecret, expected), "DeriveSharedSecret agrees with Node's ECDH");

// Key encapsulation (ML-KEM)
const kem = (await send(kms.CreateKeyCommand, { KeySpec: "ML_KEM_1024", KeyUsage: "ENCAPSULATE_DECAPSULATE" })).KeyMetadata;
check(kem.EncapsulationAlgorithms?.[0] === "ML_KEM", "DescribeKey lists ML_KEM for an ML-KEM key");
const encapsulated = await send(kms.EncapsulateCommand, { KeyId: kem.KeyId, EncapsulationAlgorithm: "ML_KEM" });
check(encapsulated.SharedSecretCiphertextBlob.length === 1568 && encapsulated.SharedSecret.length === 32, "Encapsulate: an ML_KEM_1024 ciphertext and a 32-byte secret");
const decapsulated = await send(kms.DecapsulateCommand, {
  KeyId: kem.KeyId,
  EncapsulationAlgorithm: "ML_KEM",
  SharedSecretCiphertextBlob: encapsulated.SharedSecretCiphertextBlob,
});
check(same(decapsulated.SharedSecret, encapsulated.SharedSecret), "Decapsulate recovers Encapsulate's secret");
await expectError(
  kms.DecapsulateCommand,
  { KeyId: kem.KeyId, EncapsulationAlgorithm: "ML_KEM", SharedSecretCiphertextBlob: encapsulated.SharedSecretCiphertextBlob.subarray(1) },
  kms.InvalidCiphertextException,
  "a ciphertext of the wrong length",
);
await expectError(kms.EncapsulateCommand, { KeyId: alice.KeyId, EncapsulationAlgorithm: "ML_KEM" }, kms.InvalidKeyUsageException, "Encapsulate with a KEY_AGREEMENT key");

// Rotation
await send(kms.EnableKeyRotationCommand, { KeyId: key, RotationPeriodInDays: 90 });
const rotation = await send(kms.GetKeyRotationStatusCommand, { KeyId: key });
check(rotation.KeyRotationEnabled && rotation.RotationPeriodInDays === 90 && rotation.NextRotationDate instanceof Date, "GetKeyRotationStatus");
await send(kms.RotateKeyOnDemandCommand, { KeyId: key });
const rotations = [];
for await (const page of kms.paginateListKeyRotations({ client }, { KeyId: key })) rotations.push(...page.Rotations);
check(rotations.length === 1 && rotations[0].RotationType === "ON_DEMAND" && rotations[0].RotationDate instanceof Date, "ListKeyRotations");
check(text((await send(kms.DecryptCommand, { CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: context })).Plaintext) === "hello", "an old ciphertext after rotation");
await send(kms.DisableKeyRotationCommand, { KeyId: key });
check(!(await send(kms.GetKeyRotationStatusCommand, { KeyId: key })).KeyRotationEnabled, "DisableKeyRotation");
check((await errorOf(kms.EnableKeyRotationCommand, { KeyId: key, RotationPeriodInDays: 2561 })).name === "ValidationException", "rotation period range");

// Tags
await send(kms.TagResourceCommand, { KeyId: key, Tags: [{ TagKey: "env", TagValue: "test" }] });
await send(kms.UntagResourceCommand, { KeyId: key, TagKeys: ["suite"] });
const tags = (await send(kms.ListResourceTagsCommand, { KeyId: key })).Tags;
check(tags.length === 1 && tags[0].TagKey === "env" && tags[0].TagValue === "test", "TagResource, UntagResource, ListResourceTags");
await expectError(
  kms.TagResourceCommand,
  { KeyId: key, Tags: [{ TagKey: "team", TagValue: "a" }, { TagKey: "team", TagValue: "b" }] },
  kms.TagException,
  "a tag key twice",
);

// Key states
await send(kms.DisableKeyCommand, { KeyId: key });
const disabled = await expectError(kms.EncryptCommand, { KeyId: key, Plaintext: bytes("x") }, kms.DisabledException, "Encrypt with a disabled key");
check(disabled.message === `${arn} is disabled.`, `AWS's message for a disabled key, got ${disabled.message}`);
await send(kms.EnableKeyCommand, { KeyId: key });
const deletion = await send(kms.ScheduleKeyDeletionCommand, { KeyId: key, PendingWindowInDays: 7 });
check(deletion.KeyState === "PendingDeletion" && deletion.PendingWindowInDays === 7 && deletion.DeletionDate instanceof Date, "ScheduleKeyDeletion");
await expectError(kms.DecryptCommand, { CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: context }, kms.KMSInvalidStateException, "Decrypt with a key pending deletion");
check((await errorOf(kms.ScheduleKeyDeletionCommand, { KeyId: key, PendingWindowInDays: 31 })).name === "ValidationException", "deletion window range");
await send(kms.CancelKeyDeletionCommand, { KeyId: key });
check((await send(kms.DescribeKeyCommand, { KeyId: key })).KeyMetadata.KeyState === "Disabled", "CancelKeyDeletion leaves the key disabled");
await send(kms.DeleteAliasCommand, { AliasName: "alias/javascript" });
await expectError(kms.DescribeKeyCommand, { KeyId: "alias/javascript" }, kms.NotFoundException, "DeleteAlias");

// The manifest's pinned key
const fixture = await send(kms.EncryptCommand, { KeyId: "alias/fixture", Plaintext: bytes("fixed") });
check(fixture.KeyId.endsWith("/1234abcd-12ab-34cd-56ef-1234567890ab"), "the manifest pins the key id");

// Signing: a request signed with another secret is refused as AWS refuses it.
const impostor = endpointClient({ secretAccessKey: "not-the-secret" });
try {
  await impostor.send(new kms.ListKeysCommand({}));
  check(false, "a request signed with the wrong secret should have failed");
} catch (e) {
  check(e.name === "InvalidSignatureException" && e.$metadata.httpStatusCode === 400, `wrong secret: got ${e.name} (${e.$metadata?.httpStatusCode})`);
}

// A client whose clock is 20 minutes slow: the first call is refused as
// AWS refuses it, and the SDK corrects its clock from the reply and retries.
const slow = endpointClient({ systemClockOffset: -20 * 60 * 1000, maxAttempts: 2 });
const corrected = await slow.send(new kms.ListKeysCommand({ Limit: 1 }));
check(corrected.$metadata.attempts === 2, `a skewed clock is corrected on the second attempt: ${corrected.$metadata.attempts} attempts`);
check(Math.abs(slow.config.systemClockOffset) < 60 * 1000, `the SDK took the server's time: offset ${slow.config.systemClockOffset} ms`);

// HTTP/2: the SDK's HTTP/2 handler signs `:authority` where HTTP/1.1 signs
// `host`.
const overHttp2 = (secretAccessKey) => endpointClient({ secretAccessKey, requestHandler: new NodeHttp2Handler() });
const h2 = overHttp2();
const h2Key = (await h2.send(new kms.CreateKeyCommand({}))).KeyMetadata.KeyId;
const h2Sealed = await h2.send(new kms.EncryptCommand({ KeyId: h2Key, Plaintext: bytes("over h2") }));
const h2Opened = await h2.send(new kms.DecryptCommand({ CiphertextBlob: h2Sealed.CiphertextBlob }));
check(text(h2Opened.Plaintext) === "over h2", "Encrypt and Decrypt over HTTP/2");
const h2Impostor = overHttp2("not-the-secret");
try {
  await h2Impostor.send(new kms.ListKeysCommand({}));
  check(false, "a request over HTTP/2 signed with the wrong secret should have failed");
} catch (e) {
  check(e.name === "InvalidSignatureException", `wrong secret over HTTP/2: got ${e.name}`);
}
h2.destroy();
h2Impostor.destroy();

console.log(`javascript suite: ${passed} checks passed`);
