//! Shared by the tests that need a Kubernetes cluster: the cluster named by
//! `KUBE_KMS_E2E_KUBECONFIG`, a fresh namespace, the CRDs, and the
//! controller binary running out of cluster against it.
#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use kube_kms::resource::{KmsAlias, KmsGrant, KmsKey};

use crate::skip::skipped;

pub mod admission;
pub mod callers;
pub mod cleanup;
pub mod manifests;

pub const KUBECONFIG_VAR: &str = "KUBE_KMS_E2E_KUBECONFIG";

pub struct Cluster {
    pub client: Client,
    pub kubeconfig: PathBuf,
    pub namespace: String,
    /// Whether dropping it removes its namespaces: only the cluster the
    /// test was given does, not a view of it ([`Cluster::viewed_as`]).
    removes_namespaces: bool,
}

impl Cluster {
    /// The same cluster through `kubeconfig` (another account's) and
    /// `namespace`; dropping it removes nothing.
    pub fn viewed_as(&self, kubeconfig: PathBuf, namespace: &str) -> Cluster {
        Cluster {
            client: self.client.clone(),
            kubeconfig,
            namespace: namespace.to_owned(),
            removes_namespaces: false,
        }
    }
}

/// The cluster to test against, or `None` with the reason printed: the
/// test then skips (and says so) instead of failing or faking a pass.
pub async fn cluster() -> Option<Cluster> {
    let Some(path) = std::env::var_os(KUBECONFIG_VAR).map(PathBuf::from) else {
        skipped(format_args!(
            "{KUBECONFIG_VAR} is not set; no cluster to test against"
        ));
        return None;
    };
    let client = match client_for(&path).await {
        Ok(client) => client,
        Err(e) => {
            skipped(format_args!(
                "cluster in {} not usable: {e}",
                path.display()
            ));
            return None;
        }
    };
    if let Err(e) = client.apiserver_version().await {
        skipped(format_args!(
            "cluster in {} not reachable: {e}",
            path.display()
        ));
        return None;
    }
    let namespace = format!(
        "kube-kms-e2e-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    create_namespace(&client, &namespace).await;
    install_crds(&client).await;
    Some(Cluster {
        client,
        kubeconfig: path,
        namespace,
        removes_namespaces: true,
    })
}

impl Drop for Cluster {
    /// The test's namespaces go with it (`cleanup`), unless it failed,
    /// when they are kept for a look, or `KUBE_KMS_E2E_KEEP_NAMESPACES` is
    /// set. The test's processes are gone by now (declared after the
    /// cluster, they were dropped first).
    fn drop(&mut self) {
        if !self.removes_namespaces {
            return;
        }
        if std::thread::panicking() || std::env::var_os(cleanup::KEEP_VAR).is_some() {
            eprintln!("namespace {} kept (and any {0}-…)", self.namespace);
            return;
        }
        // The test's runtime is blocked in this drop: another thread, with
        // a runtime and a client of its own.
        let (kubeconfig, prefix) = (self.kubeconfig.clone(), self.namespace.clone());
        let removed = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(cleanup::remove_namespaces(&kubeconfig, &prefix))
        })
        .join();
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("namespace {} not removed: {e}", self.namespace),
            Err(_) => eprintln!("namespace {} not removed: cleanup panicked", self.namespace),
        }
    }
}

/// A second namespace of the test's own (`<test namespace>-b`), made now.
pub async fn namespace_beside(cluster: &Cluster) -> String {
    let name = format!("{}-b", cluster.namespace);
    create_namespace(&cluster.client, &name).await;
    name
}

async fn create_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

async fn client_for(path: &PathBuf) -> Result<Client, String> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    Client::try_from(config).map_err(|e| e.to_string())
}

/// Server-side applies the CRDs and waits until they are served.
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("kube-kms-e2e").force();
    for crd in [KmsKey::crd(), KmsAlias::crd(), KmsGrant::crd()] {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .expect("apply CRD");
        wait_for(
            &format!("CRD {name} established"),
            Duration::from_secs(30),
            || async {
                let crd = crds.get(&name).await.ok()?;
                let established = crd
                    .status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                established.then_some(())
            },
        )
        .await;
    }
}

