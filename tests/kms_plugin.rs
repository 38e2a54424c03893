//! The KMS v2 plugin as kube-apiserver meets it: `kube-kms plugin` on a
//! unix socket, reached by a gRPC client that enforces the apiserver's
//! rules, with key files exported by `kube-kms export-kek` from the
//! embedded default's store.

mod plugin;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use plugin::apiserver::{ApiserverClient, Wrapped};
use plugin::{Plugin, eventually};
use support::{SECRET_KEY, Server};

const FIXTURE_KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

fn kms(server: &Server) -> aws_sdk_kms::Client {
    support::kms_client(&server.endpoint, SECRET_KEY)
}

/// `kube-kms export-kek` from a stopped embedded default's data directory.
fn export(data: &Path, key: &str, out: &Path) -> String {
    export_with(data, key, out, &[])
}

fn export_with(data: &Path, key: &str, out: &Path, extra: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kube-kms"));
    cmd.args(["export-kek", "--key", key, "--data-dir"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra);
    support::run(cmd, "export-kek")
}

/// The embedded default's data directory and root key, after `work` ran
/// against a server on it (which is stopped again, releasing the store).
async fn with_server<F, Fut>(dir: tempfile::TempDir, work: F) -> tempfile::TempDir
where
    F: FnOnce(aws_sdk_kms::Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let server = Server::start_in(dir);
    work(kms(&server)).await;
    server.kill()
}

fn root_args(dir: &Path) -> Vec<std::ffi::OsString> {
    Plugin::root_key_args(&dir.join("data/root.key"))
}

fn start_plugin(dir: &Path, key_file: &Path, socket: &str) -> Plugin {
    let args = root_args(dir);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    plugin::start(&dir.join(socket), key_file, &args)
}

fn seed() -> Vec<u8> {
    (0..32).map(|_| rand_byte()).collect()
}

fn rand_byte() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}

#[tokio::test]
async fn wraps_seeds_as_kube_apiserver_expects_and_follows_a_rotation() {
    let dir = with_server(tempfile::tempdir().unwrap(), |_| async {}).await;
    let kek = dir.path().join("kek.json");
    let printed = export(&dir.path().join("data"), "alias/fixture", &kek);
    assert!(printed.contains(FIXTURE_KEY), "{printed}");
    // A directory without a store is an error, and stays without one.
    let empty = dir.path().join("not-a-store");
    let out = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["export-kek", "--key", "alias/fixture", "--data-dir"])
        .arg(&empty)
        .arg("--out")
        .arg(dir.path().join("none.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key store"));
    assert!(!empty.exists());
    let plugin = start_plugin(dir.path(), &kek, "kms.sock");
    let mode = std::fs::metadata(&plugin.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode");

    let mut apiserver = ApiserverClient::connect(&plugin.socket);
    let first_id = apiserver.status().await.unwrap();
    assert!(
        first_id.starts_with(&format!("kube-kms:{FIXTURE_KEY}:v1:")),
        "{first_id}"
    );
    let seed_1 = seed();
    let old = apiserver.wrap(&seed_1).await.unwrap();
    assert!(old.annotations.is_empty());
    assert_eq!(apiserver.unwrap(&old).await.unwrap(), seed_1);
    // Two seeds never share a ciphertext.
    let again = apiserver.wrap(&seed_1).await.unwrap();
    assert_ne!(again.ciphertext, old.ciphertext);

    // Rotate through the AWS API, export again over the same file: the
    // plugin follows without a restart.
    let dir = with_server(dir, |kms| async move {
        kms.rotate_key_on_demand()
            .key_id(FIXTURE_KEY)
            .send()
            .await
            .unwrap();
    })
    .await;
    // Phase 1 (several control-plane nodes): v2 arrives everywhere while
    // v1 still wraps, so the key_id does not change yet.
    let printed = export_with(
        &dir.path().join("data"),
        FIXTURE_KEY,
        &kek,
        &["--write-version", "1"],
    );
    assert!(
        printed.contains("versions 1, 2 (wraps with 1)"),
        "{printed}"
    );
    eventually("the held-back file", Duration::from_secs(10), || {
        let metrics = plugin.get("/metrics").1;
        async move {
            metrics
                .contains("kubekms_plugin_key_file_reloads_total{outcome=\"loaded\"} 2")
                .then_some(())
        }
    })
    .await;
    assert_eq!(apiserver.status().await.unwrap(), first_id);
    assert!(
        plugin
            .get("/metrics")
            .1
            .contains("kubekms_plugin_key_versions 2")
    );
    // Phase 2: v2 wraps.
    export(&dir.path().join("data"), FIXTURE_KEY, &kek);
    let second_id = eventually("the rotated key_id", Duration::from_secs(10), || {
        let mut apiserver = ApiserverClient::connect(&plugin.socket);
        let first_id = first_id.clone();
        async move { apiserver.status().await.ok().filter(|id| *id != first_id) }
    })
    .await;
    assert!(
        second_id.starts_with(&format!("kube-kms:{FIXTURE_KEY}:v2:")),
        "{second_id}"
    );
    let seed_2 = seed();
    let new = apiserver.wrap(&seed_2).await.unwrap();
    assert_eq!(new.key_id, second_id);
    assert_eq!(apiserver.unwrap(&new).await.unwrap(), seed_2);
    assert_eq!(
        apiserver.unwrap(&old).await.unwrap(),
        seed_1,
        "v1 still decrypts"
    );

    // Health and metrics on the local port.
    assert_eq!(plugin.get("/livez"), (200, "ok".into()));
    let (code, body) = plugin.get("/healthz");
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with(&format!("ok {second_id}")), "{body}");
    let (_, metrics) = plugin.get("/metrics");
    for line in [
        "kubekms_plugin_key_version 2",
        "kubekms_plugin_key_versions 2",
        "kubekms_plugin_healthy 1",
        "kubekms_plugin_key_file_reloads_total{outcome=\"loaded\"} 3",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let count = |method: &str, code: &str| -> u64 {
        let prefix = format!(
            "kubekms_plugin_grpc_request_duration_seconds_count{{code=\"{code}\",method=\"{method}\"}} "
        );
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |n| n.parse().unwrap())
    };
    assert_eq!(count("Encrypt", "OK"), 3);
    assert_eq!(count("Decrypt", "OK"), 3);
    assert!(count("Status", "OK") >= 4);
}

