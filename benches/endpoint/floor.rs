//! The floor the endpoint bench measures against: a bare HTTP server, and
//! the same server doing the work no Encrypt endpoint can skip.

use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The floor: warp answering every POST with a fixed Encrypt-sized reply.
/// With `work`, the same server also does what no implementation of this
/// request can skip: SHA-256 of the body (SigV4), base64-decode the
/// plaintext, derive the message's key (one HMAC-SHA256 and an AES key
/// schedule: random nonces under one key are good for 2³² messages, see
/// docs/formats.md), AES-256-GCM, base64-encode the reply. It does that work as
/// cheaply as it can be done (no JSON parser, no copy it can avoid, buffers
/// sized once), so what it reaches bounds the share of the floor any
/// endpoint can reach on this machine.
pub fn run_bare_server(work: bool) {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use aws_lc_rs::hmac;
    use sha2::Digest;
    const PREFIX: &str = "{\"CiphertextBlob\":\"";
    const SUFFIX: &str = "\",\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000\",\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let fixed = [
            PREFIX,
            &kube_kms::b64::encode(&[0u8; 4096 + kube_kms::ciphertext::OVERHEAD]),
            SUFFIX,
        ]
        .concat();
        let key = Arc::new(hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]));
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        use warp::Filter;
        let route = warp::post()
            .and(warp::body::bytes())
            .map(move |body: bytes::Bytes| {
                let reply = if work {
                    std::hint::black_box(sha2::Sha256::digest(&body));
                    // The plaintext is the body's last member, so its end is
                    // known without scanning for the closing quote.
                    let start = body
                        .windows(13)
                        .position(|w| w == b"\"Plaintext\":\"")
                        .unwrap()
                        + 13;
                    let text = &body[start..body.len() - 2];
                    let mut data = Vec::with_capacity(text.len() / 4 * 3 + 16);
                    base64_simd::STANDARD
                        .decode_append(text, &mut data)
                        .unwrap();
                    let mut salt = [0u8; 32];
                    salt[..8]
                        .copy_from_slice(&counter.fetch_add(1, Ordering::Relaxed).to_le_bytes());
                    let message_key = hmac::sign(&key, &salt);
                    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, message_key.as_ref()).unwrap())
                        .seal_in_place_append_tag(
                            Nonce::assume_unique_for_key([0; 12]),
                            Aad::empty(),
                            &mut data,
                        )
                        .unwrap();
                    let mut reply = String::with_capacity(
                        PREFIX.len() + data.len().div_ceil(3) * 4 + SUFFIX.len(),
                    );
                    reply.push_str(PREFIX);
                    base64_simd::STANDARD.encode_append(&data, &mut reply);
                    reply.push_str(SUFFIX);
                    reply
                } else {
                    fixed.clone()
                };
                warp::reply::with_header(reply, "content-type", "application/x-amz-json-1.1")
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        warp::serve(route).incoming(listener).run().await;
    });
}
