//! The KMS v2 plugin under a real kube-apiserver: Secrets land in etcd
//! envelope-encrypted with the plugin's key, read back, and move to the new
//! key_id after a rotation and a replace; after an apiserver restart, data
//! wrapped with the old version still decrypts.
//!
//! Runs when KUBE_KMS_E2E_APISERVER and KUBE_KMS_E2E_ETCD name kube-apiserver
//! and etcd binaries (1.29+ and 3.6); otherwise prints why it skipped. The
//! apiserver uses config/kms-plugin/encryption-configuration.yaml with only
//! the socket path changed, so the shipped example is what gets tested.

mod plugin;
mod skip;
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use plugin::Plugin;
use plugin::apiserver::ApiserverClient;
use support::Server;

const FIXTURE_KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const PROVIDER: &str = "kube-kms";

/// `k8s.io/apiserver/.../kmsv2/v2.EncryptedObject`, what etcd holds after
/// the `k8s:enc:kms:v2:<name>:` prefix.
#[derive(Clone, PartialEq, prost::Message)]
struct EncryptedObject {
    #[prost(bytes = "vec", tag = "1")]
    encrypted_data: Vec<u8>,
    #[prost(string, tag = "2")]
    key_id: String,
    #[prost(bytes = "vec", tag = "3")]
    encrypted_dek_source: Vec<u8>,
    #[prost(map = "string, bytes", tag = "4")]
    annotations: HashMap<String, Vec<u8>>,
    #[prost(int32, tag = "5")]
    encrypted_dek_source_type: i32,
}

struct Process(Child, PathBuf);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    fn spawn(what: &'static str, mut cmd: Command, log: PathBuf) -> Process {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Process(child, log)
    }

    /// Starts a server that takes `N` ports on its command line. They are
    /// free when picked but may be taken before the server binds them (the
    /// server is not ours and cannot report a port 0 binding), so a server
    /// that exits with "address already in use" is started again on others.
    /// Returns once `ready` holds for the ports.
    fn start_on_free_ports<const N: usize>(
        what: &'static str,
        log: PathBuf,
        command: impl Fn([u16; N]) -> Command,
        ready: impl Fn([u16; N]) -> bool,
    ) -> (Process, [u16; N]) {
        for _attempt in 0..5 {
            let ports = [(); N].map(|()| support::free_port());
            let mut process = Process::spawn(what, command(ports), log.clone());
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                if ready(ports) {
                    return (process, ports);
                }
                if process.0.try_wait().unwrap().is_some() {
                    let log = std::fs::read_to_string(&process.1).unwrap_or_default();
                    assert!(
                        log.contains("address already in use"),
                        "{what} exited:\n{}",
                        process.tail()
                    );
                    eprintln!("{what}: a port of {ports:?} was taken meanwhile; again on others");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what} not ready:\n{}",
                    process.tail()
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        panic!("{what}: no free ports in 5 attempts");
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.1).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn binaries() -> Option<(PathBuf, PathBuf)> {
    let apiserver = std::env::var_os("KUBE_KMS_E2E_APISERVER").map(PathBuf::from);
    let etcd = std::env::var_os("KUBE_KMS_E2E_ETCD").map(PathBuf::from);
    match (apiserver, etcd) {
        (Some(a), Some(e)) if a.exists() && e.exists() => Some((a, e)),
        _ => {
            skip::skipped(format_args!(
                "set KUBE_KMS_E2E_APISERVER and KUBE_KMS_E2E_ETCD to kube-apiserver and etcd binaries to run the KMS v2 plugin end-to-end test"
            ));
            None
        }
    }
}

fn export(data: &Path, out: &Path) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kube-kms"));
    cmd.args(["export-kek", "--key", "alias/fixture", "--data-dir"])
        .arg(data)
        .arg("--out")
        .arg(out);
    support::run(cmd, "export-kek");
}

struct Cluster {
    dir: PathBuf,
    apiserver_bin: PathBuf,
    etcd_url: String,
    /// The apiserver's secure port, picked again at each start.
    port: std::cell::Cell<u16>,
    config: PathBuf,
}