#[tokio::test]
async fn refuses_foreign_and_malformed_input_with_invalid_argument() {
    let mut other_key = String::new();
    let dir = with_server(tempfile::tempdir().unwrap(), |kms| {
        let other_key = &mut other_key;
        async move {
            let created = kms.create_key().send().await.unwrap();
            *other_key = created.key_metadata().unwrap().key_id().to_owned();
        }
    })
    .await;
    let data = dir.path().join("data");
    let (ours, theirs) = (dir.path().join("ours.json"), dir.path().join("theirs.json"));
    export(&data, FIXTURE_KEY, &ours);
    export(
        &data,
        &format!("arn:aws:kms:us-east-1:111122223333:key/{other_key}"),
        &theirs,
    );
    let plugin = start_plugin(dir.path(), &ours, "ours.sock");
    let other = start_plugin(dir.path(), &theirs, "theirs.sock");
    let mut apiserver = ApiserverClient::connect(&plugin.socket);
    let mut other_apiserver = ApiserverClient::connect(&other.socket);
    let foreign = other_apiserver.wrap(&seed()).await.unwrap();
    assert!(foreign.key_id.contains(&other_key));
    let good = apiserver.wrap(&seed()).await.unwrap();

    let refused = |wrapped: Wrapped, why: &'static str| {
        let socket = plugin.socket.clone();
        async move {
            let status = ApiserverClient::connect(&socket)
                .unwrap(&wrapped)
                .await
                .expect_err(why);
            assert_eq!(
                status.code(),
                tonic::Code::InvalidArgument,
                "{why}: {status}"
            );
            status.message().to_owned()
        }
    };
    let message = refused(foreign.clone(), "a key_id of another key").await;
    assert!(message.contains("belongs to key"), "{message}");
    let edit = |f: &dyn Fn(&mut Wrapped)| {
        let mut w = good.clone();
        f(&mut w);
        w
    };
    refused(
        edit(&|w| w.key_id = foreign.key_id.clone()),
        "another key's id",
    )
    .await;
    refused(
        edit(&|w| w.ciphertext = foreign.ciphertext.clone()),
        "another key's ciphertext",
    )
    .await;
    refused(edit(&|w| w.key_id = String::new()), "empty key_id").await;
    refused(edit(&|w| w.key_id = "x".repeat(5000)), "huge key_id").await;
    refused(
        edit(&|w| w.key_id = w.key_id.replace(":v1:", ":v9:")),
        "unknown version",
    )
    .await;
    refused(edit(&|w| w.ciphertext.clear()), "empty ciphertext").await;
    refused(edit(&|w| w.ciphertext.truncate(10)), "truncated ciphertext").await;
    refused(
        edit(&|w| *w.ciphertext.last_mut().unwrap() ^= 1),
        "altered ciphertext",
    )
    .await;
    refused(
        edit(&|w| w.ciphertext = vec![0xff; 4096]),
        "garbage ciphertext",
    )
    .await;
    refused(
        edit(&|w| {
            w.annotations.insert("x.example.io".into(), b"1".to_vec());
        }),
        "annotations we never issued",
    )
    .await;
    let mut raw = apiserver.raw();
    for plaintext in [Vec::new(), vec![0; 4096]] {
        let status = raw
            .encrypt(kube_kms::plugin::pb::EncryptRequest {
                plaintext,
                uid: "u".into(),
            })
            .await
            .expect_err("a seed of the wrong size");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
    // After all that the plugin is alive and still serving.
    let after = apiserver.wrap(&seed()).await.unwrap();
    apiserver.unwrap(&after).await.unwrap();
    assert!(plugin.log_text().contains("refused a Decrypt"));
}

