//! Keeps a kube-kms process's memory to itself: no core dumps, no ptrace.
//!
//! Every role holds secrets in memory: the crypto service and `serve` the
//! root key and unsealed keys, the endpoint its callers' SigV4 secrets, the
//! controller its API server token. A core dump would write them to disk
//! (systemd-coredump and most crash collectors keep them), and a process of
//! the same user could read them through ptrace or `/proc/<pid>/mem`. A
//! non-dumpable process (`PR_SET_DUMPABLE` 0) refuses both to any process
//! without `CAP_SYS_PTRACE`; and a core size limit of 0 stops the dumps the
//! kernel's `suid_dumpable` setting would still allow of it (a file the
//! kernel writes honours the limit, and so does systemd-coredump behind a
//! piped `core_pattern`).

use rustix::process::{DumpableBehavior, Resource, Rlimit};

/// Applies both, before anything secret is read. Lowering a limit and
/// clearing the flag cannot fail for an unprivileged process; an error is
/// the kernel refusing, and worth stopping for.
pub fn keep_private() -> std::io::Result<()> {
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    rustix::process::setrlimit(Resource::Core, none)?;
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}