impl Cluster {
    fn start_apiserver(&self) -> Process {
        let tokens = self.dir.join("tokens.csv");
        std::fs::write(&tokens, "e2e-token,admin,1,system:masters\n").unwrap();
        let sa_key = self.dir.join("sa.key");
        if !sa_key.exists() {
            let status = Command::new("openssl")
                .args(["genrsa", "-out"])
                .arg(&sa_key)
                .arg("2048")
                .stderr(Stdio::null())
                .status()
                .expect("openssl");
            assert!(status.success());
        }
        let command = |[port]: [u16; 1]| {
            let mut cmd = Command::new(&self.apiserver_bin);
            cmd.arg(format!("--etcd-servers={}", self.etcd_url))
                .arg(format!("--secure-port={port}"))
                .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
                .arg(format!("--cert-dir={}", self.dir.join("certs").display()))
                .arg(format!("--token-auth-file={}", tokens.display()))
                .arg("--authorization-mode=RBAC")
                .arg("--service-account-issuer=https://kubernetes.default.svc")
                .arg(format!("--service-account-key-file={}", sa_key.display()))
                .arg(format!(
                    "--service-account-signing-key-file={}",
                    sa_key.display()
                ))
                .arg("--service-cluster-ip-range=10.96.0.0/16")
                .arg(format!(
                    "--encryption-provider-config={}",
                    self.config.display()
                ));
            cmd
        };
        // Ready only with our token: another server on the port is not it.
        let ready = |[port]: [u16; 1]| {
            Command::new("curl")
                .args([
                    "-skf",
                    "--max-time",
                    "5",
                    "-H",
                    "Authorization: Bearer e2e-token",
                ])
                .arg(format!("https://127.0.0.1:{port}/readyz"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let (process, [port]) = Process::start_on_free_ports(
            "kube-apiserver",
            self.dir.join("apiserver.log"),
            command,
            ready,
        );
        self.port.set(port);
        process
    }

    async fn client(&self) -> kube::Client {
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: e2e, cluster: {{server: \"https://127.0.0.1:{}\", insecure-skip-tls-verify: true}}}}]\nusers: [{{name: admin, user: {{token: e2e-token}}}}]\ncontexts: [{{name: e2e, context: {{cluster: e2e, user: admin}}}}]\ncurrent-context: e2e\n",
            self.port.get()
        );
        let kubeconfig: kube::config::Kubeconfig = serde_yaml::from_str(&kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// The raw value etcd holds for a Secret.
    fn stored(&self, namespace: &str, name: &str) -> Vec<u8> {
        let key = format!("/registry/secrets/{namespace}/{name}");
        let (status, body) = plugin::http_post(
            &format!("{}/v3/kv/range", self.etcd_url),
            &format!("{{\"key\": \"{}\"}}", B64.encode(&key)),
        );
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let value = json["kvs"][0]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("{key} not in etcd: {body}"));
        B64.decode(value).unwrap()
    }
}

/// Parses a stored value and checks the envelope the way kube-apiserver
/// builds it; returns the object.
fn envelope(stored: &[u8]) -> EncryptedObject {
    let prefix = format!("k8s:enc:kms:v2:{PROVIDER}:");
    assert!(
        stored.starts_with(prefix.as_bytes()),
        "not encrypted by the plugin: {:?}",
        String::from_utf8_lossy(&stored[..stored.len().min(40)])
    );
    let object: EncryptedObject = prost::Message::decode(&stored[prefix.len()..]).unwrap();
    assert_eq!(object.encrypted_dek_source_type, 1, "HKDF seed mode");
    assert!(object.annotations.is_empty());
    object
}

/// Opens the envelope with a seed from our plugin, as kube-apiserver does:
/// HKDF-Expand(SHA-256, seed, info) then AES-256-GCM with the etcd key as
/// associated data.
fn open(object: &EncryptedObject, seed: &[u8], etcd_key: &str) -> Vec<u8> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use hmac::{Hmac, Mac};
    let data = &object.encrypted_data;
    let (info, rest) = data.split_at(32);
    let (nonce, sealed) = rest.split_at(12);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(seed).unwrap();
    mac.update(info);
    mac.update(&[1]);
    let key = mac.finalize().into_bytes();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let mut in_out = sealed.to_vec();
    let plain = key
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).unwrap(),
            Aad::from(etcd_key.as_bytes()),
            &mut in_out,
        )
        .expect("the object decrypts with the seed the plugin unwrapped");
    plain.to_vec()
}

fn secret(name: &str, value: &str) -> Secret {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "stringData": {"value": value},
    }))
    .unwrap()
}

async fn value_of(secrets: &Api<Secret>, name: &str) -> String {
    let s = secrets.get(name).await.unwrap();
    String::from_utf8(s.data.unwrap()["value"].0.clone()).unwrap()
}

