//! The peers file: the other deployments (Regions) a multi-Region key may
//! be replicated to or from. Its crypto service reads which identities to
//! trust; an endpoint also reads where each Region is reached and with
//! which credentials, and which of its own callers each Region is.
//!
//! ```yaml
//! peers:
//!   - region: eu-west-1
//!     identities: [<64 hex digits>]   # `kube-kms identity` there
//!     endpoint: https://kms.eu-west-1.example:4600
//!     caFile: /etc/kube-kms/eu-west-1-ca.pem  # what its certificate chains to
//!     accessKeyId: AKIA...            # signs requests sent there
//!     secretAccessKey: ...
//!     principal: arn:aws:iam::111122223333:user/default/eu-west-1  # its requests here
//!     replicaNamespaces: [team-a]     # its keys' replicas there go to the same namespace here
//! ```

use std::path::Path;

use serde::Deserialize;
use zeroize::Zeroizing;

use super::{Peers, PublicIdentity};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersFile {
    #[serde(default)]
    pub peers: Vec<Peer>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Peer {
    pub region: String,
    /// Its crypto service's identities (one per root key version it holds).
    #[serde(deserialize_with = "identities")]
    pub identities: Vec<PublicIdentity>,
    /// Its endpoint's URL (an endpoint that sends there needs it).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// PEM certificates an `https://` endpoint's certificate must chain to.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<Zeroizing<String>>,
    /// The principal its requests authenticate as here: only it may
    /// offer and deliver replicas.
    #[serde(default)]
    pub principal: Option<String>,
    /// The namespaces (`*`: every one) whose keys there have their
    /// replicas here in the namespace of the same name, as an account's
    /// replicas are in that account; any other key's go to the principal's
    /// namespace. Deciding it here keeps what a Region may write where it
    /// is written.
    #[serde(default)]
    pub replica_namespaces: Vec<String>,
}

impl Peer {
    /// Whether the replica of a key in `namespace` there goes to the
    /// namespace of the same name here.
    pub fn keeps_namespace(&self, namespace: &str) -> bool {
        is_namespace(namespace)
            && self
                .replica_namespaces
                .iter()
                .any(|n| n == "*" || n == namespace)
    }
}

/// A Kubernetes namespace name: an RFC 1123 label (1–63 lowercase letters,
/// digits and `-`, beginning and ending with a letter or digit).
pub fn is_namespace(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

fn identities<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PublicIdentity>, D::Error> {
    let written = Vec::<String>::deserialize(d)?;
    if written.is_empty() {
        return Err(serde::de::Error::custom("identities: at least one"));
    }
    written
        .iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

/// AWS's Region name pattern, `^([a-z]+-){2,3}\d+$` (1–32 characters).
pub fn is_region(name: &str) -> bool {
    let Some((words, number)) = name.rsplit_once('-') else {
        return false;
    };
    let words: Vec<&str> = words.split('-').collect();
    name.len() <= 32
        && (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// How often a process that reads a peers file checks it for changes.
pub const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

impl PeersFile {
    /// Calls `changed` with the file at `path` each time it changes
    /// (checked every `every`), so Regions, identities and credentials are
    /// taken without a restart. A file that does not load leaves what was
    /// loaded before in force, and says why.
    pub async fn follow(
        path: std::path::PathBuf,
        every: std::time::Duration,
        mut changed: impl FnMut(PeersFile) -> Result<(), String> + Send,
    ) {
        crate::file_stamp::follow(&path, every, || {
            let loaded = PeersFile::load(&path).map_err(|e| e.to_string());
            match loaded.and_then(|file| {
                let regions = file.peers.len();
                changed(file).map(|()| regions)
            }) {
                Ok(regions) => {
                    tracing::info!(file = %path.display(), regions, "peers file reloaded")
                }
                Err(e) => tracing::error!(
                    file = %path.display(),
                    error = %e,
                    "peers file not reloaded; the peers loaded before stay in force"
                ),
            }
        })
        .await
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: PeersFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut regions = std::collections::BTreeSet::new();
        let mut owners = std::collections::BTreeMap::new();
        for peer in &file.peers {
            for identity in &peer.identities {
                if let Some(other) = owners.insert(*identity, &peer.region) {
                    // Material it signs must be told apart by Region.
                    return Err(format!(
                        "identity {identity} is listed for both {other} and {}",
                        peer.region
                    ));
                }
            }
            if !is_region(&peer.region) {
                return Err(format!("'{}' is not a Region name", peer.region));
            }
            if !regions.insert(&peer.region) {
                return Err(format!("Region {} is listed twice", peer.region));
            }
            if let Some(endpoint) = &peer.endpoint {
                match endpoint.split_once("://") {
                    Some(("http", _)) => {}
                    Some(("https", _)) if peer.ca_file.is_some() => {}
                    Some(("https", _)) => {
                        return Err(format!(
                            "Region {}: an https:// endpoint needs caFile",
                            peer.region
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "Region {}: endpoint {endpoint} is not an http:// or https:// URL",
                            peer.region
                        ));
                    }
                }
            }
            if let Some(bad) = peer
                .replica_namespaces
                .iter()
                .find(|n| *n != "*" && !is_namespace(n))
            {
                return Err(format!(
                    "Region {}: replicaNamespaces: '{bad}' is not a namespace name",
                    peer.region
                ));
            }
            if peer.access_key_id.is_some() != peer.secret_access_key.is_some() {
                return Err(format!(
                    "Region {}: accessKeyId and secretAccessKey go together",
                    peer.region
                ));
            }
        }
        Ok(file)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("peers file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("peers file {}: {e}", path.display()))
    }

    /// The identities a crypto service trusts, named by Region.
    pub fn trust(&self) -> Peers {
        Peers::new(self.peers.iter().flat_map(|peer| {
            peer.identities
                .iter()
                .map(move |id| (peer.region.clone(), *id))
        }))
    }

    pub fn region(&self, region: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.region == region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032's first two test public keys.
    const ID: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const ID2: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

    #[test]
    fn replica_namespaces_name_which_keys_keep_their_namespace() {
        let file = |listed: &str| {
            PeersFile::parse(&format!(
                "peers:\n  - region: eu-west-1\n    identities: [{ID}]\n    principal: replicator\n    replicaNamespaces: {listed}\n"
            ))
        };
        let west = file("[team-a, b2]").unwrap();
        let west = west.region("eu-west-1").unwrap();
        assert!(west.keeps_namespace("team-a"));
        assert!(west.keeps_namespace("b2"));
        assert!(!west.keeps_namespace("team-b"));
        let any = file("['*']").unwrap();
        let any = any.region("eu-west-1").unwrap();
        assert!(any.keeps_namespace("team-b"));
        // Not a namespace anywhere: never kept, `*` or not.
        for odd in ["", "Team-A", "-a", "a-", "a/b", &"a".repeat(64)] {
            assert!(!any.keeps_namespace(odd), "{odd:?}");
        }
        assert!(any.keeps_namespace(&"a".repeat(63)));
        // None listed (the default): every replica to the principal's.
        let none = PeersFile::parse(&format!(
            "peers:\n  - region: eu-west-1\n    identities: [{ID}]\n"
        ))
        .unwrap();
        assert!(!none.region("eu-west-1").unwrap().keeps_namespace("team-a"));
        let err = file("[team_a]").unwrap_err();
        assert!(
            err.contains("replicaNamespaces: 'team_a' is not a namespace name"),
            "{err}"
        );
    }

    #[test]
    fn a_peers_file_reads_and_refuses_what_is_wrong() {
        let text = format!(
            "peers:\n  - region: eu-west-1\n    identities: [{ID}]\n    endpoint: http://127.0.0.1:4601\n    accessKeyId: AK\n    secretAccessKey: SK\n    principal: replicator\n  - region: us-west-2\n    identities: [{ID2}]\n"
        );
        let file = PeersFile::parse(&text).unwrap();
        assert_eq!(file.peers.len(), 2);
        let west = file.region("eu-west-1").unwrap();
        assert_eq!(west.endpoint.as_deref(), Some("http://127.0.0.1:4601"));
        assert_eq!(west.principal.as_deref(), Some("replicator"));
        assert!(!file.trust().is_empty());
        for (bad, why) in [
            (text.replace("eu-west-1", "us-west-2"), "listed twice"),
            (
                text.replace("region: eu-west-1", "region: Europe"),
                "not a Region",
            ),
            (text.replace(ID, "abc"), "not an identity"),
            (text.replace("    accessKeyId: AK\n", ""), "go together"),
            (text.replace("principal:", "principle:"), "unknown field"),
            (text.replace("http://", "https://"), "needs caFile"),
            (text.replace(ID2, ID), "listed for both"),
            (
                text.replace("http://", "ftp://"),
                "not an http:// or https:// URL",
            ),
            (
                text.replace(&format!("[{ID}]\n    endpoint"), "[]\n    endpoint"),
                "at least one",
            ),
        ] {
            let err = PeersFile::parse(&bad).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
        assert!(PeersFile::parse("peers: []").unwrap().trust().is_empty());
        for (name, ok) in [
            ("eu-west-1", true),
            ("us-gov-west-1", true),
            ("cn-north-1", true),
            ("local-1", false),
            ("a-b-c-d-1", false),
            ("eu-west-", false),
            ("eu-West-1", false),
            ("eu--1", false),
        ] {
            assert_eq!(is_region(name), ok, "{name}");
        }
    }
}
