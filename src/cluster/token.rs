//! ServiceAccount tokens as credentials: verified by TokenReview, cached
//! briefly by the token's hash (never the token itself).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use crate::api::http::TokenReviewer;
use crate::api::{ApiError, Caller};

/// How long a verdict is reused. Short: a deleted ServiceAccount or an
/// expired token stops working within this time.
const ACCEPTED_TTL: Duration = Duration::from_secs(60);
const REFUSED_TTL: Duration = Duration::from_secs(10);
/// Bound on cached verdicts; the cache is emptied when it is reached.
const MAX_CACHED: usize = 10_000;

/// The caller a ServiceAccount username names; other users have no
/// namespace, so they are not callers.
pub fn caller_from_username(username: &str) -> Option<Caller> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty()).then(|| Caller {
        namespace: namespace.to_owned(),
        principal: username.to_owned(),
    })
}

type Verdict = Result<Caller, String>;

pub struct TokenReviews {
    client: Client,
    cache: Mutex<HashMap<[u8; 32], (Verdict, Instant)>>,
}

impl TokenReviews {
    pub fn new(client: Client) -> Self {
        TokenReviews {
            client,
            cache: Mutex::new(HashMap::new()),
        }
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
        Ok(caller_from_username(&username).ok_or_else(|| {
            format!("{username} is not a ServiceAccount; only ServiceAccount tokens are accepted.")
        }))
    }
}

#[async_trait::async_trait]
impl TokenReviewer for TokenReviews {
    async fn review(&self, token: &str) -> Result<Caller, ApiError> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self
            .cache
            .lock()
            .expect("token cache lock")
            .get(&hash)
            .filter(|(verdict, at)| {
                at.elapsed()
                    < if verdict.is_ok() {
                        ACCEPTED_TTL
                    } else {
                        REFUSED_TTL
                    }
            })
            .map(|(verdict, _)| verdict.clone());
        let verdict = match cached {
            Some(verdict) => verdict,
            None => {
                let verdict = self.ask(token).await?;
                let mut cache = self.cache.lock().expect("token cache lock");
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
                cache.insert(hash, (verdict.clone(), Instant::now()));
                verdict
            }
        };
        verdict.map_err(ApiError::UnrecognizedClient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
