//! KUBE_KMS_BENCH_PIN: the servers on all cores but the last, the load
//! generator alone on the last (util-linux's `taskset`), so the load
//! generator's own CPU no longer shares the servers' cores. Without it the
//! two share every core, and the load generator's cost, the same for every
//! server, narrows the gap between a cheap server and a costly one. CPUs
//! are taken to be numbered 0 to n-1, as on a machine or VM of its own.

use std::process::Command;

pub struct Pinning {
    /// The load generator's core, the last one; the servers have every
    /// core before it.
    client_cpu: usize,
}

impl Pinning {
    /// The pinning KUBE_KMS_BENCH_PIN asks for on a machine of `cores`, if
    /// it asks and the machine has the two cores it needs.
    pub fn from_env(cores: usize) -> Option<Pinning> {
        std::env::var_os("KUBE_KMS_BENCH_PIN")?;
        if cores < 2 {
            println!(
                "KUBE_KMS_BENCH_PIN needs at least 2 cores, this machine has {cores}: not pinned"
            );
            return None;
        }
        Some(Pinning {
            client_cpu: cores - 1,
        })
    }

    pub fn server_cores(&self) -> usize {
        self.client_cpu
    }

    /// The servers' cores, as `taskset -c` takes them.
    fn server_cpus(&self) -> String {
        match self.server_cores() {
            1 => "0".into(),
            n => format!("0-{}", n - 1),
        }
    }

    /// What a server's command line starts with.
    pub fn server_prefix(&self) -> Vec<String> {
        vec!["taskset".into(), "-c".into(), self.server_cpus()]
    }

    /// Moves this process onto the load generator's core; threads started
    /// afterwards (the load generator's runtime) stay there.
    pub fn pin_load_generator(&self) {
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", &self.client_cpu.to_string()])
            .arg(std::process::id().to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("taskset (util-linux)");
        assert!(status.success(), "taskset could not pin the load generator");
    }

    pub fn describe(&self) -> String {
        let cpus = if self.server_cores() == 1 {
            "cpu"
        } else {
            "cpus"
        };
        format!(
            "servers on {cpus} {}, load generator alone on cpu {}",
            self.server_cpus(),
            self.client_cpu
        )
    }
}