#[tokio::test]
async fn a_bad_key_file_keeps_the_last_good_key_serving() {
    let dir = with_server(tempfile::tempdir().unwrap(), |_| async {}).await;
    let kek = dir.path().join("kek.json");
    export(&dir.path().join("data"), "alias/fixture", &kek);
    let good = std::fs::read(&kek).unwrap();
    let plugin = start_plugin(dir.path(), &kek, "kms.sock");
    let mut apiserver = ApiserverClient::connect(&plugin.socket);
    let key_id = apiserver.status().await.unwrap();
    let wrapped = apiserver.wrap(&seed()).await.unwrap();

    for (n, bad) in [
        good[..good.len() / 3].to_vec(),
        b"not json at all".to_vec(),
        String::from_utf8(good.clone())
            .unwrap()
            .replace("\"sealed\": \"", "\"sealed\": \"AAAA")
            .into_bytes(),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&kek, &bad).unwrap();
        let refused = n as u64 + 1;
        let line =
            format!("kubekms_plugin_key_file_reloads_total{{outcome=\"refused\"}} {refused}");
        eventually("the refusal", Duration::from_secs(10), || {
            let line = line.clone();
            let metrics = plugin.get("/metrics").1;
            async move { metrics.contains(&line).then_some(()) }
        })
        .await;
        assert_eq!(apiserver.status().await.unwrap(), key_id);
        apiserver.unwrap(&wrapped).await.unwrap();
        let (code, body) = plugin.get("/healthz");
        assert_eq!(code, 200);
        assert!(body.contains("warning: key file"), "{body}");
    }
    let log = plugin.log_text();
    assert!(log.contains("still serving"), "{log}");
    // The file removed: still serving; restored: the warning clears.
    std::fs::remove_file(&kek).unwrap();
    eventually("the missing file", Duration::from_secs(10), || {
        let body = plugin.get("/healthz").1;
        async move { body.contains("cannot read key file").then_some(()) }
    })
    .await;
    std::fs::write(&kek, &good).unwrap();
    eventually("the restored file", Duration::from_secs(10), || {
        let body = plugin.get("/healthz").1;
        async move { (!body.contains("warning")).then_some(()) }
    })
    .await;
    assert_eq!(apiserver.status().await.unwrap(), key_id);
}

