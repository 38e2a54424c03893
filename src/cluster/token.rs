//! ServiceAccount tokens as credentials: verified by TokenReview, cached
//! briefly by the token's hash (never the token itself).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use super::scope::Scope;
use crate::api::http::TokenReviewer;
use crate::api::{ApiError, Caller};

/// How long a verdict is reused. Short: a deleted ServiceAccount or an
/// expired token stops working within this time.
const ACCEPTED_TTL: Duration = Duration::from_secs(60);
const REFUSED_TTL: Duration = Duration::from_secs(10);
/// Bound on each cache of verdicts; a full cache is emptied. Accepted and
/// refused verdicts are kept apart, so a client sending made-up tokens
/// cannot push real callers' verdicts out.
const MAX_CACHED: usize = 10_000;
/// TokenReviews per second one replica may ask the API server for, with
/// bursts of up to `REVIEW_BURST`: anyone can send a bearer token, and
/// without a bound every made-up one would become a request to the API
/// server. 10,000 client pods, each token reviewed once a minute, need
/// under 200 a second; past the bound, new tokens get ThrottlingException,
/// which SDKs retry, and cached ones are unaffected.
const REVIEWS_PER_SECOND: f64 = 200.0;
const REVIEW_BURST: f64 = 400.0;
/// ServiceAccount tokens are JWTs of a few KiB; anything else is refused
/// without asking.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Whether `token` has a JWT's shape (three non-empty base64url segments):
/// only those are worth a TokenReview.
fn looks_like_jwt(token: &str) -> bool {
    let segments: Vec<&str> = token.split('.').collect();
    token.len() <= MAX_TOKEN_LEN
        && segments.len() == 3
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A token bucket: `take` says whether one more review fits.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            tokens: REVIEW_BURST,
            at: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * REVIEWS_PER_SECOND;
        self.tokens = (self.tokens + refill).min(REVIEW_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The caller a ServiceAccount username names; other users have no
/// namespace, so they are not callers.
pub fn caller_from_username(username: &str) -> Option<Caller> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty()).then(|| Caller::new(namespace, username))
}

type Verdict = Result<Caller, String>;

/// Verdicts by the token's SHA-256, with when they were given.
type Cache = HashMap<[u8; 32], (Verdict, Instant)>;

#[derive(Default)]
struct Caches {
    accepted: Cache,
    refused: Cache,
}

pub struct TokenReviews {
    client: Client,
    /// The namespaces whose ServiceAccounts are callers.
    scope: Scope,
    caches: Mutex<Caches>,
    bucket: Mutex<Bucket>,
}

impl TokenReviews {
    pub fn new(client: Client) -> Self {
        TokenReviews {
            client,
            scope: Scope::Cluster,
            caches: Mutex::new(Caches::default()),
            bucket: Mutex::new(Bucket::new()),
        }
    }

    /// Accepts only ServiceAccounts of `scope`'s namespaces (an endpoint
    /// serving some namespaces has no keys or credentials for others).
    pub fn scoped(self, scope: Scope) -> Self {
        TokenReviews { scope, ..self }
    }

    fn cached(&self, hash: &[u8; 32]) -> Option<Verdict> {
        let caches = self.caches.lock().expect("token cache lock");
        let fresh = |cache: &Cache, ttl: Duration| {
            cache
                .get(hash)
                .filter(|(_, at)| at.elapsed() < ttl)
                .map(|(verdict, _)| verdict.clone())
        };
        fresh(&caches.accepted, ACCEPTED_TTL).or_else(|| fresh(&caches.refused, REFUSED_TTL))
    }

    fn remember(&self, hash: [u8; 32], verdict: &Verdict) {
        let mut caches = self.caches.lock().expect("token cache lock");
        let cache = match verdict {
            Ok(_) => &mut caches.accepted,
            Err(_) => &mut caches.refused,
        };
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(hash, (verdict.clone(), Instant::now()));
    }

    async fn ask(&self, token: &str) -> Result<Verdict, ApiError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_owned(),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| ApiError::DependencyTimeout(format!("TokenReview failed: {e}")))?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Ok(Err("The token is not valid.".into()));
        }
        let username = status.user.and_then(|u| u.username).unwrap_or_default();
        let caller = caller_from_username(&username).ok_or_else(|| {
            format!("{username} is not a ServiceAccount; only ServiceAccount tokens are accepted.")
        });
        Ok(
            caller.and_then(|caller| match self.scope.serves(&caller.namespace) {
                true => Ok(caller),
                false => Err(format!(
                    "{username} is not served here: this endpoint serves {}.",
                    self.scope
                )),
            }),
        )
    }
}

