//! The audit trail on the command line: where `serve` and `api` write it
//! (`--audit-log`), and `kube-kms audit verify`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use kube_kms::api::ArnConfig;
use kube_kms::audit::{AuditLog, Destination, Rotation, chain};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Where the audit trail goes, a record per call: a file (created with
    /// mode 0600 and continued across restarts), `-` for standard output,
    /// or `off`. Default: `audit.jsonl` in the data directory for `serve`,
    /// `-` for `api`, `plugin` and `controller`.
    #[arg(long, env = "KUBE_KMS_AUDIT_LOG")]
    pub audit_log: Option<String>,
    /// A file trail is rotated once it holds this many MiB: renamed
    /// `<file>.<UTC time>` and a new file begun, the chain going on. 0:
    /// never.
    #[arg(long, env = "KUBE_KMS_AUDIT_LOG_MAX_SIZE_MIB", default_value_t = 100)]
    pub audit_log_max_size_mib: u64,
    /// Rotated files kept, the oldest removed beyond it. 0: all (the
    /// default; no record is removed unless this is set).
    #[arg(long, env = "KUBE_KMS_AUDIT_LOG_MAX_BACKUPS", default_value_t = 0)]
    pub audit_log_max_backups: usize,
}

impl AuditArgs {
    /// Opens the trail: the file `default`, or standard output if none,
    /// unless told otherwise.
    /// Its counters go to `registry`, if metrics are served.
    pub fn open(
        &self,
        default: Option<PathBuf>,
        arn: ArnConfig,
        registry: Option<&prometheus::Registry>,
    ) -> anyhow::Result<Option<AuditLog>> {
        let rotation = Rotation {
            max_bytes: self.audit_log_max_size_mib.saturating_mul(1024 * 1024),
            keep: self.audit_log_max_backups,
        };
        let destination = match self.audit_log.as_deref() {
            Some("off") => {
                tracing::warn!("--audit-log off: calls are not recorded");
                return Ok(None);
            }
            Some("-") => Destination::Stdout,
            Some(path) => Destination::File(PathBuf::from(path), rotation),
            None => match default {
                Some(path) => Destination::File(path, rotation),
                None => Destination::Stdout,
            },
        };
        let log = AuditLog::open(&destination, arn)
            .with_context(|| format!("opening the audit trail {destination:?}"))?;
        if let Some(registry) = registry {
            log.register(registry);
        }
        match &destination {
            Destination::File(path, _) => {
                tracing::info!(path = %path.display(), "audit trail: a record per call")
            }
            Destination::Stdout => tracing::info!("audit trail on standard output"),
        }
        Ok(Some(log))
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check an audit trail's hash chain: every record follows the one
    /// before it, none removed, reordered or altered. Exits 1 where it
    /// breaks. Other lines (a container log's) are passed over.
    Verify {
        /// The trail (JSON lines, as `--audit-log` writes them, or a
        /// container log holding them); a rotated trail as its files in
        /// the order written, oldest first:
        /// `audit.jsonl.2* audit.jsonl`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The last hash an earlier verify printed: fails unless the
        /// record it names is still in the trail, so records cut from
        /// the end since then show.
        #[arg(long, value_name = "HASH")]
        kept_hash: Option<String>,
    },
}

pub fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { files, kept_hash } => verify(&files, kept_hash.as_deref()),
    }
}

fn verify(paths: &[PathBuf], kept_hash: Option<&str>) -> anyhow::Result<()> {
    let mut trail: Box<dyn std::io::Read> = Box::new(std::io::empty());
    for path in paths {
        let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
        trail = Box::new(std::io::Read::chain(trail, file));
    }
    let trail_name = match paths {
        [one] => one.display().to_string(),
        [first, .., last] => format!("{} to {}", first.display(), last.display()),
        [] => unreachable!("clap requires a file"),
    };
    let verified =
        chain::verify_holding(std::io::BufReader::new(trail), kept_hash).map_err(|broken| {
            if broken.line == 0 {
                // Of the whole trail, not of a line.
                return anyhow::anyhow!("{trail_name}: {}", broken.why);
            }
            let (path, line) = locate(paths, broken.line);
            anyhow::anyhow!(
                "{}: the chain breaks at line {line}: {}",
                path.display(),
                broken.why
            )
        })?;
    let mut others = match verified.other_lines {
        0 => String::new(),
        n => format!(" ({n} other lines, not records, passed over)"),
    };
    if verified.unfinished {
        others.push_str(
            "; the last line is unfinished (a record still being written, or cut part-way), passed over",
        );
    }
    if verified.chains > 1 {
        others.push_str(&format!(
            "; {} chains, one per start of the process that wrote them",
            verified.chains
        ));
    }
    println!(
        "{trail_name}: {} records, sequence {} to {}, chain intact{others}; the last record's hash is {} (keep it: --kept-hash checks later that no record was cut from the end)",
        verified.records, verified.first_sequence, verified.last_sequence, verified.last_hash
    );
    Ok(())
}

/// The file and line within it of `line`, counted through `paths` read
/// one after another (each file ends with a newline, as the writer leaves
/// them).
fn locate(paths: &[PathBuf], line: u64) -> (&Path, u64) {
    let mut before = 0;
    for path in paths {
        let lines = std::fs::read(path)
            .map(|text| text.iter().filter(|b| **b == b'\n').count() as u64)
            .unwrap_or(0);
        if line <= before + lines {
            return (path, line - before);
        }
        before += lines;
    }
    (paths.last().map_or(Path::new("-"), |p| p), line - before)
}
