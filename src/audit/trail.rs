//! The audit trail as a file: opened for appending after removing a last
//! line a crash cut short, and rotated by size. A full file is renamed
//! `<name>.<UTC time of rotation>` (names that sort in the order written)
//! and a new one begun; the chain goes on across them, also when the
//! process starts again with an empty file. Rotated files beyond a count,
//! oldest first, are removed, if a count is set.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::chain::Link;
use crate::key::Millis;

/// When the trail's file is rotated, and how many rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once the file holds this many bytes; 0: never.
    pub max_bytes: u64,
    /// Rotated files kept, newest first; 0: all.
    pub keep: usize,
}

impl Rotation {
    pub const NEVER: Rotation = Rotation {
        max_bytes: 0,
        keep: 0,
    };
}

/// The open trail: where records are appended.
pub struct TrailFile {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl TrailFile {
    /// Opens `path` for appending; returns it with the chain's state after
    /// its last record, or after the newest rotated file's when `path` is
    /// empty.
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<(TrailFile, Link)> {
        let (file, size, last) = open_for_append(path)?;
        let last = match last {
            Some(line) => Some((path.to_owned(), line)),
            None => match rotated(path)?.pop() {
                Some(newest) => last_line(&newest)?.map(|line| (newest, line)),
                None => None,
            },
        };
        let link = match last {
            None => Link::genesis(),
            Some((file, line)) => Link::following(&line).ok_or_else(|| {
                std::io::Error::other(format!(
                    "{}: its last line is not a chained audit record; move the file aside to start a new trail",
                    file.display()
                ))
            })?,
        };
        let trail = TrailFile {
            path: path.to_owned(),
            file,
            size,
            rotation,
        };
        Ok((trail, link))
    }

