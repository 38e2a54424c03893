//! Who is calling: AWS SigV4 verification against configured credentials.

pub mod credentials;
pub mod sigv4;

pub use credentials::{Credential, Credentials};
pub use sigv4::{AuthError, SignedRequest, verify};