/// Polls `check` until it yields a value, or panics naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `kube-kms controller` process with its crypto service as a second
/// process on a unix socket, as the chart deploys them; killed on drop.
/// Each process binds port 0 and the test reads from its log where it
/// listens, so tests running side by side never race for a port.
pub struct Controller {
    pub child: Child,
    /// The controller's log so far (also echoed to the test's output).
    pub log: Log,
    crypto: Child,
    api: Option<Process>,
    /// Where `kube-kms api` serves /metrics, once started.
    pub api_metrics: Option<std::net::SocketAddr>,
    /// Where the controller serves /metrics.
    pub metrics: std::net::SocketAddr,
    dir: tempfile::TempDir,
    /// Flags every `kube-kms api` it starts gets besides the usual ones.
    api_args: Vec<std::ffi::OsString>,
    /// What the controller and every `kube-kms api` it starts watch
    /// (`--watch-namespace`): the test's namespace, or a list of several.
    scope: String,
}

impl Drop for Controller {
    fn drop(&mut self) {
        // The endpoint first: it uses the crypto service.
        self.api = None;
        for child in [&mut self.child, &mut self.crypto] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A process the test started, killed when dropped: a test that fails
/// half-way leaves nothing running against the cluster.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// A child process's stderr, read line by line as it comes.
#[derive(Clone)]
pub struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    ended: Arc<AtomicBool>,
}

impl Log {
    fn follow(child: &mut Child, name: &'static str) -> Log {
        let log = Log {
            lines: Arc::default(),
            ended: Arc::default(),
        };
        let stderr = child.stderr.take().expect("stderr piped");
        let (lines, ended) = (log.lines.clone(), log.ended.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{name}: {line}");
                lines.lock().unwrap().push(line);
            }
            ended.store(true, Ordering::SeqCst);
        });
        log
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The URL a `kube-kms api` serves on, once its log says it listens.
    pub fn endpoint(&self) -> String {
        let addr = self.address("kube-kms endpoint serving keys from the cluster");
        format!("http://{addr}")
    }

