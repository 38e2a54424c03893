//! The crypto service over gRPC on a unix socket: the server that wraps any
//! [`CryptoService`](super::CryptoService) and the client that implements
//! the same trait, so callers cannot tell the two paths apart.

mod client;
mod convert;
mod server;
mod socket;

pub use client::GrpcCryptoClient;
pub use server::{CryptoGrpcServer, serve};
pub use socket::{bind_socket, unix_channel};

#[allow(clippy::all, clippy::pedantic)]
pub(crate) mod pb {
    tonic::include_proto!("kubekms.crypto.v1");
}
