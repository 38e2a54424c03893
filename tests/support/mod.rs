//! Shared by the end-to-end tests: a `kube-kms serve` process on loopback
//! with known credentials and fixture manifests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "AKIDKUBEKMSTEST";
pub const SECRET_KEY: &str = "kube-kms-test-secret/0123456789abcdef";
/// A second caller, in namespace `other`.
pub const OTHER_ACCESS_KEY: &str = "AKIDKUBEKMSOTHER";
pub const OTHER_SECRET_KEY: &str = "kube-kms-test-other/0123456789abcdef";

pub const FIXTURES: &str = "apiVersion: kubekms.io/v1alpha1
kind: KmsKey
metadata: {name: fixture}
spec:
  description: deterministic test key
  keyId: 1234abcd-12ab-34cd-56ef-1234567890ab
  testMaterial: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
---
apiVersion: kubekms.io/v1alpha1
kind: KmsAlias
metadata: {name: fixture}
spec: {aliasName: alias/fixture, targetKeyRef: {name: fixture}}
---
apiVersion: kubekms.io/v1alpha1
kind: KmsKey
metadata: {name: mac-fixture}
spec:
  description: deterministic HMAC key (bytes 0x20..0x3f)
  keySpec: HMAC_256
  keyUsage: GENERATE_VERIFY_MAC
  keyId: 1234abcd-12ab-34cd-56ef-1234567890ac
  testMaterial: ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=
---
apiVersion: kubekms.io/v1alpha1
kind: KmsAlias
metadata: {name: mac-fixture}
spec: {aliasName: alias/mac-fixture, targetKeyRef: {name: mac-fixture}}
---
apiVersion: kubekms.io/v1alpha1
kind: KmsKey
metadata: {name: ed25519-fixture}
spec:
  description: the Ed25519 key of RFC 8032 section 7.1, test 2 (PKCS#8)
  keySpec: ECC_NIST_EDWARDS25519
  keyUsage: SIGN_VERIFY
  keyId: 1234abcd-12ab-34cd-56ef-1234567890ad
  testMaterial: MC4CAQAwBQYDK2VwBCIEIEzNCJso/5banbbDRuwRTg9bijGfNaumJNqM9u1PuKb7
---
apiVersion: kubekms.io/v1alpha1
kind: KmsAlias
metadata: {name: ed25519-fixture}
spec: {aliasName: alias/ed25519-fixture, targetKeyRef: {name: ed25519-fixture}}
";

pub struct Server {
    pub child: Child,
    pub endpoint: String,
    /// `http://ADDR` of /metrics, /livez and /readyz, with `--metrics-listen`.
    pub metrics: Option<String>,
    /// What the server has logged so far.
    log: std::sync::Arc<std::sync::Mutex<String>>,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts a server on a free loopback port in a new data directory.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir)
    }

    /// Starts (or restarts) a server on the data directory `dir`.
    pub fn start_in(dir: tempfile::TempDir) -> Server {
        Self::start_with(dir, &[])
    }

    /// Starts a server on `dir` with extra `serve` flags.
    pub fn start_with(dir: tempfile::TempDir, extra: &[std::ffi::OsString]) -> Server {
        Self::start_on(dir, "127.0.0.1:0", extra)
    }

    /// As [`Server::start_with`], listening on `listen`.
    pub fn start_on(dir: tempfile::TempDir, listen: &str, extra: &[std::ffi::OsString]) -> Server {
        let credentials = dir.path().join("test-credentials.yaml");
        std::fs::write(
            &credentials,
            format!(
                "credentials:\n  - accessKeyId: {ACCESS_KEY}\n    secretAccessKey: {SECRET_KEY}\n    principal: tester\n    namespace: default\n\
                 \x20 - accessKeyId: {OTHER_ACCESS_KEY}\n    secretAccessKey: {OTHER_SECRET_KEY}\n    principal: other\n    namespace: other\n"
            ),
        )
        .unwrap();
        let manifests = dir.path().join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        std::fs::write(manifests.join("fixtures.yaml"), FIXTURES).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
            .args(["--log", "info", "serve", "--listen", listen, "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--credentials")
            .arg(&credentials)
            .arg("--manifests")
            .arg(&manifests)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kube-kms serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            let (mut sent, mut metrics) = (false, None);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Logged before the endpoint's address.
                if let Some(rest) = line.split("metrics on ").nth(1) {
                    let url = rest.split("/metrics").next().unwrap_or("").to_owned();
                    metrics = Some(url);
                }
                if !sent && let Some(rest) = line.split("kube-kms endpoint on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send((url, metrics.take()));
                    sent = true;
                }
                if std::env::var_os("KUBE_KMS_TEST_SERVER_LOG").is_some() {
                    eprintln!("server: {line}");
                }
                let mut kept = kept.lock().unwrap();
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        let (endpoint, metrics) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server printed its address");
        Server {
            child,
            endpoint,
            metrics,
            log,
            dir: Some(dir),
        }
    }

    /// The credentials file the server reads (and follows while serving).
    /// The directory given to `--manifests`.
    pub fn manifests_path(&self) -> PathBuf {
        self.dir
            .as_ref()
            .expect("data directory")
            .path()
            .join("manifests")
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.dir
            .as_ref()
            .expect("data directory")
            .path()
            .join("test-credentials.yaml")
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILLs the server (no chance to flush anything) and hands back its
    /// data directory for a restart.
    pub fn kill(mut self) -> tempfile::TempDir {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
        self.dir.take().expect("data directory")
    }

    /// Stops the server as Kubernetes or Ctrl-C would (SIGTERM), waits for
    /// it to exit, and hands back its data directory for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) on our own child's pid, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM");
        let status = self.child.wait().expect("reap");
        assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
        self.dir.take().expect("data directory")
    }

    /// Environment for AWS clients pointed at this server.
    pub fn client_env(&self, cmd: &mut Command) {
        cmd.env("KUBE_KMS_ENDPOINT", &self.endpoint)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("KUBE_KMS_OTHER_ACCESS_KEY_ID", OTHER_ACCESS_KEY)
            .env("KUBE_KMS_OTHER_SECRET_ACCESS_KEY", OTHER_SECRET_KEY);
    }
}

