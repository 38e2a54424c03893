//! Endpoint load benchmark: signed 4 KiB Encrypt requests over keep-alive
//! connections against `kube-kms serve`, and the same bytes against a bare
//! HTTP server (warp returning a fixed reply) in the same run, as the floor,
//! and that server doing only the work the request requires, as a ceiling;
//! and `kube-kms serve` once more without its audit trail, for the trail's
//! cost.
//!
//! Run: `cargo bench --bench endpoint`. Knobs: KUBE_KMS_BENCH_SECONDS
//! (default 10), KUBE_KMS_BENCH_CONNECTIONS (default 64),
//! KUBE_KMS_BENCH_CLIENT_THREADS (default: one per core), KUBE_KMS_BENCH_ROUNDS
//! (turns each server's time is split into, default 4), KUBE_KMS_BENCH_COMPARE
//! (another kube-kms binary to run beside this one, e.g. main's build),
//! KUBE_KMS_BENCH_PIN (servers on all cores but the last, the load
//! generator alone on that one: `pin`), KUBE_KMS_BENCH_PACED (the fixed
//! offered rates every server but the compared one is then run at, for
//! half KUBE_KMS_BENCH_SECONDS each, as fractions of serve's throughput;
//! default 0.25,0.5,0.75: `paced`).
//! With KUBE_KMS_BENCH_INSTRUCTIONS=N it instead counts instructions per
//! request under callgrind over N requests (`instructions`), keeping the
//! dumps in KUBE_KMS_BENCH_CALLGRIND_OUT if set.
//! Targets (issue #3): ≥ 75 % of the floor's throughput, p99 ≤ 2 ms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube_kms::auth::sigv4;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "endpoint/breakdown.rs"]
mod breakdown;
#[path = "endpoint/cpu.rs"]
mod cpu;
#[path = "endpoint/floor.rs"]
mod floor;
#[path = "endpoint/instructions.rs"]
mod instructions;
#[path = "endpoint/paced.rs"]
mod paced;
#[path = "endpoint/pin.rs"]
mod pin;
#[path = "endpoint/servers.rs"]
mod servers;

use servers::{create_key, spawn_server, start_serve};

const ACCESS_KEY: &str = "AKIDBENCH";
const SECRET_KEY: &str = "bench-secret";

/// A complete signed HTTP/1.1 request for `operation` with `body`.
fn signed_request(addr: SocketAddr, operation: &str, body: &str) -> Vec<u8> {
    let headers = sigv4::signed_kms_headers(
        operation,
        &addr.to_string(),
        body.as_bytes(),
        "us-east-1",
        ACCESS_KEY,
        SECRET_KEY,
    );
    let mut request = String::from("POST / HTTP/1.1\r\n");
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    request.into_bytes()
}

/// A signed Encrypt of `body` for one load: signed when the load starts,
/// since a long run outlasts SigV4's five minutes of clock skew.
fn signed(addr: SocketAddr, body: &str) -> Arc<Vec<u8>> {
    Arc::new(signed_request(addr, "Encrypt", body))
}

/// The body of an Encrypt of 4 KiB under `key_id`, as every server gets it.
fn encrypt_body(key_id: &str) -> String {
    let plaintext = kube_kms::b64::encode(&[0x42u8; 4096]);
    format!("{{\"KeyId\":\"{key_id}\",\"Plaintext\":\"{plaintext}\"}}")
}

/// Sends one request on `stream` and reads the whole response; returns the status.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<(u16, Vec<u8>)> {
    stream.write_all(request).await?;
    buffer.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Ok((status, buffer[end + 4..end + 4 + length].to_vec()));
        }
    }
}

/// One server's requests over one or more slices of load.
struct Result_ {
    requests: usize,
    errors: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    latencies: Vec<Duration>,
}

