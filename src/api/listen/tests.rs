//! The accept loop over real sockets: requests are served, and a shutdown
//! lets the request in flight finish before the server stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{DEFAULT_MAX_CONNECTIONS, LIMITS, Limits, accept_loop, serve};
use crate::api::http::{Authentication, Endpoint};
use crate::api::{Api, ArnConfig, Caller, system_clock};
use crate::crypto::{CacheConfig, LocalCryptoService};
use crate::material::random_bytes;
use crate::root::FileRootKey;
use crate::store::LocalStore;

fn endpoint(dir: &std::path::Path) -> Arc<Endpoint> {
    let root = Arc::new(FileRootKey::from_keys([(1, random_bytes(32))]).unwrap());
    let crypto = Arc::new(LocalCryptoService::new(root, CacheConfig::default()));
    let store = Arc::new(LocalStore::open(dir).unwrap());
    let api = Arc::new(Api::new(
        store,
        crypto,
        ArnConfig::default(),
        system_clock(),
    ));
    Arc::new(Endpoint {
        api,
        auth: Authentication::Insecure(Caller::new("default", "tester")),
        tokens: None,
        metrics: None,
        quotas: None,
        audit: None,
    })
}

/// A running server on a loopback port: where it listens, what stops it,
/// and its task.
struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The accept loop on a loopback port, with the endpoint's data in `dir`.
/// A plain HTTP server holding at most `connections` connections.
async fn start_with_connection_cap(dir: &std::path::Path, connections: usize) -> Running {
    start(
        dir,
        None,
        Limits {
            connections,
            ..LIMITS
        },
    )
    .await
}

async fn start(
    dir: &std::path::Path,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let task = tokio::spawn(accept_loop(endpoint(dir), listener, tls, shutdown, limits));
    Running { addr, stop, task }
}

const BODY: &str = r#"{"NumberOfBytes": 16}"#;

fn head() -> String {
    format!(
        "POST / HTTP/1.1\r\nhost: kms\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: TrentService.GenerateRandom\r\ncontent-length: {}\r\n\r\n",
        BODY.len()
    )
}

/// One HTTP/1.1 response: its head and its body.
async fn response(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let split = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("a content-length");
    let mut body = buf[split..].to_vec();
    while body.len() < length {
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    (head, body)
}

/// Waits (at most 5 s) for the server to close `stream`, with nothing
/// more sent on it first.
async fn assert_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("the server did not close {what}"))
        .unwrap_or(0);
    assert_eq!(n, 0, "{what}: data where a close was expected");
}

/// Sends one whole request and checks its answer: 16 random bytes.
async fn round_trip(stream: &mut TcpStream) {
    stream
        .write_all(format!("{}{BODY}", head()).as_bytes())
        .await
        .unwrap();
    assert_answered(response(stream).await);
}

