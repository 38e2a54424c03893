//! Unix socket lifecycle: private mode, stale-socket cleanup that never
//! deletes anything but a socket.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
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
/// The socket is bound in a fresh directory only its owner can enter,
/// restricted to 0600 there, then renamed into place: between the bind and
/// the chmod it has whatever mode the umask gives, and nobody else may
/// reach it meanwhile, whatever the umask.
pub fn bind_socket(path: &Path) -> std::io::Result<UnixListener> {
    bind_socket_staged(path, |_| {})
}

fn bind_socket_staged(path: &Path, bound: impl FnOnce(&Path)) -> std::io::Result<UnixListener> {
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
    if path.file_name().is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "socket path has no file name",
        ));
    }
    // Short names (a socket's path may be at most 107 bytes): `.<8 hex>/s`
    // beside the socket. Random: in a container every run is pid 1, and a
    // directory left by a killed run must not stop the next one.
    let staging_dir = path.with_file_name(format!(
        ".{}",
        hex::encode(&crate::material::random_bytes(4)[..])
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging_dir)?;
    let staging = staging_dir.join("s");
    let placed = UnixListener::bind(&staging).and_then(|listener| {
        bound(&staging);
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staging, path)?;
        Ok(listener)
    });
    if placed.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    let _ = std::fs::remove_dir(&staging_dir);
    placed
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[tokio::test]
    async fn the_socket_is_out_of_reach_until_it_is_private() {
        let dir = tempfile::tempdir().unwrap();
        // A directory others may enter, as a socket's usually is.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("crypto.sock");
        let mut seen = None;
        let _listener = bind_socket_staged(&path, |staging| {
            let parent = staging.parent().unwrap();
            seen = Some((
                parent.parent().unwrap().to_owned(),
                std::fs::metadata(parent).unwrap().mode() & 0o777,
                std::fs::symlink_metadata(staging)
                    .unwrap()
                    .file_type()
                    .is_socket(),
            ));
        })
        .unwrap();
        assert_eq!(seen, Some((dir.path().to_owned(), 0o700, true)));
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["crypto.sock"], "nothing staged is left behind");
        std::os::unix::net::UnixStream::connect(&path).expect("it listens where asked");
    }

    #[tokio::test]
    async fn a_socket_that_cannot_be_placed_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crypto.sock");
        // Something takes the name while the socket is staged.
        let err = bind_socket_staged(&path, |_| {
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("kept"), b"").unwrap();
        })
        .expect_err("a directory cannot be replaced by the socket");
        assert_ne!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["crypto.sock"]);
        assert!(path.join("kept").exists());
    }
}