/// The AWS SDK for Rust's configuration for `endpoint`, signing with the
/// test access key and `secret`.
pub fn sdk_config(endpoint: &str, secret: &str) -> aws_sdk_kms::config::Builder {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ACCESS_KEY, secret, None, None, "test"))
}

/// A client of the test access key at `endpoint`, signing for `region`.
pub fn kms_client_in(endpoint: &str, secret: &str, region: &str) -> aws_sdk_kms::Client {
    let region = aws_sdk_kms::config::Region::new(region.to_owned());
    aws_sdk_kms::Client::from_conf(sdk_config(endpoint, secret).region(region).build())
}

/// A root key file made in `dir` and its crypto service's identity (what
/// other Regions' peers files list).
pub fn root_key_in(dir: &tempfile::TempDir) -> (PathBuf, String) {
    let path = dir.path().join("root.key");
    let root = kube_kms::root::FileRootKey::create(&path).unwrap();
    let (_, identity) = kube_kms::replica::identities(&root).unwrap()[0];
    (path, identity.to_string())
}

/// A client of the other test access key (principal `other`, of
/// namespace `other` in `serve`) at `endpoint`, signing for `region`.
pub fn other_kms_client_in(endpoint: &str, region: &str) -> aws_sdk_kms::Client {
    use aws_sdk_kms::config::{Credentials, Region};
    aws_sdk_kms::Client::from_conf(
        sdk_config(endpoint, OTHER_SECRET_KEY)
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(
                OTHER_ACCESS_KEY,
                OTHER_SECRET_KEY,
                None,
                None,
                "test",
            ))
            .build(),
    )
}

pub fn kms_client(endpoint: &str, secret: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(sdk_config(endpoint, secret).build())
}

/// A loopback port free now, for a process that must be told its port
/// before it starts (a Region its peer must know; etcd). Chosen below the
/// kernel's ephemeral range: a port from `bind(0)` and released could be
/// handed to another test's `bind(0)` or outgoing connection before the
/// process binds it; one the kernel never hands out cannot.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOWEST: u32 = 10_000;
    // Each test binary (and each thread in it) starts from its own place.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let span = ephemeral_low.saturating_sub(LOWEST);
    if span < 1_000 {
        // No room below the range here: the kernel's choice, released.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        return probe.local_addr().unwrap().port();
    }
    let start = std::process::id().wrapping_mul(7_919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOWEST + start.wrapping_add(n) % span).expect("a port");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {LOWEST} and {ephemeral_low}");
}