/// The `q` quantile of sorted `latencies` (zero if there are none).
fn percentile(latencies: &[Duration], q: f64) -> Duration {
    latencies
        .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

impl Result_ {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The `q` quantile of its latencies.
    fn percentile(&self, q: f64) -> Duration {
        percentile(&self.latencies, q)
    }

    fn from_latencies(mut latencies: Vec<Duration>, errors: usize, seconds: f64) -> Self {
        latencies.sort_unstable();
        let pick = |q: f64| percentile(&latencies, q);
        Result_ {
            requests: latencies.len(),
            errors,
            seconds,
            p50: pick(0.50),
            p99: pick(0.99),
            latencies,
        }
    }
}

/// A slice of load and the CPU time the server, its audit writer thread
/// (part of the server's) and the load generator spent on it.
struct Sample {
    result: Result_,
    cpu: f64,
    /// The kernel's part of `cpu`.
    kernel_cpu: f64,
    writer_cpu: f64,
    client_cpu: f64,
}

impl Sample {
    fn cpu_per_request(&self) -> f64 {
        self.cpu / self.result.requests.max(1) as f64
    }

    fn kernel_cpu_per_request(&self) -> f64 {
        self.kernel_cpu / self.result.requests.max(1) as f64
    }

    fn writer_cpu_per_request(&self) -> f64 {
        self.writer_cpu / self.result.requests.max(1) as f64
    }

    fn client_cpu_per_request(&self) -> f64 {
        self.client_cpu / self.result.requests.max(1) as f64
    }

    fn merge(samples: &[Sample]) -> Sample {
        let latencies = samples
            .iter()
            .flat_map(|s| s.result.latencies.iter().copied())
            .collect();
        let sum = |f: fn(&Sample) -> f64| samples.iter().map(f).sum::<f64>();
        Sample {
            result: Result_::from_latencies(
                latencies,
                samples.iter().map(|s| s.result.errors).sum(),
                sum(|s| s.result.seconds),
            ),
            cpu: sum(|s| s.cpu),
            kernel_cpu: sum(|s| s.kernel_cpu),
            writer_cpu: sum(|s| s.writer_cpu),
            client_cpu: sum(|s| s.client_cpu),
        }
    }
}

/// Per-turn percentages, lowest first.
fn spread(per_turn: impl Iterator<Item = f64>) -> String {
    let mut per_turn: Vec<f64> = per_turn.collect();
    per_turn.sort_by(f64::total_cmp);
    per_turn
        .iter()
        .map(|r| format!("{r:.1} %"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn load(
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    connections: usize,
    duration: Duration,
) -> Result_ {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (request, stop) = (request.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                let mut buffer = Vec::new();
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    return (latencies, 1);
                };
                let _ = stream.set_nodelay(true);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match exchange(&mut stream, &request, &mut buffer).await {
                        Ok((200, _)) => latencies.push(t.elapsed()),
                        Ok(_) => errors += 1,
                        Err(_) => return (latencies, errors + 1),
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    Result_::from_latencies(all, errors, started.elapsed().as_secs_f64())
}

/// The floor, the required work and serve (with and without its trail) at
/// fixed offered rates (fractions of serve's closed-loop `throughput`), one
/// after another at each rate.
async fn paced_report(
    servers: &[&(&str, SocketAddr, String, u32)],
    serve: SocketAddr,
    connections: usize,
    throughput: f64,
    floor: f64,
    duration: Duration,
) {
    println!(
        "at fixed offered rates (open loop: each connection sends on its schedule; a request its connection was late for is timed from when it was due):"
    );
    let mut serve_p99 = Vec::new();
    for fraction in paced::fractions() {
        let offered = throughput * fraction;
        if offered < 1.0 {
            continue;
        }
        println!(
            "  {offered:.0} req/s offered ({:.0} % of serve's closed-loop throughput, {:.1} % of the floor's):",
            fraction * 100.0,
            offered / floor * 100.0
        );
        for (name, addr, body, _) in servers {
            let paced =
                paced::load(*addr, signed(*addr, body), connections, offered, duration).await;
            println!(
                "    {:<24} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   p99.9 {:>7.2} ms   late {:>6}   errors {}",
                name.trim(),
                paced.result.rate(),
                paced.result.p50.as_secs_f64() * 1e3,
                paced.result.p99.as_secs_f64() * 1e3,
                paced.result.percentile(0.999).as_secs_f64() * 1e3,
                paced.late,
                paced.result.errors,
            );
            if *addr == serve {
                assert_eq!(paced.result.errors, 0, "kube-kms answered with errors");
                serve_p99.push((offered, paced.result.p99));
            }
        }
    }
    let within = |ok: bool| {
        serve_p99
            .iter()
            .filter(|(_, p99)| (*p99 <= Duration::from_millis(2)) == ok)
            .map(|(offered, _)| format!("{:.1} %", offered / floor * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  kube-kms serve's p99 ≤ 2 ms at offered rates of [{}] of the floor's closed-loop throughput, above it at [{}]",
        within(true),
        within(false)
    );
}

fn main() {
    match std::env::var("KUBE_KMS_BENCH_ROLE").as_deref() {
        Ok("bare") => return floor::run_bare_server(false),
        Ok("work") => return floor::run_bare_server(true),
        _ => {}
    }
    let seconds: f64 = std::env::var("KUBE_KMS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let connections: usize = std::env::var("KUBE_KMS_BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let rounds: usize = std::env::var("KUBE_KMS_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
        .max(1);
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.yaml");
    std::fs::write(&credentials, format!("credentials:\n  - accessKeyId: {ACCESS_KEY}\n    secretAccessKey: {SECRET_KEY}\n    principal: bench\n")).unwrap();

    if let Ok(requests) = std::env::var("KUBE_KMS_BENCH_INSTRUCTIONS") {
        let requests = requests
            .parse()
            .expect("KUBE_KMS_BENCH_INSTRUCTIONS is a count");
        return instructions::run(requests, dir.path(), &credentials);
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pinning = pin::Pinning::from_env(cores);
    let runner = pinning
        .as_ref()
        .map(pin::Pinning::server_prefix)
        .unwrap_or_default();
    let mut kms = start_serve(
        &runner,
        env!("CARGO_BIN_EXE_kube-kms").as_ref(),
        dir.path(),
        "data",
        &credentials,
        &[],
    );
    // The same build without its audit trail: what the trail costs.
    let mut untrailed = start_serve(
        &runner,
        env!("CARGO_BIN_EXE_kube-kms").as_ref(),
        dir.path(),
        "untrailed",
        &credentials,
        &["--audit-log", "off"],
    );
    // Another build of kube-kms (say, main's) to compare against in the same run.
    let mut other = std::env::var_os("KUBE_KMS_BENCH_COMPARE").map(|bin| {
        start_serve(
            &runner,
            bin.as_ref(),
            dir.path(),
            "other",
            &credentials,
            &[],
        )
    });
    let self_exe = std::env::current_exe().unwrap();
    let mut bare_command: Vec<&str> = runner.iter().map(String::as_str).collect();
    bare_command.push(self_exe.to_str().unwrap());
    let (mut bare, bare_addr) = spawn_server(&bare_command, &[("KUBE_KMS_BENCH_ROLE", "bare")]);
    let (mut work, work_addr) = spawn_server(&bare_command, &[("KUBE_KMS_BENCH_ROLE", "work")]);
    if let Some(pinning) = &pinning {
        pinning.pin_load_generator();
    }

    // The load generator's threads (default: one per core it may use).
    // Fewer leave the servers more of the machine; every server in a run
    // gets the same.
    let client_threads: usize = std::env::var("KUBE_KMS_BENCH_CLIENT_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()
        .unwrap();
    let (kms_addr, kms_pid) = (kms.1, kms.0.id());
    let (untrailed_addr, untrailed_pid) = (untrailed.1, untrailed.0.id());
    let other_server = other.as_ref().map(|(child, addr)| (*addr, child.id()));
    let (bare_pid, work_pid) = (bare.id(), work.id());
    runtime.block_on(async move {
        let key_id = create_key(kms_addr).await;
        let body = encrypt_body(&key_id);
        // (name, address, Encrypt body, pid): the servers in the order they
        // take turns, each at its index below; each load is `signed` afresh.
        const FLOOR: usize = 0;
        const WORK: usize = 1;
        const SERVE: usize = 2;
        const UNTRAILED: usize = 3;
        const OTHER: usize = 4;
        let mut servers = vec![
            ("bare HTTP server (floor)", bare_addr, body.clone(), bare_pid),
            ("floor + required work", work_addr, body.clone(), work_pid),
            ("kube-kms serve", kms_addr, body.clone(), kms_pid),
        ];
        let body_untrailed = encrypt_body(&create_key(untrailed_addr).await);
        servers.push(("  without its audit trail", untrailed_addr, body_untrailed, untrailed_pid));
        if let Some((addr, pid)) = other_server {
            let body = encrypt_body(&create_key(addr).await);
            servers.push(("KUBE_KMS_BENCH_COMPARE", addr, body, pid));
        }

        for (_, addr, body, _) in &servers {
            load(*addr, signed(*addr, body), connections, Duration::from_secs(1)).await;
        }
        // The servers take turns in short slices, so a noisy neighbour on
        // this shared machine weighs on all of them alike.
        let slice = Duration::from_secs_f64(seconds / rounds as f64);
        let mut totals: Vec<Vec<Sample>> = servers.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for ((_, addr, body, pid), samples) in servers.iter().zip(&mut totals) {
                let client = std::process::id();
                let writer = || cpu::thread_seconds(*pid, "audit-writer");
                let server = || cpu::process_and_kernel_seconds(*pid);
                let before = (server(), writer(), cpu::process_seconds(client));
                let result = load(*addr, signed(*addr, body), connections, slice).await;
                let after = server();
                samples.push(Sample {
                    result,
                    cpu: after.0 - before.0.0,
                    kernel_cpu: after.1 - before.0.1,
                    writer_cpu: writer() - before.1,
                    client_cpu: cpu::process_seconds(client) - before.2,
                });
            }
        }
        let merged: Vec<Sample> = totals.iter().map(|samples| Sample::merge(samples)).collect();
        let placement = pinning.as_ref().map_or("sharing every core".to_owned(), pin::Pinning::describe);
        println!("signed 4 KiB Encrypt, {connections} keep-alive connections, {seconds} s each in {rounds} turns, load generator ({client_threads} threads) on the same machine, {placement}");
        let rate = Result_::rate;
        for ((name, ..), r) in servers.iter().zip(&merged) {
            println!(
                "{name:<26} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   server CPU {:>5.1} µs/req (kernel {:>4.1})   load generator {:>5.1} µs/req   errors {}",
                rate(&r.result),
                r.result.p50.as_secs_f64() * 1e3,
                r.result.p99.as_secs_f64() * 1e3,
                r.cpu_per_request() * 1e6,
                r.kernel_cpu_per_request() * 1e6,
                r.client_cpu_per_request() * 1e6,
                r.result.errors
            );
        }
        if let Some(other) = merged.get(OTHER) {
            println!(
                "kube-kms serve = {:.1} % of KUBE_KMS_BENCH_COMPARE's throughput, {:.1} % of its CPU per request; audit writer thread {:.1} µs per request against its {:.1}",
                rate(&merged[SERVE].result) / rate(&other.result) * 100.0,
                merged[SERVE].cpu_per_request() / other.cpu_per_request() * 100.0,
                merged[SERVE].writer_cpu_per_request() * 1e6,
                other.writer_cpu_per_request() * 1e6,
            );
            // Its spread says how far a difference of a few per cent can
            // be trusted on this host.
            println!(
                "  turn by turn: {}",
                spread(totals[SERVE].iter().zip(&totals[OTHER]).map(|(ours, other)| {
                    rate(&ours.result) / rate(&other.result) * 100.0
                }))
            );
        }
        let (floor, ceiling, ours) = (&merged[FLOOR].result, &merged[WORK].result, &merged[SERVE].result);
        let ratio = rate(ours) / rate(floor) * 100.0;
        println!(
            "required work alone (SHA-256 of the body, base64 both ways, a message key, AES-GCM) reaches {:.1} % of the floor; kube-kms serve reaches {:.1} % of it ({:.2}x its CPU per request)",
            rate(ceiling) / rate(floor) * 100.0,
            rate(ours) / rate(ceiling) * 100.0,
            merged[SERVE].cpu_per_request() / merged[WORK].cpu_per_request(),
        );
        println!("kube-kms throughput = {ratio:.1} % of the floor (target ≥ 75 %); p99 {:.2} ms (target ≤ 2 ms)", ours.p99.as_secs_f64() * 1e3);
        // Each connection sends its next request once the last is answered
        // (a closed loop), so at saturation the mean latency is the
        // connections over the rate (Little's law) and the p99 follows the
        // throughput: the latency target is a throughput one in disguise.
        let mean = ours.latencies.iter().sum::<Duration>().as_secs_f64() / ours.requests.max(1) as f64;
        let tail = ours.p99.as_secs_f64() / mean;
        let needed = connections as f64 * tail / 0.002;
        println!(
            "  latency follows throughput: {connections} connections / {:.0} req/s = {:.2} ms, the measured mean {:.2} ms; at serve's p99 of {tail:.1}x its mean, p99 ≤ 2 ms needs ≥ {needed:.0} req/s ({:.1} % of the floor)",
            rate(ours),
            connections as f64 / rate(ours) * 1e3,
            mean * 1e3,
            needed / rate(floor) * 100.0,
        );
        // The same ratio turn by turn: a wide spread means the host moved
        // under the run, and the ratio above is not to be trusted.
        println!(
            "  turn by turn: {}",
            spread(totals[SERVE].iter().zip(&totals[FLOOR]).map(|(ours, floor)| {
                rate(&ours.result) / rate(&floor.result) * 100.0
            }))
        );
        let (cpu, client) = (merged[SERVE].cpu_per_request(), merged[SERVE].client_cpu_per_request());
        if let Some(pinning) = &pinning {
            // What the target means in CPU: the servers' cores, all theirs,
            // at 75 % of the floor's rate.
            let server_busy = |s: &Sample| rate(&s.result) * s.cpu_per_request();
            println!(
                "  servers' cores busy: floor {:.2}, kube-kms serve {:.2} of {}; 75 % of the floor leaves serve {:.1} µs of CPU per request (it used {:.1}; the required work {:.1})",
                server_busy(&merged[FLOOR]),
                server_busy(&merged[SERVE]),
                pinning.server_cores(),
                pinning.server_cores() as f64 / (0.75 * rate(floor)) * 1e6,
                cpu * 1e6,
                merged[WORK].cpu_per_request() * 1e6,
            );
        } else {
            // What the target means in CPU. The servers and the load
            // generator share the machine: at the cores serve's turn kept
            // busy, 75 % of the floor's rate leaves serve this much CPU per
            // request.
            let busy = |s: &Sample| rate(&s.result) * (s.cpu_per_request() + s.client_cpu_per_request());
            println!(
                "  cores busy (server + load generator): floor {:.2}, kube-kms serve {:.2} of {cores}; at serve's, 75 % of the floor leaves it {:.1} µs of CPU per request (it used {:.1})",
                busy(&merged[FLOOR]),
                busy(&merged[SERVE]),
                (ratio / 75.0 * (cpu + client) - client) * 1e6,
                cpu * 1e6,
            );
        }
        // The trail (issue #3 came before it) is the largest cost serve has
        // besides the required work; its share is printed every run.
        let untrailed = &merged[UNTRAILED];
        println!(
            "without its audit trail (--audit-log off), kube-kms serve reaches {:.1} % of the floor, p99 {:.2} ms; the trail costs {:.1} µs of serve's CPU per request ({:.0} %), of which its writer thread {:.1} µs",
            rate(&untrailed.result) / rate(floor) * 100.0,
            untrailed.result.p99.as_secs_f64() * 1e3,
            (cpu - untrailed.cpu_per_request()) * 1e6,
            (cpu - untrailed.cpu_per_request()) / cpu * 100.0,
            merged[SERVE].writer_cpu_per_request() * 1e6,
        );
        assert_eq!(ours.errors + untrailed.result.errors, 0, "kube-kms answered with errors");
        let paced_servers = [FLOOR, WORK, SERVE, UNTRAILED].map(|i| &servers[i]);
        let duration = Duration::from_secs_f64(seconds / 2.0);
        paced_report(&paced_servers, kms_addr, connections, rate(ours), rate(floor), duration).await;
        breakdown::breakdown(&body).await;
    });
    for server in [&mut kms.0, &mut untrailed.0, &mut bare, &mut work]
        .into_iter()
        .chain(other.as_mut().map(|o| &mut o.0))
    {
        let _ = server.kill();
        let _ = server.wait();
    }
}
