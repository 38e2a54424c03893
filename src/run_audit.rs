//! The audit trail on the command line: where `serve` and `api` write it
//! (`--audit-log`), and `kube-kms audit verify`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use kube_kms::api::ArnConfig;
use kube_kms::audit::{AuditLog, Destination, chain};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Where the audit trail goes, a record per call: a file (created with
    /// mode 0600 and continued across restarts), `-` for standard output,
    /// or `off`. Default: `audit.jsonl` in the data directory for `serve`,
    /// `-` for `api` and `plugin`.
    #[arg(long, env = "KUBE_KMS_AUDIT_LOG")]
    pub audit_log: Option<String>,
}

impl AuditArgs {
    /// Opens the trail, at `default` unless told otherwise.
    pub fn open(&self, default: Destination, arn: ArnConfig) -> anyhow::Result<Option<AuditLog>> {
        let destination = match self.audit_log.as_deref() {
            Some("off") => {
                tracing::warn!("--audit-log off: calls are not recorded");
                return Ok(None);
            }
            Some("-") => Destination::Stdout,
            Some(path) => Destination::File(PathBuf::from(path)),
            None => default,
        };
        let log = AuditLog::open(&destination, arn)
            .with_context(|| format!("opening the audit trail {destination:?}"))?;
        match &destination {
            Destination::File(path) => {
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
        /// container log holding them).
        file: PathBuf,
    },
}

pub fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { file } => verify(&file),
    }
}

fn verify(path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let verified = chain::verify(std::io::BufReader::new(file))
        .map_err(|broken| anyhow::anyhow!("{}: the chain breaks at {broken}", path.display()))?;
    let mut others = match verified.other_lines {
        0 => String::new(),
        n => format!(" ({n} other lines, not records, passed over)"),
    };
    if verified.chains > 1 {
        others.push_str(&format!(
            "; {} chains, one per start of the process that wrote them",
            verified.chains
        ));
    }
    println!(
        "{}: {} records, sequence {} to {}, chain intact{others}; the last record's hash is {} (keep it to check later that no record was cut from the end)",
        path.display(),
        verified.records,
        verified.first_sequence,
        verified.last_sequence,
        verified.last_hash
    );
    Ok(())
}
