//! The API server of the cluster tests: kube's `tower-test` mock, each
//! request taken, checked and answered by the test.

use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use serde_json::Value;

pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A client on a fresh mock API server, and the server's handle.
pub fn client(namespace: &str) -> (kube::Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, namespace), handle)
}

/// A request taken, checked, and waiting for its answer.
pub struct Asked {
    /// Its body as JSON (`null` if none or not JSON).
    pub body: Value,
    /// Its query string (empty if none).
    pub query: String,
    pub headers: http::HeaderMap,
    send: tower_test::mock::SendResponse<Response<Body>>,
}

impl Asked {
    /// Answers `status` with `reply` as JSON; returns the request's body.
    pub fn answer(self, status: u16, reply: &Value) -> Value {
        self.send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(reply).unwrap()))
                .unwrap(),
        );
        self.body
    }
}

/// Takes the next request, which must be `method` on `path`. No time limit:
/// under a paused clock a limit would pass while the client waits on a
/// timer of its own.
pub async fn next(handle: &mut Handle, method: &str, path: &str) -> Asked {
    let taken = handle.next_request().await.expect("the client is gone");
    check(taken, method, path).await
}

/// As [`next`], failing if no request comes `within`.
pub async fn next_within(handle: &mut Handle, method: &str, path: &str, within: Duration) -> Asked {
    let taken = tokio::time::timeout(within, handle.next_request())
        .await
        .unwrap_or_else(|_| panic!("no {method} {path}"))
        .expect("the client is gone");
    check(taken, method, path).await
}

async fn check(
    (request, send): (
        Request<Body>,
        tower_test::mock::SendResponse<Response<Body>>,
    ),
    method: &str,
    path: &str,
) -> Asked {
    assert_eq!(
        (request.method().as_str(), request.uri().path()),
        (method, path)
    );
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers = request.headers().clone();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    Asked {
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        query,
        headers,
        send,
    }
}
