//! Access keys for SigV4, from a YAML (or JSON) file:
//!
//! ```yaml
//! credentials:
//!   - accessKeyId: AKIAEXAMPLE
//!     secretAccessKey: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
//!     principal: alice          # names the caller in logs and audit
//!     namespace: default        # the caller's tenant
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use zeroize::Zeroizing;

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub principal: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("principal", &self.principal)
            .field("namespace", &self.namespace)
            .finish()
    }
}

fn default_namespace() -> String {
    "default".into()
}

#[derive(Deserialize)]
struct File {
    credentials: Vec<Credential>,
}

/// Credentials by access key id.
#[derive(Debug, Clone, Default)]
pub struct Credentials(HashMap<String, Credential>);

impl Credentials {
    pub fn new(list: impl IntoIterator<Item = Credential>) -> Self {
        Credentials(
            list.into_iter()
                .map(|c| (c.access_key_id.clone(), c))
                .collect(),
        )
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: File =
            serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut seen = std::collections::HashSet::new();
        for c in &file.credentials {
            if !seen.insert(c.access_key_id.clone()) {
                return Err(format!(
                    "{}: access key id {} appears twice",
                    path.display(),
                    c.access_key_id
                ));
            }
            if c.secret_access_key.is_empty() {
                return Err(format!(
                    "{}: access key id {} has an empty secret",
                    path.display(),
                    c.access_key_id
                ));
            }
        }
        Ok(Credentials::new(file.credentials))
    }

    /// Keeps `live` equal to the file at `path`, checking it every
    /// `every`: access keys are added and revoked without a restart. A file
    /// that does not load leaves the keys in force as they were, and says
    /// why.
    pub async fn follow(
        path: std::path::PathBuf,
        live: std::sync::Arc<std::sync::RwLock<Credentials>>,
        every: std::time::Duration,
    ) {
        crate::file_stamp::follow(&path, every, || match Credentials::load(&path) {
            Ok(credentials) => {
                let count = credentials.0.len();
                *live.write().unwrap_or_else(|e| e.into_inner()) = credentials;
                tracing::info!(file = %path.display(), count, "SigV4 credentials reloaded");
            }
            Err(e) => tracing::error!(
                error = %e,
                "SigV4 credentials not reloaded; the access keys loaded before stay in force"
            ),
        })
        .await
    }

    pub fn get(&self, access_key_id: &str) -> Option<&Credential> {
        self.0.get(access_key_id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
