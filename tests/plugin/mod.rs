//! Shared by the KMS v2 plugin tests: the plugin as a process, and a gRPC
//! client over its socket that holds it to every rule kube-apiserver
//! enforces on a KMS v2 plugin.
#![allow(dead_code)]

pub mod apiserver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Plugin {
    pub child: Child,
    pub socket: PathBuf,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kube-kms plugin` and waits until its socket accepts connections.
pub fn start(socket: &Path, key_file: &Path, root_args: &[&std::ffi::OsStr]) -> Plugin {
    let plugin = spawn(socket, key_file, root_args);
    wait_for_socket(socket, &plugin);
    plugin
}

/// Starts `kube-kms plugin` without waiting for anything.
pub fn spawn(socket: &Path, key_file: &Path, root_args: &[&std::ffi::OsStr]) -> Plugin {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["--log", "info,kube_kms=debug", "plugin", "--socket"])
        .arg(socket)
        .arg("--key-file")
        .arg(key_file)
        .args(root_args)
        .args(["--reload-interval-ms", "100", "--health-cache-ms", "1000"])
        .arg("--health-listen")
        .arg("127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kube-kms plugin");
    let log = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if std::env::var_os("KUBE_KMS_TEST_SERVER_LOG").is_some() {
                eprintln!("plugin: {line}");
            }
            sink.lock().unwrap().push(line);
        }
    });
    Plugin {
        child,
        socket: socket.to_owned(),
        log,
    }
}

pub fn wait_for_socket(path: &Path, plugin: &Plugin) {
    crate::support::wait_for_socket(path, || plugin.log_text());
}

impl Plugin {
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn root_key_args(path: &Path) -> Vec<std::ffi::OsString> {
        vec!["--root-key".into(), path.into()]
    }

    /// `http://ADDR` of the health port, once the plugin has logged where
    /// it bound it (port 0: no other process can take it first).
    pub fn health(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.log.lock().unwrap().iter().find_map(|line| {
                let rest = line
                    .split("/healthz, /livez and /metrics listening")
                    .nth(1)?;
                let addr = rest.split("addr=").nth(1)?.split_whitespace().next()?;
                Some(format!("http://{addr}"))
            });
            if let Some(url) = found {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "the plugin never said where its health port is:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET on the health port: (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("{}{path}", self.health()))
    }
}

/// A minimal HTTP/1.1 GET (the health port is plain HTTP on loopback).
pub fn http_get(url: &str) -> (u16, String) {
    http("GET", url, None)
}

/// A minimal HTTP/1.1 POST of a JSON body.
pub fn http_post(url: &str, body: &str) -> (u16, String) {
    http("POST", url, Some(body))
}

/// One plain HTTP/1.1 request on a fresh connection: (status, body), a
/// chunked body reassembled.
fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let content = body.map_or(String::new(), |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
    });
    write!(
        stream,
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\n{content}Connection: close\r\n\r\n{}",
        body.unwrap_or("")
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
