// The AWS SDK for JavaScript v3 over HTTPS, with each of its Node.js
// handlers: HTTP/1.1 and HTTP/2 (negotiated by ALPN). The test's CA comes
// from NODE_EXTRA_CA_CERTS; run by tests/tls.rs.
import * as kms from "@aws-sdk/client-kms";
import { NodeHttp2Handler, NodeHttpHandler } from "@smithy/node-http-handler";
import { endpointClient } from "./endpoint.mjs";

const handlers = [
  ["HTTP/1.1", new NodeHttpHandler()],
  ["HTTP/2", new NodeHttp2Handler()],
];
for (const [protocol, requestHandler] of handlers) {
  const client = endpointClient({ requestHandler });
  const key = (await client.send(new kms.CreateKeyCommand({}))).KeyMetadata.KeyId;
  const message = new TextEncoder().encode(`over ${protocol}`);
  const sealed = await client.send(new kms.EncryptCommand({ KeyId: key, Plaintext: message }));
  const opened = await client.send(new kms.DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }));
  if (!Buffer.from(opened.Plaintext).equals(Buffer.from(message))) {
    console.error(`FAILED: the round trip over ${protocol} changed the message`);
    process.exit(1);
  }
  client.destroy();
}
console.log(`tls ok: ${handlers.map(([protocol]) => protocol).join(", ")}`);