fn assert_answered((head, body): (String, Vec<u8>)) {
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let reply: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let plaintext = crate::b64::decode(reply["Plaintext"].as_str().unwrap()).unwrap();
    assert_eq!(plaintext.len(), 16);
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        endpoint(dir.path()),
        listener,
        None,
        DEFAULT_MAX_CONNECTIONS,
        async {
            let _ = stopped.await;
        },
    ));

    // Two keep-alive connections, each served once.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    round_trip(&mut idle).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    round_trip(&mut busy).await;

    // A request in flight: its head and half its body sent, then shutdown.
    let request = format!("{}{BODY}", head());
    let half = request.len() - BODY.len() / 2;
    busy.write_all(&request.as_bytes()[..half]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !server.is_finished(),
        "the server stopped with a request in flight"
    );

    // The rest of it arrives and is answered; then the server stops.
    busy.write_all(&request.as_bytes()[half..]).await.unwrap();
    assert_answered(response(&mut busy).await);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops once the request in flight is answered")
        .unwrap();

    // The idle connection was closed, and nothing listens any more.
    assert_closed(&mut idle, "the idle connection").await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_request_that_never_completes_holds_shutdown_for_the_drain_period_only() {
    let dir = tempfile::tempdir().unwrap();
    let drain = Duration::from_millis(500);
    let Running { addr, stop, task } = start(dir.path(), None, Limits { drain, ..LIMITS }).await;
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    round_trip(&mut stalled).await;
    let request = format!("{}{BODY}", head());
    stalled
        .write_all(&request.as_bytes()[..request.len() - 4])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let asked = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops after the drain period")
        .unwrap();
    let waited = asked.elapsed();
    assert!(
        waited >= drain,
        "stopped after {waited:?}, before the drain period"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_tls_handshake_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let files = super::TlsFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
    };
    std::fs::write(&files.cert, cert.cert.pem()).unwrap();
    std::fs::write(&files.key, cert.signing_key.serialize_pem()).unwrap();
    let tls = tokio_rustls::TlsAcceptor::from(super::tls_config(&files).unwrap());
    let handshake = Duration::from_millis(300);
    // Held to the end: dropping its stop sender would shut the server down.
    let server = start(
        dir.path(),
        Some(tls),
        Limits {
            handshake,
            ..LIMITS
        },
    )
    .await;

    // Connected, and silent: no ClientHello.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let connected = std::time::Instant::now();
    assert_closed(
        &mut silent,
        "a connection that never completes its handshake",
    )
    .await;
    assert!(connected.elapsed() >= handshake);
}

#[tokio::test]
async fn past_the_connection_cap_new_clients_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    // Held to the end: dropping its stop sender would shut the server down.
    let server = start_with_connection_cap(dir.path(), 2).await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    round_trip(&mut first).await;
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    round_trip(&mut second).await;

    // The kernel completes the third handshake, but nobody serves it.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(format!("{}{BODY}", head()).as_bytes())
        .await
        .unwrap();
    let mut byte = [0; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(early.is_err(), "a third connection was served: {early:?}");

    // One closes; the waiting request is answered, and so is the next.
    drop(first);
    let answered = tokio::time::timeout(Duration::from_secs(5), response(&mut third))
        .await
        .expect("the waiting connection is served once a slot frees");
    assert_answered(answered);
    round_trip(&mut third).await;
    round_trip(&mut second).await;
}

/// Reads until the server closes `stream` (at most 5 s); returns what it
/// sent first, if anything.
async fn read_to_close(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut sent = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sent))
        .await
        .unwrap_or_else(|_| panic!("the server did not close {what}"))
        .unwrap();
    sent
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off_and_busy_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let limit = Duration::from_millis(400);
    // Held to the end: dropping its stop sender would shut the server down.
    let server = start(
        dir.path(),
        None,
        Limits {
            idle: limit,
            body: limit,
            ..LIMITS
        },
    )
    .await;

    // Headers that stop half way.
    let mut slow_head = TcpStream::connect(server.addr).await.unwrap();
    slow_head
        .write_all(b"POST / HTTP/1.1\r\nhost: kms\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    read_to_close(&mut slow_head, "a connection whose headers stopped").await;
    assert!(
        started.elapsed() >= limit,
        "cut off after {:?}",
        started.elapsed()
    );

    // A body that stops half way is answered with RequestTimeoutException.
    let mut slow_body = TcpStream::connect(server.addr).await.unwrap();
    let request = format!("{}{BODY}", head());
    slow_body
        .write_all(&request.as_bytes()[..request.len() - 4])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let sent = read_to_close(&mut slow_body, "a connection whose body stopped").await;
    assert!(
        started.elapsed() >= limit,
        "cut off after {:?}",
        started.elapsed()
    );
    let sent = String::from_utf8_lossy(&sent);
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(
        sent.contains(r#""__type":"RequestTimeoutException""#),
        "{sent}"
    );

    // A busy keep-alive connection is served past the limit, request by
    // request; once idle for the limit, it is closed.
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    let idle = loop {
        round_trip(&mut busy).await;
        let answered = std::time::Instant::now();
        if started.elapsed() >= limit * 2 {
            break answered;
        }
        tokio::time::sleep(limit / 4).await;
    };
    let sent = read_to_close(&mut busy, "an idle keep-alive connection").await;
    assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));
    assert!(
        idle.elapsed() >= limit * 3 / 4,
        "closed after {:?}",
        idle.elapsed()
    );
}

