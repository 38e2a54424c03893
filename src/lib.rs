//! kube-kms: a Kubernetes-native key management service speaking the AWS KMS
//! API. This crate is one binary with several roles; see `docs/` and the
//! README for the architecture.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod b64;
pub mod ciphertext;
pub mod cluster;
pub mod crypto;
pub mod declared;
pub mod file_stamp;
pub mod grant;
pub mod import;
pub mod key;
pub mod key_id;
pub mod lifecycle;
pub mod manifest;
pub mod material;
pub mod operator;
pub mod plugin;
pub mod policy;
pub mod private_memory;
pub mod reminder;
pub mod replica;
pub mod request_id;
pub mod reseal;
pub mod resource;
pub mod root;
pub mod root_check;
pub mod seal;
pub mod secret;
pub mod serve;
pub mod spec;
pub mod store;
pub mod tag;
pub mod telemetry;
pub mod unknown_fields;
pub mod usage;