    /// The `addr=` of the first line saying `message`, waiting for it.
    fn address(&self, message: &str) -> std::net::SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self.lines.lock().unwrap().iter().find_map(|line| {
                let (_, rest) = line.split_once(message)?;
                rest.split("addr=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
            if let Some(addr) = found {
                return addr;
            }
            assert!(
                !self.ended.load(Ordering::SeqCst) && Instant::now() < deadline,
                "never logged {message:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What `kube-kms controller` and `kube-kms api` log, with `addr=`, once
/// their metrics port is bound.
const METRICS_LINE: &str = "metrics on /metrics";

impl Controller {
    /// The root key the crypto service seals with.
    pub fn root_key(&self) -> PathBuf {
        self.dir.path().join("root.key")
    }

    pub fn start(cluster: &Cluster) -> Controller {
        Controller::start_with(cluster, "kube-kms-e2e")
    }

    /// `start` with its own root key, holding Lease `lease`.
    pub fn start_with(cluster: &Cluster, lease: &str) -> Controller {
        Controller::start_in(
            cluster,
            lease,
            tempfile::tempdir().unwrap(),
            [&[], &[]],
            Vec::new(),
            &cluster.namespace,
        )
    }

    /// A Region of multi-Region keys: the root key `dir/root.key` (made
    /// before, so that its identity can go in the peers' files), the crypto
    /// service trusting the identities of `peers`, and every `kube-kms api`
    /// in `region` with those peers, all watching `scope` (the test's
    /// namespace, or several separated by commas).
    pub fn start_peered(
        cluster: &Cluster,
        dir: tempfile::TempDir,
        peers: &std::path::Path,
        region: &str,
        scope: &str,
    ) -> Controller {
        let crypto_args = ["--peers".into(), peers.into()];
        let in_region = ["--region".into(), region.into()];
        let mut api_args = crypto_args.to_vec();
        api_args.extend(in_region.clone());
        // Versions the controller adds reach the peers within a second.
        api_args.extend(["--replica-sync-seconds".into(), "1".into()]);
        let args = [&crypto_args[..], &in_region[..]];
        Controller::start_in(cluster, "kube-kms-e2e", dir, args, api_args, scope)
    }

    fn start_in(
        cluster: &Cluster,
        lease: &str,
        dir: tempfile::TempDir,
        [crypto_args, controller_args]: [&[std::ffi::OsString]; 2],
        api_args: Vec<std::ffi::OsString>,
        scope: &str,
    ) -> Controller {
        let socket = dir.path().join("crypto.sock");
        let crypto = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
            .arg("crypto")
            .arg("--socket")
            .arg(&socket)
            .arg("--root-key")
            .arg(dir.path().join("root.key"))
            .arg("--create-root-key")
            .args(crypto_args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kube-kms crypto");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
            .arg("controller")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .arg("--crypto-socket")
            .arg(&socket)
            .args(["--lease-namespace", &cluster.namespace])
            // Each test has its own namespace and its own controller.
            .args(["--watch-namespace", scope])
            .args(["--lease-name", lease])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(controller_args)
            .env("KUBE_KMS_LOG", "info,kube_client=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kube-kms controller");
        let log = Log::follow(&mut child, "controller");
        // Bound before the controller does anything else.
        let metrics = log.address(METRICS_LINE);
        Controller {
            child,
            log,
            crypto,
            api: None,
            api_metrics: None,
            metrics,
            dir,
            api_args,
            scope: scope.to_owned(),
        }
    }
}

impl Controller {
    /// Starts `kube-kms api` (sharing the crypto service) on a loopback port
    /// of its choosing and returns its URL once it listens.
    pub fn start_api(&mut self, cluster: &Cluster) -> String {
        let (api, log) = self.spawn_api(cluster);
        self.api = Some(api);
        self.api_metrics = Some(log.address(METRICS_LINE));
        log.endpoint()
    }

    /// Another replica of `kube-kms api`, as `start_api` starts it: the
    /// process (killed when dropped) and its URL once it listens.
    pub fn another_api(&self, cluster: &Cluster) -> (Process, String) {
        let (child, log) = self.spawn_api(cluster);
        (child, log.endpoint())
    }

    /// `kube-kms api` with this controller's crypto service, serving what
    /// the controller watches (the test's namespace), just started.
    pub fn spawn_api(&self, cluster: &Cluster) -> (Process, Log) {
        let socket = self.dir.path().join("crypto.sock");
        self.spawn_api_with(cluster, &["--crypto-socket".as_ref(), socket.as_ref()])
    }

    /// [`Controller::spawn_api`] without a crypto socket: the crypto
    /// service runs in the endpoint's process, with this controller's root
    /// key file (development only).
    pub fn spawn_api_in_process(&self, cluster: &Cluster) -> (Process, Log) {
        let root_key = self.root_key();
        self.spawn_api_with(cluster, &["--root-key".as_ref(), root_key.as_ref()])
    }

    fn spawn_api_with(&self, cluster: &Cluster, crypto: &[&std::ffi::OsStr]) -> (Process, Log) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
            .arg("api")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(crypto)
            .args(["--watch-namespace", &self.scope])
            .args(["--lease-namespace", &cluster.namespace])
            .args(["--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(&self.api_args)
            .env("KUBE_KMS_LOG", "info,kube_client=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kube-kms api");
        let log = Log::follow(&mut child, "api");
        (Process(child), log)
    }
}

/// `GET path` from `addr`: the whole response, or `None` while nothing
/// answers there.
pub fn get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: metrics\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// `GET /metrics` from `addr`, or `None` while it does not answer 200.
pub fn scrape(addr: std::net::SocketAddr) -> Option<String> {
    get(addr, "/metrics").filter(|text| text.starts_with("HTTP/1.1 200"))
}

/// The value of the sample `series` (name and labels, as exposed).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}
