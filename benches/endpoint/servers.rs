//! Starting the servers the endpoint bench measures, and its key.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

use super::{exchange, signed_request};

/// Starts `args` (a bench server role: it binds port 0 and prints its
/// address on its first line of output).
pub fn spawn_server(args: &[&str], extra_env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start server");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (
        child,
        line.trim().parse().expect("server printed its address"),
    )
}

/// `kube-kms serve` from `binary` on a free loopback port, data under
/// `dir/name`, started by `runner` (valgrind, say) if there is one.
///
/// The server binds port 0 itself and its address is read from its log:
/// a port picked here and handed over could be taken by another server of
/// the run before this one binds it.
pub fn start_serve(
    runner: &[String],
    binary: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    credentials: &std::path::Path,
    extra: &[&str],
) -> (Child, SocketAddr) {
    let mut command = match runner.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    let mut child = command
        // Warnings, and the line naming the endpoint's address.
        .args(["--log", "warn,kube_kms::run_serve=info", "serve"])
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join(name))
        .arg("--credentials")
        .arg(credentials)
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kube-kms serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if let Some(rest) = line.split("kube-kms endpoint on http://").nth(1)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            } else if !line.contains(" INFO ") {
                // Only the address was asked for at info level.
                eprintln!("{line}");
            }
        }
    });
    // Long: under valgrind (`instructions`) serve takes a while to start.
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("kube-kms serve printed its address");
    (child, addr.parse().expect("an address"))
}

/// Creates a key on the server at `addr`; returns its id.
pub async fn create_key(addr: SocketAddr) -> String {
    let create = signed_request(addr, "CreateKey", "{}");
    let mut s = TcpStream::connect(addr)
        .await
        .expect("connect to kube-kms serve");
    let (status, body) = exchange(&mut s, &create, &mut Vec::new()).await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or_else(|| panic!("CreateKey answered {v}"))
        .to_owned()
}
