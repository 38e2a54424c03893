//! The audit trail: one record per endpoint call, shaped like the
//! CloudTrail record AWS KMS writes (`record`, its request members as
//! `parameters`), as JSON lines chained by
//! hashes so that `kube-kms audit verify` finds a removed or altered
//! record (`chain`), written off the request path (`writer`) to standard output or a file
//! rotated by size (`trail`).

pub mod chain;
pub mod parameters;
mod queue;
pub mod record;
pub mod trail;
mod writer;

pub use parameters::RequestParameters;
pub use record::Call;
pub use trail::Rotation;
pub use writer::{AuditLog, Destination};