#[tokio::test]
async fn an_http2_connection_is_closed_once_it_carries_no_request_for_the_idle_limit() {
    let dir = tempfile::tempdir().unwrap();
    let idle = Duration::from_millis(400);
    // Held to the end: dropping its stop sender would shut the server down.
    let server = start(dir.path(), None, Limits { idle, ..LIMITS }).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);

    // Busy for twice the limit, a request every quarter of it: kept open.
    let started = std::time::Instant::now();
    let last = loop {
        client = client.ready().await.unwrap();
        let (response, _) = h2_request(&mut client, true);
        let response = response.await.expect("served while busy");
        assert_eq!(response.status(), 200);
        let mut data = response.into_body();
        while let Some(chunk) = data.data().await {
            let chunk = chunk.unwrap();
            let _ = data.flow_control().release_capacity(chunk.len());
        }
        let answered = std::time::Instant::now();
        if started.elapsed() >= idle * 2 {
            break answered;
        }
        tokio::time::sleep(idle / 4).await;
    };

    // Then idle: the server closes it.
    let _ = tokio::time::timeout(Duration::from_secs(5), connection)
        .await
        .expect("the server did not close an idle HTTP/2 connection");
    assert!(
        last.elapsed() >= idle * 3 / 4,
        "closed after {:?}",
        last.elapsed()
    );
}

/// An HTTP/2 request for GenerateRandom on `client` whose body is sent
/// only `if complete`; returns the response to come and the body's sender.
fn h2_request(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    complete: bool,
) -> (h2::client::ResponseFuture, h2::SendStream<bytes::Bytes>) {
    let request = http::Request::post("http://kms/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.GenerateRandom")
        .header("content-length", BODY.len())
        .body(())
        .unwrap();
    let (response, mut body) = client.send_request(request, false).unwrap();
    if complete {
        body.send_data(bytes::Bytes::from_static(BODY.as_bytes()), true)
            .unwrap();
    }
    (response, body)
}

#[tokio::test]
async fn an_http2_client_gets_a_few_streams_and_no_more_requests_in_flight_than_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    // Held to the end: dropping its stop sender would shut the server down.
    let server = start_with_connection_cap(dir.path(), 2).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let (response, _) = h2_request(&mut client, true);
    assert_eq!(response.await.unwrap().status(), 200);
    // The server's SETTINGS have arrived with its first reply.
    assert_eq!(client.current_max_send_streams(), LIMITS.streams as usize);

    // Two requests whose bodies have not arrived hold both places...
    let mut stalled = Vec::new();
    for _ in 0..2 {
        client = client.ready().await.unwrap();
        stalled.push(h2_request(&mut client, false));
    }
    // ...so a complete third waits, though its stream is open...
    client = client.ready().await.unwrap();
    let (mut third, _third_body) = h2_request(&mut client, true);
    let early = tokio::time::timeout(Duration::from_millis(500), &mut third).await;
    assert!(early.is_err(), "a third request was served: {early:?}");

    // ...until one of the first two completes: both are then answered.
    let (first, mut first_body) = stalled.remove(0);
    first_body
        .send_data(bytes::Bytes::from_static(BODY.as_bytes()), true)
        .unwrap();
    for (what, response) in [("the first", first), ("the third", third)] {
        let response = tokio::time::timeout(Duration::from_secs(5), response)
            .await
            .unwrap_or_else(|_| panic!("{what} request was not answered"))
            .unwrap();
        assert_eq!(response.status(), 200, "{what}");
    }
}

mod bodies;
