// A KMS client for the endpoint under test: the address and credentials
// tests/support passes in the environment, one attempt (a retried call
// would hide an error a test means to see). `options` override any of it;
// `secretAccessKey` replaces the secret alone.
import { KMSClient } from "@aws-sdk/client-kms";

export function endpointClient({ secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY, ...options } = {}) {
  return new KMSClient({
    endpoint: process.env.KUBE_KMS_ENDPOINT,
    region: "us-east-1",
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey },
    maxAttempts: 1,
    ...options,
  });
}