#[async_trait::async_trait]
impl TokenReviewer for TokenReviews {
    async fn review(&self, token: &str) -> Result<Caller, ApiError> {
        if !looks_like_jwt(token) {
            return Err(ApiError::UnrecognizedClient(
                "The bearer token is not a ServiceAccount token.".into(),
            ));
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let verdict = match self.cached(&hash) {
            Some(verdict) => verdict,
            None => {
                if !self
                    .bucket
                    .lock()
                    .expect("bucket lock")
                    .take(Instant::now())
                {
                    return Err(ApiError::Throttling(
                        "You have exceeded the rate at which new tokens are verified. Reduce the frequency of your calls.".into(),
                    ));
                }
                let verdict = self.ask(token).await?;
                self.remember(hash, &verdict);
                verdict
            }
        };
        verdict.map_err(ApiError::UnrecognizedClient)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cluster::mock_api::{self, Handle};

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

    const REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

    fn reviews() -> (TokenReviews, Handle) {
        let (client, handle) = mock_api::client("default");
        (TokenReviews::new(client), handle)
    }

    /// Answers the next TokenReview with `username` authenticated; returns
    /// the token it asked about.
    async fn answer(handle: &mut Handle, username: &str) -> String {
        let asked = mock_api::next_within(handle, "POST", REVIEWS, Duration::from_secs(2)).await;
        let spec = asked.body["spec"].clone();
        let reply = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": spec, "status": {"authenticated": true, "user": {"username": username}}});
        asked.answer(201, &reply);
        spec["token"].as_str().unwrap().to_owned()
    }

    async fn nothing_asked(handle: &mut Handle) {
        let next = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
        assert!(next.is_err(), "no TokenReview expected");
    }

    #[tokio::test]
    async fn a_service_account_token_is_reviewed_once_then_its_verdict_reused() {
        let (reviews, mut handle) = reviews();
        let reviews = std::sync::Arc::new(reviews);
        let first = tokio::spawn({
            let reviews = reviews.clone();
            async move { reviews.review(JWT).await }
        });
        assert_eq!(
            answer(&mut handle, "system:serviceaccount:team-a:app").await,
            JWT
        );
        let caller = first.await.unwrap().unwrap();
        assert_eq!(caller.namespace, "team-a");
        assert_eq!(reviews.review(JWT).await.unwrap(), caller);
        nothing_asked(&mut handle).await;
    }

    #[tokio::test]
    async fn an_endpoint_serving_one_namespace_refuses_service_accounts_of_others() {
        let (reviews, mut handle) = reviews();
        let scope = crate::cluster::scope::Scope::parse(Some("team-b")).unwrap();
        let reviews = std::sync::Arc::new(reviews.scoped(scope));
        let other = tokio::spawn({
            let reviews = reviews.clone();
            async move { reviews.review(JWT).await }
        });
        answer(&mut handle, "system:serviceaccount:team-a:app").await;
        let error = other.await.unwrap().unwrap_err();
        assert_eq!(error.aws_type(), "UnrecognizedClientException");
        assert_eq!(
            error.to_string(),
            "system:serviceaccount:team-a:app is not served here: this endpoint serves namespace team-b."
        );
        // The verdict is cached like any other.
        assert!(reviews.review(JWT).await.is_err());
        nothing_asked(&mut handle).await;

        const OTHER_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ5In0.c2lnbmF0dXJl";
        let own = tokio::spawn({
            let reviews = reviews.clone();
            async move { reviews.review(OTHER_JWT).await }
        });
        answer(&mut handle, "system:serviceaccount:team-b:app").await;
        assert_eq!(own.await.unwrap().unwrap().namespace, "team-b");
    }

    #[tokio::test]
    async fn what_is_not_a_jwt_is_refused_without_asking_the_api_server() {
        let (reviews, mut handle) = reviews();
        let long = format!("a.{}.c", "b".repeat(MAX_TOKEN_LEN));
        for token in [
            "",
            "opaque",
            "a.b",
            "a..c",
            "a.b.c.d",
            "a.b+c.d",
            "a.b c.d",
            long.as_str(),
        ] {
            let refused = reviews.review(token).await.unwrap_err();
            assert!(
                matches!(refused, ApiError::UnrecognizedClient(_)),
                "{token:?}: {refused:?}"
            );
        }
        nothing_asked(&mut handle).await;
    }

    #[tokio::test]
    async fn past_the_review_rate_new_tokens_are_throttled_and_cached_ones_are_not() {
        let (reviews, mut handle) = reviews();
        let reviews = std::sync::Arc::new(reviews);
        let first = tokio::spawn({
            let reviews = reviews.clone();
            async move { reviews.review(JWT).await }
        });
        answer(&mut handle, "system:serviceaccount:team-a:app").await;
        first.await.unwrap().unwrap();
        reviews.bucket.lock().unwrap().tokens = 0.0;
        let other = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ5In0.c2lnbmF0dXJl";
        let throttled = reviews.review(other).await.unwrap_err();
        assert_eq!(throttled.aws_type(), "ThrottlingException");
        reviews.review(JWT).await.unwrap();
        nothing_asked(&mut handle).await;
    }

    #[test]
    fn the_bucket_allows_its_burst_then_its_rate() {
        let mut bucket = Bucket::new();
        let start = bucket.at;
        let burst = (0..1000).take_while(|_| bucket.take(start)).count();
        assert_eq!(burst, REVIEW_BURST as usize);
        let later = start + Duration::from_secs(1);
        let refilled = (0..1000).take_while(|_| bucket.take(later)).count();
        assert_eq!(refilled, REVIEWS_PER_SECOND as usize);
    }

    #[tokio::test]
    async fn made_up_tokens_cannot_push_real_callers_out_of_the_cache() {
        let (client, _handle) = mock_api::client("default");
        let reviews = TokenReviews::new(client);
        let caller = caller_from_username("system:serviceaccount:team-a:app").unwrap();
        reviews.remember([0; 32], &Ok(caller.clone()));
        for n in 0..=MAX_CACHED as u32 {
            let mut hash = [1; 32];
            hash[..4].copy_from_slice(&n.to_be_bytes());
            reviews.remember(hash, &Err("The token is not valid.".into()));
        }
        assert_eq!(reviews.cached(&[0; 32]), Some(Ok(caller)));
    }

    #[test]
    fn only_service_accounts_are_callers() {
        let caller = caller_from_username("system:serviceaccount:team-a:app").unwrap();
        assert_eq!(caller.namespace, "team-a");
        assert_eq!(caller.principal, "system:serviceaccount:team-a:app");
        for other in [
            "admin",
            "system:serviceaccount:team-a",
            "system:serviceaccount::x",
            "system:node:n1",
        ] {
            assert!(caller_from_username(other).is_none(), "{other}");
        }
    }
}
