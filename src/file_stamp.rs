//! What tells a changed file from the one last read, for the files a
//! process follows while it runs (credentials, peers): a rewrite in place
//! changes its time or length, a rename over it (a Kubernetes Secret
//! volume's update) its inode.

use std::path::Path;

/// A file's stamp; `None` while it cannot be read.
pub type Stamp = Option<(std::time::SystemTime, u64, u64)>;

pub fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// Calls `changed` each time the file at `path` changes, checked every
/// `every`, for as long as it runs.
pub async fn follow(path: &Path, every: std::time::Duration, mut changed: impl FnMut()) {
    let mut seen = stamp(path);
    loop {
        tokio::time::sleep(every).await;
        let now = stamp(path);
        if now != seen {
            seen = now;
            changed();
        }
    }
}
