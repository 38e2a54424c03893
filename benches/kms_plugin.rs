//! KMS v2 plugin benchmark: Encrypt and Decrypt of a 32-byte seed over the
//! unix socket against `kube-kms plugin` (a separate process, as
//! kube-apiserver sees it), at several concurrencies, printing ops/s and
//! p50/p99 latency per cell. In the same run, the same calls against a
//! floor: the same gRPC service answering with fixed replies (no key, no
//! crypto, no metrics) on its own thread, so the figures can be read as a
//! share of what the transport allows on this machine.
//!
//! The load generator runs on one thread, leaving the other core(s) to
//! the server, as kube-apiserver and the plugin would share a node.
//!
//! Run: `cargo bench --bench kms_plugin`. Knobs: KUBE_KMS_BENCH_SECONDS
//! per cell (default 3), KUBE_KMS_BENCH_CONCURRENCY (comma list, default
//! 1,4,16,64). Targets (issue #5): p99 ≤ 300 µs and ≥ 20,000 ops/s.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube_kms::key::{MaterialVersion, RotationType};
use kube_kms::key_id::KeyId;
use kube_kms::material::KeyMaterial;
use kube_kms::plugin::key_file::{self, FORMAT, KIND, KeyFile};
use kube_kms::plugin::pb;
use kube_kms::plugin::pb::key_management_service_client::KeyManagementServiceClient;
use kube_kms::root::FileRootKey;
use kube_kms::seal::{self, MaterialId};
use kube_kms::spec::{KeySpec, KeyUsage};
use tonic::transport::Channel;

struct Plugin(Child);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn key_file(dir: &Path) -> (PathBuf, PathBuf) {
    let root_path = dir.join("root.key");
    let root = FileRootKey::create(&root_path).expect("root key");
    let key_id = KeyId::random();
    let versions = (1..=3)
        .map(|version| {
            let id = MaterialId {
                key_id,
                version,
                spec: KeySpec::SymmetricDefault,
                usage: KeyUsage::EncryptDecrypt,
            };
            let material = KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
            MaterialVersion {
                version,
                created: 0,
                rotation_type: RotationType::Initial,
                sealed: seal::seal(&root, id, &material).unwrap(),
            }
        })
        .collect();
    let file = KeyFile {
        kind: KIND.into(),
        format: FORMAT,
        key_id,
        exported: 0,
        source: None,
        versions,
        write_version: None,
    };
    let path = dir.join("kek.json");
    key_file::write_atomic(&path, &file.to_json()).unwrap();
    (root_path, path)
}

fn start(dir: &Path) -> (Plugin, PathBuf) {
    let (root, kek) = key_file(dir);
    let socket = dir.join("kms.sock");
    let child = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["--log", "warn", "plugin", "--socket"])
        .arg(&socket)
        .arg("--key-file")
        .arg(&kek)
        .arg("--root-key")
        .arg(&root)
        // Port 0: the bench never reads it, and no fixed port can collide.
        .args(["--health-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kube-kms plugin");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "plugin socket never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Plugin(child), socket)
}

async fn connect(socket: &Path) -> KeyManagementServiceClient<Channel> {
    let mut client = KeyManagementServiceClient::new(kube_kms::crypto::grpc::unix_channel(
        socket,
        Duration::from_secs(10),
    ));
    // Dial now, not inside the first measured call.
    client.status(pb::StatusRequest {}).await.expect("connect");
    client
}

/// The floor: the generated service with fixed replies.
struct Floor;

#[tonic::async_trait]
impl pb::key_management_service_server::KeyManagementService for Floor {
    async fn status(
        &self,
        _: tonic::Request<pb::StatusRequest>,
    ) -> Result<tonic::Response<pb::StatusResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::StatusResponse {
            version: "v2".into(),
            healthz: "ok".into(),
            key_id: "floor".into(),
        }))
    }

    async fn encrypt(
        &self,
        _: tonic::Request<pb::EncryptRequest>,
    ) -> Result<tonic::Response<pb::EncryptResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::EncryptResponse {
            ciphertext: vec![1; 81],
            key_id:
                "kube-kms:00000000-0000-0000-0000-000000000000:v1:00000000000000000000000000000000"
                    .into(),
            annotations: Default::default(),
        }))
    }

    async fn decrypt(
        &self,
        _: tonic::Request<pb::DecryptRequest>,
    ) -> Result<tonic::Response<pb::DecryptResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::DecryptResponse {
            plaintext: vec![7; 32],
        }))
    }
}

