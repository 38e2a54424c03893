//! Every kube-kms process keeps its memory to itself: it leaves no core
//! dump, and no other process of its user can read it (ptrace,
//! `/proc/<pid>/mem`), so the root key and unsealed keys stay inside it.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `nobody`: root may read any process's memory, so when the suite runs as
/// root the processes run as this user, who must not.
const NOBODY: u32 = 65534;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `kube-kms <args>` run in `dir`, once it has made `made` there (so its
/// `main` has begun).
fn start(dir: &Path, args: &[&str], made: &str) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kube-kms"));
    command
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if as_root() {
        std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
        command.uid(NOBODY).gid(NOBODY);
    }
    let mut process = Running(command.spawn().expect("start kube-kms"));
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
    let environ = format!("/proc/{pid}/environ");
    if as_root() {
        // A process's /proc files belong to its user, a non-dumpable
        // process's to root.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_eq!(uid.split_whitespace().nth(2), Some("65534"), "{uid}");
        assert_eq!(std::fs::metadata(&environ).unwrap().uid(), 0);
    } else {
        let error = std::fs::read(&environ)
            .map(drop)
            .expect_err("another process's environment");
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
