//! A change of imported key material asked of the controller: the
//! endpoint's ImportKeyMaterial and DeleteImportedKeyMaterial in a cluster,
//! where the controller is the only writer of key material. The request is
//! the `kubekms.io/material` annotation of the key's `KmsKey`; the
//! controller carries it out once (its Secret remembers the request id) and
//! then removes the annotation, so the sealed material does not stay
//! outside the key's Secret. While the annotation is there, the change is
//! in progress.

use serde::{Deserialize, Serialize};

use crate::key::Millis;

pub const MATERIAL_ANNOTATION: &str = "kubekms.io/material";

/// One request, as the annotation's JSON value holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaterialRequest {
    /// Unique per request: `api-<ms since the epoch>-<8 hex digits>`.
    pub request: String,
    #[serde(flatten)]
    pub change: MaterialChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum MaterialChange {
    /// Imported material, sealed by the crypto service for the key's
    /// version `version` (base64), with what describes it.
    #[serde(rename_all = "camelCase")]
    Import {
        sealed: String,
        material_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid_to: Option<Millis>,
        #[serde(default)]
        description: String,
        /// 1 in requests from before keys of imported material rotated.
        #[serde(default = "first_version")]
        version: u32,
        /// New material for the next on-demand rotation.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pending: bool,
    },
    /// A multi-Region key's Regions as the endpoint now knows them, and
    /// material versions from its primary (base64; sealed here by this
    /// Region's crypto service, which accepted the primary's packages).
    /// The key keeps every version it has. A replica of imported material
    /// gets no material: `imported` says which material is which version
    /// (`lifecycle::imported::regions`), and `regions` what its primary
    /// holds pending rotation.
    #[serde(rename_all = "camelCase")]
    Replicate {
        regions: crate::key::Regions,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sealed: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        imported: Vec<crate::key::SharedMaterial>,
    },
    /// Delete imported material: the one `material_id` names, else the
    /// current version's.
    #[serde(rename_all = "camelCase")]
    Delete {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        material_id: Option<String>,
    },
}

fn first_version() -> u32 {
    1
}

impl MaterialRequest {
    /// A request made at `now`.
    pub fn new(change: MaterialChange, now: Millis) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        MaterialRequest {
            request: format!("api-{now}-{}", &unique[..8]),
            change,
        }
    }

    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).expect("a request serializes")
    }

    pub fn from_annotation(value: &str) -> Result<Self, String> {
        serde_json::from_str(value)
            .map_err(|e| format!("the {MATERIAL_ANNOTATION} annotation does not parse: {e}"))
    }

    /// When the request was made, from its id.
    pub fn requested_at(&self) -> Option<Millis> {
        let rest = self.request.strip_prefix("api-")?;
        rest.split_once('-')?.0.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_back_as_written_and_say_when_they_were_made() {
        let import = MaterialRequest::new(
            MaterialChange::Import {
                sealed: "AAEC".into(),
                material_id: "ab".repeat(32),
                valid_to: Some(1_700_086_400_000),
                description: "hsm".into(),
                version: 2,
                pending: true,
            },
            1_700_000_000_000,
        );
        let text = import.to_annotation();
        assert!(text.contains(r#""action":"import""#), "{text}");
        assert!(text.contains(r#""materialId":"#), "{text}");
        assert_eq!(MaterialRequest::from_annotation(&text), Ok(import.clone()));
        assert_eq!(import.requested_at(), Some(1_700_000_000_000));
        let delete = MaterialRequest::new(MaterialChange::Delete { material_id: None }, 5);
        assert_eq!(
            MaterialRequest::from_annotation(&delete.to_annotation()),
            Ok(delete.clone())
        );
        assert_ne!(
            delete.request,
            MaterialRequest::new(MaterialChange::Delete { material_id: None }, 5).request
        );
        // As written before keys of imported material rotated.
        let earlier =
            r#"{"request":"api-1-00000000","action":"import","sealed":"AAEC","materialId":"ab"}"#;
        assert!(matches!(
            MaterialRequest::from_annotation(earlier).unwrap().change,
            MaterialChange::Import {
                version: 1,
                pending: false,
                ..
            }
        ));
        let earlier = r#"{"request":"api-1-00000000","action":"delete"}"#;
        assert_eq!(
            MaterialRequest::from_annotation(earlier).unwrap().change,
            MaterialChange::Delete { material_id: None }
        );
        assert!(MaterialRequest::from_annotation(r#"{"request":"x","action":"rotate"}"#).is_err());
        assert!(MaterialRequest::from_annotation("by hand").is_err());
    }
}
