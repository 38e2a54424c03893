//! Request bodies over real sockets: with a length, without one (chunked
//! over HTTP/1.1, no `content-length` over HTTP/2), and the size limit on
//! each.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{BODY, assert_answered, response, start_with_connection_cap};
use crate::api::http::MAX_BODY_BYTES;

const LIMIT: usize = MAX_BODY_BYTES as usize;

/// A GenerateRandom request's head, with `framing` as its last header.
fn head_with(framing: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nhost: kms\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: TrentService.GenerateRandom\r\n{framing}\r\n\r\n"
    )
}

/// `BODY` followed by spaces (JSON whitespace) to `len` bytes.
fn padded_body(len: usize) -> Vec<u8> {
    let mut body = BODY.as_bytes().to_vec();
    body.resize(len, b' ');
    body
}

/// Sends `body` as HTTP/1.1 chunks of at most `chunk` bytes, then the last
/// chunk. Stops sending if the server stops reading (it may answer and
/// close before the end).
async fn send_chunked(mut writer: tokio::net::tcp::OwnedWriteHalf, body: Vec<u8>, chunk: usize) {
    for piece in body.chunks(chunk) {
        let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
        frame.extend_from_slice(piece);
        frame.extend_from_slice(b"\r\n");
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        // Separate writes, so the server sees the body arrive in pieces.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = writer.write_all(b"0\r\n\r\n").await;
    // Held open until the caller has its answer: dropping the write half
    // would half-close the connection, which the server takes for the
    // client going away.
    std::future::pending::<()>().await;
}

/// A chunked request with `body`; returns the response's head and body.
async fn chunked_exchange(
    addr: std::net::SocketAddr,
    body: Vec<u8>,
    chunk: usize,
) -> (String, Vec<u8>) {
    let (mut reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
    writer
        .write_all(head_with("transfer-encoding: chunked").as_bytes())
        .await
        .unwrap();
    let sending = tokio::spawn(send_chunked(writer, body, chunk));
    let answer = tokio::time::timeout(Duration::from_secs(10), response(&mut reader))
        .await
        .expect("an answer within 10 s");
    sending.abort();
    answer
}

fn assert_too_large((head, body): (String, Vec<u8>)) {
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["__type"], "ValidationException", "{error}");
    assert_eq!(
        error["message"],
        format!("Request body exceeds {LIMIT} bytes"),
        "{error}"
    );
}

#[tokio::test]
async fn a_chunked_body_is_read_whole_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_connection_cap(dir.path(), 8).await;
    // In pieces smaller than the body, then a body of exactly the limit.
    assert_answered(chunked_exchange(server.addr, BODY.as_bytes().to_vec(), 7).await);
    assert_answered(chunked_exchange(server.addr, padded_body(LIMIT), 64 * 1024).await);
}

#[tokio::test]
async fn a_chunked_body_is_refused_once_it_grows_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_connection_cap(dir.path(), 8).await;
    assert_too_large(chunked_exchange(server.addr, padded_body(LIMIT + 1), 64 * 1024).await);
    // Refused while it is still coming: four times the limit is never sent
    // whole (the sender sleeps between chunks; the answer comes first).
    let started = std::time::Instant::now();
    assert_too_large(chunked_exchange(server.addr, padded_body(4 * LIMIT), 16 * 1024).await);
    let whole = Duration::from_millis(5 * (4 * LIMIT / (16 * 1024)) as u64);
    assert!(
        started.elapsed() < whole,
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_length_over_the_limit_is_refused_before_the_body_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_connection_cap(dir.path(), 8).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let framing = format!("content-length: {}", LIMIT + 1);
    stream
        .write_all(head_with(&framing).as_bytes())
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), response(&mut stream))
        .await
        .expect("an answer without the body");
    assert_too_large(answer);
    // At the limit, the same request is served.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let framing = format!("content-length: {LIMIT}");
    let mut request = head_with(&framing).into_bytes();
    request.extend(padded_body(LIMIT));
    stream.write_all(&request).await.unwrap();
    assert_answered(response(&mut stream).await);
}

#[tokio::test]
async fn an_http2_request_without_a_length_is_served_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_connection_cap(dir.path(), 8).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let send = async |body: Vec<u8>| {
        let mut client = client.clone().ready().await.unwrap();
        let request = http::Request::post("http://kms/")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "TrentService.GenerateRandom")
            .body(())
            .unwrap();
        let (response, mut stream) = client.send_request(request, false).unwrap();
        // Two DATA frames; the second ends the stream.
        let (first, second) = body.split_at(body.len() / 2);
        stream
            .send_data(bytes::Bytes::copy_from_slice(first), false)
            .unwrap();
        stream
            .send_data(bytes::Bytes::copy_from_slice(second), true)
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("an answer within 10 s")
            .unwrap();
        let status = response.status();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
        )
    };
    let (status, reply) = send(BODY.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        crate::b64::decode(reply["Plaintext"].as_str().unwrap())
            .unwrap()
            .len(),
        16
    );
    let (status, error) = send(padded_body(LIMIT + 1)).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["__type"], "ValidationException", "{error}");
}