/// `127.0.0.1:PORT` for a [`free_port`].
pub fn free_address() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Waits until a unix socket at `path` accepts connections (a stale
/// socket file does not count); panics with `why()` after 20 s.
pub fn wait_for_socket(path: &std::path::Path, why: impl Fn() -> String) {
    use std::os::unix::fs::FileTypeExt;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
        if is_socket && std::os::unix::net::UnixStream::connect(path).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("socket {} never appeared: {}", path.display(), why());
}

/// The Python with the test clients installed (scripts/test makes a venv
/// and sets KUBE_KMS_PYTHON; otherwise the repository's .venv, then python3).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBE_KMS_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// A script of `tests/python` ready to run against `server`.
pub fn python_command(server: &Server, script: &str) -> Command {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut cmd = Command::new(python());
    cmd.arg(&path);
    server.client_env(&mut cmd);
    cmd
}

/// Runs a script of `tests/python` against `server`; panics with its output
/// if it fails.
pub fn run_python(server: &Server, script: &str) -> String {
    run(python_command(server, script), script)
}

/// Runs a script of `tests/js` with Node.js (KUBE_KMS_NODE, else `node`)
/// against `server`; its packages are in `tests/js/node_modules`, which
/// scripts/test installs. Panics with its output if it fails.
pub fn run_node(server: &Server, script: &str, args: &[&std::ffi::OsStr]) -> String {
    let mut cmd = node_command(server, script);
    cmd.args(args);
    run(cmd, script)
}

/// The command that runs a script of `tests/ruby` with Ruby (KUBE_KMS_RUBY,
/// else `ruby`) against `server`; the AWS SDK for Ruby is Debian's
/// ruby-aws-sdk-kms.
pub fn ruby_command(server: &Server, script: &str) -> Command {
    script_command(server, "ruby", ("KUBE_KMS_RUBY", "ruby"), script)
}

/// PATH with the venv's scripts (`aws`, `sops`) first.
pub fn venv_first_on_path() -> String {
    let venv_bin = python()
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The command that runs a script of `tests/js` against `server`.
pub fn node_command(server: &Server, script: &str) -> Command {
    script_command(server, "js", ("KUBE_KMS_NODE", "node"), script)
}

/// `tests/<dir>/<script>` run by the interpreter the environment variable
/// names (else the default), with `server`'s client environment.
fn script_command(
    server: &Server,
    dir: &str,
    (variable, default): (&str, &str),
    script: &str,
) -> Command {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir)
        .join(script);
    let interpreter = std::env::var_os(variable).unwrap_or_else(|| default.into());
    let mut cmd = Command::new(interpreter);
    cmd.arg(&path);
    server.client_env(&mut cmd);
    cmd
}

pub fn run(mut cmd: Command, what: &str) -> String {
    let started = Instant::now();
    // A temporary directory of its own, which must be empty again when it
    // is done: the clients write plaintext test secrets to files, and a
    // suite run should leave none of them behind in the machine's /tmp.
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let output = cmd
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "{what} failed ({:?}):\n{stdout}\n{stderr}",
        output.status
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("the temporary directory")
        .map(|entry| entry.expect("an entry").file_name())
        .collect();
    assert!(
        left.is_empty(),
        "{what} left files in its temporary directory: {left:?}"
    );
    eprintln!("{what}: ok in {:?}: {}", started.elapsed(), stdout.trim());
    stdout.into_owned()
}

/// `ansible-playbook` (from the venv's PyPI `ansible`) running
/// `tests/ansible/<playbook>` on this machine, with its state in `home`;
/// the caller adds the endpoint and credentials to its environment.
pub fn ansible_playbook(playbook: &str, home: &std::path::Path) -> Command {
    let python = python();
    let mut cmd = Command::new(python.with_file_name("ansible-playbook"));
    cmd.args(["--connection", "local", "--inventory", "localhost,"])
        .arg("--extra-vars")
        .arg(format!("ansible_python_interpreter={}", python.display()))
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/ansible")
                .join(playbook),
        )
        .env("ANSIBLE_HOME", home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1");
    cmd
}
