//! Every kube-kms process keeps its memory to itself: it leaves no core
//! dump, and no other process of its user can read it (ptrace,
//! `/proc/<pid>/mem`), so the root key and unsealed keys stay inside it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{DumpableBehavior, Resource, Rlimit};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What `main` does first, done to this test process (which holds nothing
/// else): it is then not dumpable and may dump no core.
#[test]
fn keep_private_makes_a_process_non_dumpable_with_no_core() {
    kube_kms::private_memory::keep_private().unwrap();
    assert_eq!(
        rustix::process::dumpable_behavior().unwrap(),
        DumpableBehavior::NotDumpable
    );
    assert_eq!(
        rustix::process::getrlimit(Resource::Core),
        Rlimit {
            current: Some(0),
            maximum: Some(0)
        }
    );
}

/// `kube-kms <args>` run in `dir`, once it has made `made` there (so its
/// `main` has begun).
fn start(dir: &Path, args: &[&str], made: &str) -> Running {
    let mut process = Running(
        Command::new(env!("CARGO_BIN_EXE_kube-kms"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kube-kms"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join(made).exists() {
        if let Some(status) = process.0.try_wait().unwrap() {
            panic!("kube-kms {args:?} exited ({status}) before making {made}");
        }
        assert!(
            Instant::now() < deadline,
            "kube-kms {args:?} made no {made}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    process
}

/// The process did what `main` does first: its core limits are 0 (they
/// are not by default: the hard one is unlimited on most hosts), and, seen
/// from a process of the same user without `CAP_SYS_PTRACE`, its memory is
/// closed. Root holds that capability, so there only the limits are seen,
/// and the test above shows the same call turns dumping off.
fn assert_private(process: &Running) {
    let pid = process.0.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .unwrap();
    // "Max core file size  <soft>  <hard>  bytes"
    let fields: Vec<_> = core.split_whitespace().collect();
    assert_eq!(fields[4..6], ["0", "0"], "{core}");
    if !rustix::process::geteuid().is_root() {
        let error = std::fs::File::open(format!("/proc/{pid}/mem"))
            .map(drop)
            .expect_err("another process's memory");
        assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
    }
}

#[test]
fn the_crypto_service_keeps_its_memory_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "crypto",
        "--socket",
        "crypto.sock",
        "--root-key",
        "root.key",
        "--create-root-key",
    ];
    let crypto = start(dir.path(), &args, "crypto.sock");
    assert_private(&crypto);
}

#[test]
fn the_embedded_default_keeps_its_memory_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["serve", "--data-dir", "data", "--listen", "127.0.0.1:0"];
    let serve = start(dir.path(), &args, "data/root.key");
    assert_private(&serve);
}