    /// Appends whole lines.
    pub fn write_all(&mut self, lines: &[u8]) -> std::io::Result<()> {
        self.file.write_all(lines)?;
        self.size += lines.len() as u64;
        Ok(())
    }

    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Rotates the file if it is full (after a whole batch, so no record
    /// is split across files), made at `now`. The full file is synced
    /// before it is renamed: rotation is never where records are lost.
    pub fn rotate_if_full(&mut self, now: Millis) -> std::io::Result<()> {
        if self.rotation.max_bytes == 0 || self.size < self.rotation.max_bytes {
            return Ok(());
        }
        self.file.sync_data()?;
        let name = self.rotated_name(now)?;
        match std::fs::rename(&self.path, &name) {
            Ok(()) => {}
            // Renamed on an earlier try whose new file could not be made.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (file, size, _) = open_for_append(&self.path)?;
        sync_directory(&self.path)?;
        self.file = file;
        self.size = size;
        tracing::info!(rotated = %name.display(), "audit trail rotated");
        if let Err(e) = self.remove_oldest() {
            tracing::warn!(error = %e, "old rotated audit trail files could not be removed");
        }
        Ok(())
    }

    /// Removes the rotated files beyond the count kept, oldest first.
    fn remove_oldest(&self) -> std::io::Result<()> {
        if self.rotation.keep == 0 {
            return Ok(());
        }
        let mut old = rotated(&self.path)?;
        let excess = old.len().saturating_sub(self.rotation.keep);
        for file in old.drain(..excess) {
            std::fs::remove_file(&file)?;
            tracing::info!(removed = %file.display(), keep = self.rotation.keep, "old audit trail file removed");
        }
        Ok(())
    }

    /// `<path>.<UTC time, to the millisecond>`, with `-<n>` if that is
    /// taken. Never a name that sorts before a rotated file already there:
    /// after the clock stepped back, the newest file's time is used again
    /// with the next `-<n>`, so the oldest files are still the ones removed
    /// and a restart still continues the chain from the newest.
    fn rotated_name(&self, now: Millis) -> std::io::Result<PathBuf> {
        let stamp = k8s_openapi::jiff::Timestamp::from_millisecond(now)
            .unwrap_or_default()
            .strftime("%Y%m%dT%H%M%S%3fZ")
            .to_string();
        let (stamp, first) = match rotated_in_order(&self.path)?.pop() {
            Some(((newest, n), _)) if newest >= stamp => (newest, n + 1),
            _ => (stamp, 0),
        };
        let base = format!("{}.{stamp}", self.path.display());
        Ok((first..)
            .map(|n| match n {
                0 => PathBuf::from(&base),
                n => PathBuf::from(format!("{base}-{n}")),
            })
            .find(|name| !name.exists())
            .expect("some name is free"))
    }
}

/// Opens (creating, 0600) `path` for appending; removes a last line a crash
/// cut short; returns the file, its size and its last line. Reads only the
/// end of the file, however long the trail.
fn open_for_append(path: &Path) -> std::io::Result<(File, u64, Option<Vec<u8>>)> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let len = file.metadata()?.len();
    let (whole, last) = tail(&file, len)?;
    if whole < len {
        tracing::warn!(
            path = %path.display(),
            bytes = len - whole,
            "the audit trail's last line was cut short (a crash while writing it); removing it"
        );
        file.set_len(whole)?;
        file.sync_data()?;
    }
    Ok((file, whole, last))
}

fn last_line(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    Ok(tail(&file, len)?.1)
}

/// Where the whole lines of `file` (`len` bytes) end, and the last of them
/// (`None` if there is none, or it is empty), read backwards a block at a
/// time from the end.
fn tail(file: &File, len: u64) -> std::io::Result<(u64, Option<Vec<u8>>)> {
    const BLOCK: u64 = 64 * 1024;
    // file[start..len], read so far.
    let mut start = len;
    let mut read = Vec::new();
    loop {
        if let Some(end) = read.iter().rposition(|b| *b == b'\n') {
            let begins = read[..end].iter().rposition(|b| *b == b'\n');
            if begins.is_some() || start == 0 {
                let line = &read[begins.map_or(0, |i| i + 1)..end];
                let last = (!line.is_empty()).then(|| line.to_vec());
                return Ok((start + end as u64 + 1, last));
            }
        } else if start == 0 {
            return Ok((0, None));
        }
        let n = BLOCK.min(start);
        start -= n;
        let mut block = vec![0; n as usize];
        file.read_exact_at(&mut block, start)?;
        block.extend_from_slice(&read);
        read = block;
    }
}

/// The rotated files of the trail at `path`, oldest first.
pub fn rotated(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(rotated_in_order(path)?
        .into_iter()
        .map(|(_, path)| path)
        .collect())
}

/// [`rotated`], each with the order its name gives it.
fn rotated_in_order(path: &Path) -> std::io::Result<Vec<((String, u32), PathBuf)>> {
    let Some(name) = path.file_name() else {
        return Ok(Vec::new());
    };
    let dir = directory(path);
    let prefix = format!("{}.", name.to_string_lossy());
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(order) = file_name.strip_prefix(&prefix).and_then(rotation_order) else {
            continue;
        };
        found.push((order, dir.join(&file_name)));
    }
    found.sort();
    Ok(found)
}

/// `(stamp, n)` of a rotated file's suffix, `20261204T114512345Z[-n]`.
fn rotation_order(suffix: &str) -> Option<(String, u32)> {
    let (stamp, n) = match suffix.split_once('-') {
        Some((stamp, n)) => (stamp, n.parse().ok()?),
        None => (suffix, 0),
    };
    let shaped = stamp.len() == 19
        && stamp.ends_with('Z')
        && stamp.as_bytes()[8] == b'T'
        && stamp
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!(i, 8 | 18) || b.is_ascii_digit());
    shaped.then(|| (stamp.to_owned(), n))
}

/// The directory `path` is in (`.` for a bare file name).
fn directory(path: &Path) -> &Path {
    path.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn sync_directory(path: &Path) -> std::io::Result<()> {
    File::open(directory(path))?.sync_all()
}

#[cfg(test)]
mod tests;