#[tokio::test]
async fn starts_without_a_key_file_and_serves_once_one_appears() {
    let dir = with_server(tempfile::tempdir().unwrap(), |_| async {}).await;
    let kek = dir.path().join("later/kek.json");
    let plugin = start_plugin(dir.path(), &kek, "kms.sock");
    let mut apiserver = ApiserverClient::connect(&plugin.socket);
    let status = apiserver
        .raw()
        .status(kube_kms::plugin::pb::StatusRequest {})
        .await;
    assert_eq!(status.unwrap_err().code(), tonic::Code::Unavailable);
    assert_eq!(
        plugin.get("/livez").0,
        200,
        "a missing key never fails liveness"
    );
    assert_eq!(plugin.get("/healthz").0, 503);
    std::fs::create_dir_all(kek.parent().unwrap()).unwrap();
    export(&dir.path().join("data"), "alias/fixture", &kek);
    eventually("a healthy Status", Duration::from_secs(10), || {
        let socket = plugin.socket.clone();
        async move { ApiserverClient::connect(&socket).status().await.ok() }
    })
    .await;
    let wrapped = apiserver.wrap(&seed()).await.unwrap();
    apiserver.unwrap(&wrapped).await.unwrap();
    assert_eq!(plugin.get("/healthz").0, 200);
}

#[tokio::test]
async fn socket_hygiene_and_graceful_shutdown() {
    let dir = with_server(tempfile::tempdir().unwrap(), |_| async {}).await;
    let kek = dir.path().join("kek.json");
    export(&dir.path().join("data"), "alias/fixture", &kek);
    let root = root_args(dir.path());
    let root: Vec<&std::ffi::OsStr> = root.iter().map(|a| a.as_os_str()).collect();

    // Not a socket: never removed, the plugin refuses to start.
    let file = dir.path().join("file.sock");
    std::fs::write(&file, "precious").unwrap();
    let mut refused = plugin::spawn(&file, &kek, &root);
    let status = refused.child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        refused.log_text().contains("not a socket"),
        "{}",
        refused.log_text()
    );

    // A stale socket from a crashed run is replaced.
    let socket: PathBuf = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_err());
    let mut running = plugin::start(&socket, &kek, &root);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut apiserver = ApiserverClient::connect(&socket);
    apiserver.status().await.unwrap();

    // SIGTERM: a clean exit, the socket gone.
    let pid = running.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(status) = running.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the plugin stops within 10 s of SIGTERM");
    assert!(exit.success(), "{exit:?}");
    assert!(!socket.exists(), "socket removed on shutdown");
}

#[test]
fn an_independent_grpcio_client_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = rt.block_on(with_server(dir, |_| async {}));
    let kek = dir.path().join("kek.json");
    export(&dir.path().join("data"), "alias/fixture", &kek);
    let plugin = start_plugin(dir.path(), &kek, "kms.sock");
    let mut cmd = Command::new(support::python());
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kms_plugin_grpcio.py"))
        .arg(&plugin.socket)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("proto"));
    let out = support::run(cmd, "grpcio client");
    assert!(
        out.contains(&format!("key_id kube-kms:{FIXTURE_KEY}:v1:")),
        "{out}"
    );
}

/// Every call kube-apiserver makes is an audit record: its request uid
/// and the KEK, never a seed or a wrapped seed; the trail's chain holds.
#[tokio::test]
async fn every_plugin_call_is_audited_without_seeds() {
    let dir = with_server(tempfile::tempdir().unwrap(), |_| async {}).await;
    let kek = dir.path().join("kek.json");
    export(&dir.path().join("data"), "alias/fixture", &kek);
    let trail = dir.path().join("plugin-audit.jsonl");
    let mut args = root_args(dir.path());
    args.extend(["--audit-log".into(), trail.clone().into_os_string()]);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let plugin = plugin::start(&dir.path().join("audited.sock"), &kek, &args);
    let mut apiserver = ApiserverClient::connect(&plugin.socket);
    let seed = seed();
    // Status, then Encrypt.
    let wrapped = apiserver.wrap(&seed).await.unwrap();
    assert_eq!(apiserver.unwrap(&wrapped).await.unwrap(), seed);
    let mut tampered = wrapped.clone();
    tampered.ciphertext[0] ^= 1;
    apiserver.unwrap(&tampered).await.expect_err("tampered");

    let records: Vec<serde_json::Value> =
        eventually("four audit records", Duration::from_secs(10), || {
            let text = std::fs::read_to_string(&trail).unwrap_or_default();
            async move {
                // Complete lines only: the writer may be half-way through
                // the last one.
                let lines: Vec<_> = text
                    .split_inclusive('\n')
                    .filter(|l| l.ends_with('\n'))
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                (lines.len() >= 4).then_some(lines)
            }
        })
        .await;
    let names: Vec<_> = records
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Status", "Encrypt", "Decrypt", "Decrypt"]);
    let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{FIXTURE_KEY}");
    for record in &records {
        assert_eq!(record["eventSource"], "kms-v2-plugin.kubekms.io");
        assert_eq!(record["userIdentity"]["principalId"], "kube-apiserver");
        assert_eq!(record["resources"][0]["ARN"], arn.as_str(), "{record}");
        assert_eq!(
            record["requestParameters"]["keyId"],
            wrapped.key_id.as_str()
        );
    }
    assert!(records[1]["requestParameters"]["uid"].is_string());
    assert!(records[2].get("errorCode").is_none());
    assert_eq!(records[3]["errorCode"], "InvalidArgument");
    let text = std::fs::read_to_string(&trail).unwrap();
    for secret in [&seed, &wrapped.ciphertext] {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
        assert!(!text.contains(&encoded) && !text.contains(&hex::encode(secret)));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["audit", "verify"])
        .arg(&trail)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && printed.contains("4 records"),
        "{printed}"
    );
}