#[tokio::test]
async fn secrets_are_envelope_encrypted_in_etcd_and_follow_a_rotation() {
    let Some((apiserver_bin, etcd_bin)) = binaries() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_owned();

    // The key, from the embedded default's store.
    let store = Server::start().kill();
    let data = store.path().join("data");
    let kek = dir.join("kek.json");
    export(&data, &kek);
    let root = Plugin::root_key_args(&data.join("root.key"));
    let root: Vec<&std::ffi::OsStr> = root.iter().map(|a| a.as_os_str()).collect();
    let socket = dir.join("kms.sock");
    let plugin = plugin::start(&socket, &kek, &root);
    let mut kms = ApiserverClient::connect(&socket);
    let v1 = kms.status().await.unwrap();

    // The shipped EncryptionConfiguration, pointed at this socket.
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config/kms-plugin/encryption-configuration.yaml"),
    )
    .unwrap();
    assert!(example.contains("unix:///var/run/kmsplugin/kms.sock"));
    let config = dir.join("encryption-configuration.yaml");
    std::fs::write(
        &config,
        example.replace(
            "unix:///var/run/kmsplugin/kms.sock",
            &format!("unix://{}", socket.display()),
        ),
    )
    .unwrap();

    let (_etcd, [etcd_port, _]) = Process::start_on_free_ports(
        "etcd",
        dir.join("etcd.log"),
        |[client, peer]| {
            let mut cmd = Command::new(&etcd_bin);
            cmd.arg(format!("--data-dir={}", dir.join("etcd").display()))
                .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
                ))
                .arg(format!("--initial-cluster=default=http://127.0.0.1:{peer}"));
            cmd
        },
        |[client, _]| {
            Command::new("curl")
                .args(["-sf", "--max-time", "5"])
                .arg(format!("http://127.0.0.1:{client}/health"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        },
    );
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let cluster = Cluster {
        dir: dir.clone(),
        apiserver_bin,
        etcd_url,
        port: std::cell::Cell::new(0),
        config,
    };
    let apiserver = cluster.start_apiserver();
    let secrets: Api<Secret> = Api::namespaced(cluster.client().await, "default");

    // Written through the apiserver: encrypted in etcd with our key_id.
    secrets
        .create(
            &PostParams::default(),
            &secret("before", "written under v1"),
        )
        .await
        .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &secret("untouched", "stays under v1"),
        )
        .await
        .unwrap();
    let stored = cluster.stored("default", "before");
    let object = envelope(&stored);
    assert_eq!(object.key_id, v1);
    assert!(!stored.windows(16).any(|w| w == b"written under v1"));
    // The envelope opens with the seed our plugin unwraps.
    let seed = kms
        .unwrap(&plugin::apiserver::Wrapped {
            ciphertext: object.encrypted_dek_source.clone(),
            key_id: object.key_id.clone(),
            annotations: Default::default(),
        })
        .await
        .unwrap();
    let plain = open(&object, &seed, "/registry/secrets/default/before");
    assert!(plain.starts_with(b"k8s\0"), "storage encoding inside");
    assert_eq!(value_of(&secrets, "before").await, "written under v1");

    // Rotate in the embedded default, export again: the plugin serves v2
    // without a restart.
    let store = {
        let server = Server::start_in(store);
        support::kms_client(&server.endpoint, support::SECRET_KEY)
            .rotate_key_on_demand()
            .key_id(FIXTURE_KEY)
            .send()
            .await
            .unwrap();
        server.kill()
    };
    export(&store.path().join("data"), &kek);
    let v2 = plugin::eventually("the plugin to serve v2", Duration::from_secs(10), || {
        let socket = socket.clone();
        let v1 = v1.clone();
        async move {
            ApiserverClient::connect(&socket)
                .status()
                .await
                .ok()
                .filter(|id| *id != v1)
        }
    })
    .await;

    // kube-apiserver polls Status about once a minute; replace the Secret
    // until it is stored under the new key_id.
    secrets
        .create(&PostParams::default(), &secret("during", "v1 or v2"))
        .await
        .unwrap();
    plugin::eventually(
        "the apiserver to re-seed with v2",
        Duration::from_secs(150),
        || {
            let secrets = secrets.clone();
            let cluster = &cluster;
            let v2 = v2.clone();
            async move {
                let current = secrets.get("before").await.ok()?;
                secrets
                    .replace("before", &PostParams::default(), &current)
                    .await
                    .ok()?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                (envelope(&cluster.stored("default", "before")).key_id == v2).then_some(())
            }
        },
    )
    .await;
    assert_eq!(value_of(&secrets, "before").await, "written under v1");
    secrets
        .create(&PostParams::default(), &secret("after", "written under v2"))
        .await
        .unwrap();
    assert_eq!(envelope(&cluster.stored("default", "after")).key_id, v2);

    // A restarted apiserver has no cached seeds: reading a Secret still
    // stored under v1 needs the plugin to decrypt with the old version.
    assert_eq!(envelope(&cluster.stored("default", "untouched")).key_id, v1);
    drop(apiserver);
    let _apiserver = cluster.start_apiserver();
    let secrets: Api<Secret> = Api::namespaced(cluster.client().await, "default");
    assert_eq!(value_of(&secrets, "before").await, "written under v1");
    assert_eq!(value_of(&secrets, "after").await, "written under v2");
    assert_eq!(value_of(&secrets, "during").await, "v1 or v2");
    assert_eq!(value_of(&secrets, "untouched").await, "stays under v1");
    let metrics = plugin.get("/metrics").1;
    println!(
        "v1 {v1}\nv2 {v2}\n{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("kubekms_plugin_grpc_request_duration_seconds_count"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
