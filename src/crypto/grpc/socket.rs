//! Unix socket lifecycle: private mode, stale-socket cleanup that never
//! deletes anything but a socket.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tonic::transport::{Channel, Endpoint, Uri};

/// A gRPC channel to the unix socket at `path`, dialled on first use and
/// re-dialled after a broken connection. The `:authority` is `localhost`,
/// as kube-apiserver sends it to a KMS plugin.
pub fn unix_channel(path: &Path, timeout: std::time::Duration) -> Channel {
    let path = path.to_owned();
    Endpoint::from_static("http://localhost")
        .timeout(timeout)
        .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                tokio::net::UnixStream::connect(path)
                    .await
                    .map(TokioIo::new)
            }
        }))
}

/// Binds `path` with mode 0600. A leftover socket from a previous run is
/// removed; any other file at `path` is an error, never deleted.
///
/// The socket is bound under a temporary name, restricted to 0600, then
/// renamed into place, so it is never reachable with looser permissions.
pub fn bind_socket(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to remove it",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "socket path has no file name",
        )
    })?;
    let staging = path.with_file_name(format!(
        ".{}.{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging)?;
    let placed = std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&staging, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&staging);
        return Err(e);
    }
    Ok(listener)
}