/// A key file and the seeds kube-apiserver kept in etcd, as the first
/// plugin (tests/vectors/plugin-adf1321, made by the make.py there) left
/// them: this version reads the file, reports the same key_id, and unwraps
/// the seeds wrapped under each of the key's two versions.
#[tokio::test]
async fn a_key_file_and_seeds_an_older_plugin_wrote_still_unwrap() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/plugin-adf1321");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
            .unwrap();
    // Laid out as the other tests' (the root key where `start_plugin`
    // looks), private as `export-kek` and `serve` write them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let kek = dir.path().join("kek.json");
    for (file, to) in [
        ("kek.json", kek.clone()),
        ("root.key", dir.path().join("data/root.key")),
    ] {
        std::fs::copy(fixture.join(file), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let plugin = start_plugin(dir.path(), &kek, "kms.sock");
    let mut apiserver = ApiserverClient::connect(&plugin.socket);

    let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    let bytes = |v: &serde_json::Value| kube_kms::b64::decode(v.as_str().unwrap()).unwrap();
    let kept = expected["Wrapped"].as_array().unwrap();
    assert_eq!(kept.len(), 2);
    assert_ne!(kept[0]["KeyId"], kept[1]["KeyId"], "one per version");
    assert_eq!(
        apiserver.status().await.unwrap(),
        text(&kept[1]["StatusKeyId"])
    );
    for seed in kept {
        let wrapped = Wrapped {
            ciphertext: bytes(&seed["Ciphertext"]),
            key_id: text(&seed["KeyId"]),
            annotations: seed["Annotations"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), bytes(v)))
                .collect(),
        };
        let unwrapped = apiserver.unwrap(&wrapped).await.unwrap();
        assert_eq!(unwrapped, bytes(&seed["Seed"]), "{}", wrapped.key_id);
    }
    // And it wraps anew under the newest version, as before, in format 2.
    let fresh = seed();
    let wrapped = apiserver.wrap(&fresh).await.unwrap();
    assert_eq!(wrapped.key_id, text(&kept[1]["KeyId"]));
    assert_eq!(apiserver.unwrap(&wrapped).await.unwrap(), fresh);
    assert_eq!(wrapped.ciphertext[0], 2);

    // While another control-plane node still runs that older plugin, this
    // one can wrap as it did (format 1, as the kept seeds are), and each
    // plugin unwraps the other's.
    assert!(kept.iter().all(|seed| bytes(&seed["Ciphertext"])[0] == 1));
    let args = [
        root_args(dir.path()),
        vec!["--ciphertext-format".into(), "1".into()],
    ]
    .concat();
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let held_back = plugin::start(&dir.path().join("held-back.sock"), &kek, &args);
    let mut held_back_apiserver = ApiserverClient::connect(&held_back.socket);
    let old_style = held_back_apiserver.wrap(&fresh).await.unwrap();
    assert_eq!(old_style.ciphertext[0], 1);
    assert_eq!(old_style.key_id, wrapped.key_id);
    assert_eq!(apiserver.unwrap(&old_style).await.unwrap(), fresh);
    assert_eq!(held_back_apiserver.unwrap(&wrapped).await.unwrap(), fresh);
}
