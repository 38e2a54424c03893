//! Every kube-kms container the chart renders gets past its command line:
//! its args and environment, given to this build's binary, parse. clap
//! exits with status 2 on a flag it does not take, a value out of range or
//! flags that conflict (`--crypto-socket` beside the in-process crypto
//! service's flags, say), and a pod that did would crash-loop. And every
//! variable it sets is one its role reads: clap ignores any other, so a
//! misspelt one would leave a setting at its default unseen. The commands
//! the README runs in a container (`kubectl exec deploy/… -c … --
//! kube-kms …`) parse there too, in that container's environment.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{find, helm, render};

/// A container of a workload: its name, args and environment (a value
/// from the downward API or a Secret stands in as `x`).
struct Container {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn containers(objects: &[Value]) -> Vec<Container> {
    let workloads = objects.iter().filter(|o| {
        matches!(
            o["kind"].as_str(),
            Some("Deployment" | "DaemonSet" | "StatefulSet")
        )
    });
    let mut found = Vec::new();
    for workload in workloads {
        for container in workload["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
        {
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect()
            };
            let env = container["env"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let value = e["value"].as_str().unwrap_or("x");
                    (e["name"].as_str().unwrap().to_owned(), value.to_owned())
                })
                .collect();
            found.push(Container {
                name: format!(
                    "{}/{}",
                    workload["metadata"]["name"].as_str().unwrap(),
                    container["name"].as_str().unwrap()
                ),
                args: strings(&container["args"]),
                env,
            });
        }
    }
    found
}

/// Runs `kube-kms args` with only `env`; it then fails for want of a
/// cluster or a root key (status 1), or is stopped after a few seconds if
/// it got further. Returns its standard error if clap refused it.
fn refused_by_clap(args: &[String], env: &[(String, String)]) -> Option<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code() == Some(2)).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_container_the_chart_renders_takes_its_command_line() {
    let Some(helm) = helm() else { return };
    for sets in [
        &[][..],
        &["watchNamespace=team-a"],
        &[
            "api.tlsSecretName=kms-tls",
            "api.peersSecretName=kms-peers",
            "api.requestQuotas=off",
            "api.requestQuota={cryptographic=100,CreateKey=5}",
            "api.accountAccess=any-caller",
            "api.maxConnections=100",
            "controller.maxConcurrentReconciles=2",
            "crypto.ciphertextFormat=1",
            "crypto.cacheEntries=16",
            "crypto.cacheTtlSeconds=30",
        ],
    ] {
        let objects = render(&helm, sets);
        let containers = containers(&objects);
        let mut roles: Vec<_> = containers.iter().map(|c| c.args.join(" ")).collect();
        roles.sort();
        assert_eq!(roles, ["api", "controller", "crypto", "crypto"], "{sets:?}");
        for Container { name, args, env } in &containers {
            let help = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
                .args(args)
                .arg("--help")
                .env_clear()
                .output()
                .unwrap();
            let help = String::from_utf8(help.stdout).unwrap();
            for (variable, _) in env {
                assert!(
                    help.contains(&format!("[env: {variable}=")),
                    "{name} with {sets:?}: kube-kms {args:?} reads no {variable}"
                );
            }
            if let Some(error) = refused_by_clap(args, env) {
                panic!(
                    "{name} with {sets:?}: kube-kms {args:?} refuses its command line:\n{error}"
                );
            }
        }
    }
}

/// `kubectl … exec deploy/NAME -c CONTAINER -- kube-kms ARGS` in `text`:
/// (NAME, CONTAINER, ARGS).
fn exec_commands(text: &str) -> Vec<(String, String, Vec<String>)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let words: Vec<_> = line
            .split(" #")
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        let (Some(deploy), Some(container), Some(command)) = (
            words.iter().find_map(|w| w.strip_prefix("deploy/")),
            words
                .iter()
                .position(|w| *w == "-c")
                .map(|at| words[at + 1]),
            words.windows(2).position(|w| w == ["--", "kube-kms"]),
        ) else {
            continue;
        };
        if words.first() == Some(&"kubectl") && words.contains(&"exec") {
            let args = words[command + 2..].iter().map(|w| w.to_string()).collect();
            found.push((deploy.to_owned(), container.to_owned(), args));
        }
    }
    found
}

#[test]
fn commands_the_readme_runs_in_a_container_take_its_environment() {
    let Some(helm) = helm() else { return };
    let objects = render(&helm, &[]);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let commands = exec_commands(&readme);
    assert!(
        !commands.is_empty(),
        "the README runs no kube-kms in a container"
    );
    for (deploy, name, args) in commands {
        let deployment = find(&objects, "Deployment", &deploy);
        let Container { env, .. } = containers(std::slice::from_ref(deployment))
            .into_iter()
            .find(|c| c.name == format!("{deploy}/{name}"))
            .unwrap_or_else(|| panic!("no container {name} in {deploy}"));
        if let Some(error) = refused_by_clap(&args, &env) {
            panic!("kube-kms {args:?} in {deploy}/{name} is refused:\n{error}");
        }
    }
}
