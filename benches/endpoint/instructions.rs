//! Instructions per request, counted by callgrind: figures that agree
//! within about 1 % from run to run whatever else the machine is doing
//! (how requests meet in the runtime varies a little), where the timings
//! of a shared two-core host move by ±20 % from one turn to the next. Each
//! server runs under valgrind in turn; after a warm-up its counters are
//! zeroed, it serves a fixed number of signed 4 KiB Encrypts, and its
//! counters are dumped and read with `callgrind_annotate`.
//!
//! valgrind's CPU has no SHA extensions, so SHA-256 runs in software
//! there, at several times its real cost: its compression functions
//! (RustCrypto's and AWS-LC's, which computes the HMACs) are counted apart,
//! and the comparison is made without them.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use tokio::net::TcpStream;

use super::{create_key, encrypt_body, exchange, signed_request, spawn_server, start_serve};

const CONNECTIONS: usize = 4;
const WARM_UP: usize = 50;

/// What one server cost per request.
struct Count {
    name: &'static str,
    total: f64,
    sha256: f64,
}

impl Count {
    fn besides_sha256(&self) -> f64 {
        self.total - self.sha256
    }
}

pub fn run(requests: usize, dir: &Path, credentials: &Path) {
    for tool in ["valgrind", "callgrind_control", "callgrind_annotate"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            println!(
                "{tool} is not installed (Debian: apt-get install valgrind); no instruction counts"
            );
            return;
        }
    }
    // KUBE_KMS_BENCH_CALLGRIND_OUT keeps the dumps (`<role>.<pid>.1`) for
    // callgrind_annotate; by default they go with the run's directory.
    let out = std::env::var_os("KUBE_KMS_BENCH_CALLGRIND_OUT")
        .map_or_else(|| dir.join("callgrind"), std::path::PathBuf::from);
    std::fs::create_dir_all(&out).unwrap();
    // valgrind's pipes for callgrind_control, in the run's directory: the
    // servers are killed, and would leave them in /tmp.
    let vgdb = format!("--vgdb-prefix={}/vgdb", dir.display());
    let runner = |name: &str| {
        vec![
            "valgrind".to_owned(),
            "--tool=callgrind".into(),
            // A KUBE_KMS_BENCH_COMPARE wrapper script execs the binary.
            "--trace-children=yes".into(),
            vgdb.clone(),
            format!("--callgrind-out-file={}/{name}.%p", out.display()),
        ]
    };
    let self_exe = std::env::current_exe().unwrap();
    // (name, dump file prefix, process, address, whether it is kube-kms)
    let mut servers: Vec<(&'static str, &str, Child, SocketAddr, bool)> = Vec::new();
    for (name, role) in [
        ("bare HTTP server (floor)", "bare"),
        ("floor + required work", "work"),
    ] {
        let mut args = runner(role);
        args.push(self_exe.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (child, addr) = spawn_server(&args, &[("KUBE_KMS_BENCH_ROLE", role)]);
        servers.push((name, role, child, addr, false));
    }
    let ours = env!("CARGO_BIN_EXE_kube-kms");
    let (child, addr) = start_serve(
        &runner("serve"),
        ours.as_ref(),
        dir,
        "data",
        credentials,
        &[],
    );
    servers.push(("kube-kms serve", "serve", child, addr, true));
    if let Some(other) = std::env::var_os("KUBE_KMS_BENCH_COMPARE") {
        let (child, addr) = start_serve(
            &runner("other"),
            other.as_ref(),
            dir,
            "other",
            credentials,
            &[],
        );
        servers.push(("KUBE_KMS_BENCH_COMPARE", "other", child, addr, true));
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut counts = Vec::new();
    for (name, prefix, mut child, addr, kms) in servers {
        let pid = child.id();
        runtime.block_on(async {
            // The bare servers read no key id.
            let key = if kms {
                create_key(addr).await
            } else {
                "00000000-0000-4000-8000-000000000000".to_owned()
            };
            let request = Arc::new(signed_request(addr, "Encrypt", &encrypt_body(&key)));
            send(addr, &request, WARM_UP).await;
            callgrind_control(&vgdb, pid, "-z");
            send(addr, &request, requests).await;
            callgrind_control(&vgdb, pid, "-d");
        });
        let _ = child.kill();
        let _ = child.wait();
        let dump = out.join(format!("{prefix}.{pid}.1"));
        let (total, sha256) = read_dump(&dump);
        counts.push(Count {
            name,
            total: total / requests as f64,
            sha256: sha256 / requests as f64,
        });
    }
    println!(
        "instructions per signed 4 KiB Encrypt under callgrind ({requests} requests over {CONNECTIONS} connections; runs agree within about 1 %)"
    );
    for count in &counts {
        println!(
            "{:<26} {:>9.0} instructions, of which SHA-256 compression (software under valgrind) {:>9.0}; besides it {:>9.0}",
            count.name,
            count.total,
            count.sha256,
            count.besides_sha256()
        );
    }
    let (floor, work, ours) = (&counts[0], &counts[1], &counts[2]);
    println!(
        "besides SHA-256: kube-kms serve = {:.2}x the required work's instructions, {:.2}x the floor's; it spends {:.0} more than the required work",
        ours.besides_sha256() / work.besides_sha256(),
        ours.besides_sha256() / floor.besides_sha256(),
        ours.besides_sha256() - work.besides_sha256()
    );
    if let Some(other) = counts.get(3) {
        println!(
            "besides SHA-256: kube-kms serve = {:.1} % of KUBE_KMS_BENCH_COMPARE's instructions",
            ours.besides_sha256() / other.besides_sha256() * 100.0
        );
    }
}

/// Sends `requests` copies of `request` over [`CONNECTIONS`] connections;
/// every one must succeed, or the count would be of something else.
async fn send(addr: SocketAddr, request: &Arc<Vec<u8>>, requests: usize) {
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            let request = request.clone();
            let share = requests / CONNECTIONS + usize::from(i < requests % CONNECTIONS);
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buffer = Vec::new();
                for _ in 0..share {
                    let (status, body) =
                        exchange(&mut stream, &request, &mut buffer).await.unwrap();
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

fn callgrind_control(vgdb: &str, pid: u32, what: &str) {
    let status = Command::new("callgrind_control")
        .args([vgdb, what, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("callgrind_control");
    assert!(status.success(), "callgrind_control {what} {pid} failed");
}

/// A dump's instructions, and those of SHA-256's compression functions.
fn read_dump(dump: &Path) -> (f64, f64) {
    let annotated = Command::new("callgrind_annotate")
        .args(["--inclusive=no", "--threshold=100", "--auto=no"])
        .arg(dump)
        .output()
        .expect("callgrind_annotate");
    let text = String::from_utf8_lossy(&annotated.stdout);
    let cost = |line: &str| -> f64 {
        line.split_whitespace()
            .next()
            .and_then(|n| n.replace(',', "").parse().ok())
            .unwrap_or(0.0)
    };
    let total = text
        .lines()
        .find(|l| l.contains("PROGRAM TOTALS"))
        .map(cost)
        .unwrap_or_else(|| panic!("no totals in {}", dump.display()));
    let sha256 = text
        .lines()
        .filter(|l| l.contains("sha256::compress256") || l.contains("sha256_block_data_order"))
        .map(cost)
        .fold(0.0, |sum, c| sum + c);
    (total, sha256)
}