/// Serves [`Floor`] on `socket` from its own thread and single-threaded
/// runtime, as the plugin runs by default.
fn start_floor(socket: &Path) {
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::UnixListener::from_std(listener).unwrap();
            tonic::transport::Server::builder()
                .add_service(
                    pb::key_management_service_server::KeyManagementServiceServer::new(Floor),
                )
                .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener))
                .await
                .unwrap();
        });
    });
}

/// The machine's floor for any round trip: 32 bytes there and back over
/// a unix socket pair to an echoing thread, one at a time.
fn socket_round_trips(n: usize) -> (Duration, Duration) {
    use std::io::{Read, Write};
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 32];
        while b.read_exact(&mut buf).is_ok() {
            if b.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut buf = [7u8; 32];
    let mut latencies: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            a.write_all(&buf).unwrap();
            a.read_exact(&mut buf).unwrap();
            started.elapsed()
        })
        .collect();
    drop(a);
    echo.join().unwrap();
    latencies.sort_unstable();
    (latencies[n / 2], latencies[n * 99 / 100])
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Encrypt,
    Decrypt,
}

struct Cell {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn one_call(
    client: &mut KeyManagementServiceClient<Channel>,
    op: Op,
    wrapped: &pb::EncryptResponse,
) {
    match op {
        Op::Encrypt => {
            client
                .encrypt(pb::EncryptRequest {
                    plaintext: vec![7; 32],
                    uid: "bench".into(),
                })
                .await
                .expect("Encrypt");
        }
        Op::Decrypt => {
            client
                .decrypt(pb::DecryptRequest {
                    ciphertext: wrapped.ciphertext.clone(),
                    uid: "bench".into(),
                    key_id: wrapped.key_id.clone(),
                    annotations: Default::default(),
                })
                .await
                .expect("Decrypt");
        }
    }
}

async fn measure(
    clients: &[KeyManagementServiceClient<Channel>],
    op: Op,
    concurrency: usize,
    seconds: f64,
    wrapped: &pb::EncryptResponse,
) -> Cell {
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut client = clients[i % clients.len()].clone();
        let (stop, measuring, wrapped) = (stop.clone(), measuring.clone(), wrapped.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                one_call(&mut client, op, &wrapped).await;
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed());
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // warm-up
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Cell {
        ops_per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn main() {
    let seconds: f64 = std::env::var("KUBE_KMS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let levels: Vec<usize> = std::env::var("KUBE_KMS_BENCH_CONCURRENCY")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 4, 16, 64]);
    let dir = tempfile::tempdir().unwrap();
    let (_plugin, socket) = start(dir.path());
    let floor_socket = dir.path().join("floor.sock");
    start_floor(&floor_socket);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // kube-apiserver holds one connection per plugin; the load shares
        // a few here, as several apiservers would.
        let mut plugin = Vec::new();
        let mut floor = Vec::new();
        for _ in 0..4 {
            plugin.push(connect(&socket).await);
            floor.push(connect(&floor_socket).await);
        }
        let wrapped = plugin[0]
            .encrypt(pb::EncryptRequest {
                plaintext: vec![7; 32],
                uid: "bench".into(),
            })
            .await
            .unwrap()
            .into_inner();
        println!(
            "kube-kms plugin, 32-byte seed over a unix socket, {seconds} s per cell, {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "{:<8} {:>4} {:>10} {:>8} {:>8} | {:>10} {:>8} {:>8} | {:>6}",
            "op", "conc", "ops/s", "p50 µs", "p99 µs", "floor/s", "p50 µs", "p99 µs", "share"
        );
        for op in [Op::Encrypt, Op::Decrypt] {
            for &concurrency in &levels {
                let n = concurrency.clamp(1, plugin.len());
                let ours = measure(&plugin[..n], op, concurrency, seconds, &wrapped).await;
                let bare = measure(&floor[..n], op, concurrency, seconds, &wrapped).await;
                let us = |d: Duration| d.as_secs_f64() * 1e6;
                println!(
                    "{:<8} {:>4} {:>10.0} {:>8.0} {:>8.0} | {:>10.0} {:>8.0} {:>8.0} | {:>5.0}%",
                    if op == Op::Encrypt {
                        "Encrypt"
                    } else {
                        "Decrypt"
                    },
                    concurrency,
                    ours.ops_per_sec,
                    us(ours.p50),
                    us(ours.p99),
                    bare.ops_per_sec,
                    us(bare.p50),
                    us(bare.p99),
                    100.0 * ours.ops_per_sec / bare.ops_per_sec
                );
            }
        }
        let (p50, p99) = socket_round_trips(20_000);
        println!(
            "bare unix-socket round trip between two threads (no gRPC): p50 {:.0} µs, p99 {:.0} µs",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
        println!("targets: p99 <= 300 µs and >= 20,000 ops/s");
    });
}
