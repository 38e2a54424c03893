//! Crypto service benchmark: each operation in-process and over the unix
//! socket, in one run, with the socket hop's overhead.
//!
//! Run: `cargo bench --bench crypto` (set `KUBE_KMS_BENCH_SCALE=0.1` for a
//! quick pass). Targets (issue #2): in-process 4 KiB encrypt well under
//! 10 µs; the socket hop under 100 µs at p99.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_kms::ciphertext::EncryptionContext;
use kube_kms::crypto::grpc::GrpcCryptoClient;
use kube_kms::crypto::*;
use kube_kms::key_id::KeyId;
use kube_kms::root::FileRootKey;
use kube_kms::seal::{MaterialId, SealedMaterial};
use kube_kms::secret::SecretBytes;
use kube_kms::spec::*;

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

async fn measure<F, Fut>(iterations: usize, mut op: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iterations / 10 + 1 {
        op().await;
    }
    let mut samples = Vec::with_capacity(iterations);
    let start = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        op().await;
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    samples.sort();
    Stats {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
        mean: total / iterations as u32,
    }
}

/// The cheapest possible hop on this machine: one byte each way over a unix
/// socket pair with a blocking echo thread. No RPC can beat it.
fn raw_socket_round_trip(iterations: usize) -> Stats {
    use std::io::{Read, Write};
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let echo = std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        while b.read_exact(&mut byte).is_ok() {
            if b.write_all(&byte).is_err() {
                break;
            }
        }
    });
    let mut samples = Vec::with_capacity(iterations.max(1));
    let mut byte = [0u8; 1];
    let start = Instant::now();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        a.write_all(&byte).unwrap();
        a.read_exact(&mut byte).unwrap();
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    drop(a);
    let _ = echo.join();
    samples.sort();
    Stats {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
        mean: total / samples.len() as u32,
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn id(spec: KeySpec, usage: KeyUsage) -> MaterialId {
    MaterialId {
        key_id: KeyId::random(),
        version: 1,
        spec,
        usage,
    }
}

#[derive(Clone)]
struct Keys {
    aes: SealedMaterial,
    rsa: SealedMaterial,
    ecc: SealedMaterial,
    secp256k1: SealedMaterial,
    ed25519: SealedMaterial,
    mldsa: SealedMaterial,
    hmac: SealedMaterial,
    blob_4k: Vec<u8>,
    rsa_blob: Vec<u8>,
}

async fn run_op(service: &dyn CryptoService, keys: &Keys, op: &str) {
    let none = EncryptionContext::default;
    let result = match op {
        "encrypt 4 KiB" => service
            .encrypt(EncryptRequest {
                material: keys.aes.clone(),
                plaintext: SecretBytes::new(vec![0x42; 4096]),
                context: none(),
                algorithm: EncryptionAlgorithm::SymmetricDefault,
            })
            .await
            .map(drop),
        "decrypt 4 KiB" => service
            .decrypt(DecryptRequest {
                material: keys.aes.clone(),
                ciphertext: keys.blob_4k.clone(),
                context: none(),
                algorithm: EncryptionAlgorithm::SymmetricDefault,
            })
            .await
            .map(drop),
        "data key AES_256" => service
            .generate_data_key(DataKeyRequest {
                material: keys.aes.clone(),
                size: DataKeySize::Spec(DataKeySpec::Aes256),
                context: none(),
                include_plaintext: true,
            })
            .await
            .map(drop),
        "RSA-2048 OAEP decrypt" => service
            .decrypt(DecryptRequest {
                material: keys.rsa.clone(),
                ciphertext: keys.rsa_blob.clone(),
                context: none(),
                algorithm: EncryptionAlgorithm::RsaesOaepSha256,
            })
            .await
            .map(drop),
        "ECDSA P-256 sign" => service
            .sign(SignRequest {
                material: keys.ecc.clone(),
                message: b"benchmark message".to_vec(),
                message_type: MessageType::Raw,
                algorithm: SigningAlgorithm::EcdsaSha256,
            })
            .await
            .map(drop),
        // AWS-LC's secp256k1 is its generic curve code, several times
        // slower than its P-256.
        "ECDSA secp256k1 sign" => service
            .sign(SignRequest {
                material: keys.secp256k1.clone(),
                message: b"benchmark message".to_vec(),
                message_type: MessageType::Raw,
                algorithm: SigningAlgorithm::EcdsaSha256,
            })
            .await
            .map(drop),
        "Ed25519 sign" => service
            .sign(SignRequest {
                material: keys.ed25519.clone(),
                message: b"benchmark message".to_vec(),
                message_type: MessageType::Raw,
                algorithm: SigningAlgorithm::Ed25519Sha512,
            })
            .await
            .map(drop),
        "ML-DSA-65 sign" => service
            .sign(SignRequest {
                material: keys.mldsa.clone(),
                message: b"benchmark message".to_vec(),
                message_type: MessageType::Raw,
                algorithm: SigningAlgorithm::MlDsaShake256,
            })
            .await
            .map(drop),
        "HMAC-SHA-256" => service
            .generate_mac(MacRequest {
                material: keys.hmac.clone(),
                message: vec![7; 256],
                algorithm: MacAlgorithm::HmacSha256,
            })
            .await
            .map(drop),
        other => panic!("unknown op {other}"),
    };
    result.expect(op);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too. Either way: run.
    let scale: f64 = std::env::var("KUBE_KMS_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // The socket side is the real `kube-kms crypto` process, as deployed
        // (a sidecar); the in-process side uses the same root key file.
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("crypto.sock");
        let root_key = dir.path().join("root.key");
        FileRootKey::create(&root_key).unwrap();
        let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_kube-kms"))
            .args(["--log", "warn", "crypto", "--socket"])
            .arg(&socket)
            .arg("--root-key")
            .arg(&root_key)
            .spawn()
            .expect("start kube-kms crypto");
        let root = Arc::new(FileRootKey::load(&root_key).unwrap());
        let local = Arc::new(LocalCryptoService::new(root, CacheConfig::default()));
        let remote = GrpcCryptoClient::connect_lazy(&socket).unwrap();
        while remote.root_key_info().await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let aes = local.generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt)).await.unwrap();
        let rsa = local.generate_material(id(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt)).await.unwrap();
        let blob_4k = local
            .encrypt(EncryptRequest { material: aes.clone(), plaintext: SecretBytes::new(vec![1; 4096]), context: EncryptionContext::default(), algorithm: EncryptionAlgorithm::SymmetricDefault })
            .await
            .unwrap();
        let rsa_blob = local
            .encrypt(EncryptRequest { material: rsa.clone(), plaintext: SecretBytes::new(vec![1; 32]), context: EncryptionContext::default(), algorithm: EncryptionAlgorithm::RsaesOaepSha256 })
            .await
            .unwrap();
        let keys = Keys {
            aes,
            rsa,
            ecc: local.generate_material(id(KeySpec::EccNistP256, KeyUsage::SignVerify)).await.unwrap(),
            secp256k1: local.generate_material(id(KeySpec::EccSecgP256k1, KeyUsage::SignVerify)).await.unwrap(),
            ed25519: local.generate_material(id(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify)).await.unwrap(),
            mldsa: local.generate_material(id(KeySpec::MlDsa65, KeyUsage::SignVerify)).await.unwrap(),
            hmac: local.generate_material(id(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac)).await.unwrap(),
            blob_4k,
            rsa_blob,
        };

        let floor = raw_socket_round_trip((20_000.0 * scale) as usize);
        println!(
            "floor: raw unix-socket ping-pong between two threads, 1 byte: p50 {:.1} µs, p99 {:.1} µs",
            us(floor.p50),
            us(floor.p99)
        );
        println!("crypto service: in-process vs unix socket (gRPC to a `kube-kms crypto` process), sequential calls, µs");
        println!(
            "{:<24} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>10} {:>10}",
            "operation", "in p50", "in p99", "in mean", "sock p50", "sock p99", "sock mean", "hop p50", "hop p99"
        );
        for (op, iterations) in [
            ("encrypt 4 KiB", 20_000),
            ("decrypt 4 KiB", 20_000),
            ("data key AES_256", 20_000),
            ("RSA-2048 OAEP decrypt", 1_000),
            ("ECDSA P-256 sign", 5_000),
            ("ECDSA secp256k1 sign", 1_000),
            ("Ed25519 sign", 5_000),
            ("ML-DSA-65 sign", 2_000),
            ("HMAC-SHA-256", 20_000),
        ] {
            let n = ((iterations as f64 * scale) as usize).max(50);
            let inproc = measure(n, || run_op(local.as_ref(), &keys, op)).await;
            let sock = measure(n, || run_op(&remote, &keys, op)).await;
            println!(
                "{:<24} {:>9.1} {:>9.1} {:>9.1} | {:>9.1} {:>9.1} {:>9.1} | {:>10.1} {:>10.1}",
                op,
                us(inproc.p50),
                us(inproc.p99),
                us(inproc.mean),
                us(sock.p50),
                us(sock.p99),
                us(sock.mean),
                us(sock.p50.saturating_sub(inproc.p50)),
                us(sock.p99.saturating_sub(inproc.p99)),
            );
        }
        let _ = server.kill();
        let _ = server.wait();
    });
}
