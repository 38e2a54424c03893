//! Durability: every write the endpoint acknowledged survives SIGKILL in the
//! middle of a concurrent write load, and every acknowledged ciphertext still
//! decrypts after the restart.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::primitives::Blob;
use support::{SECRET_KEY, Server};

fn client(endpoint: &str) -> aws_sdk_kms::Client {
    let config = support::sdk_config(endpoint, SECRET_KEY)
        // Only a response counts as an acknowledgement; no retries blur that.
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[derive(Default)]
struct Acknowledged {
    keys: Vec<String>,
    ciphertexts: Vec<(String, Vec<u8>, Vec<u8>)>,
    scheduled: Vec<String>,
    /// Deletions requested, acknowledged or not: one cut off by the kill may
    /// or may not have committed.
    requested: Vec<String>,
    rotations: Vec<(String, usize)>,
}

async fn writer(kms: aws_sdk_kms::Client, worker: usize, acked: Arc<Mutex<Acknowledged>>) {
    for round in 0.. {
        let Ok(created) = kms
            .create_key()
            .description(format!("w{worker} r{round}"))
            .send()
            .await
        else {
            return;
        };
        let id = created.key_metadata().unwrap().key_id().to_owned();
        acked.lock().unwrap().keys.push(id.clone());
        let mut rotated = 0;
        for step in 0..3 {
            if step > 0 && (round + step) % 2 == 0 {
                if kms.rotate_key_on_demand().key_id(&id).send().await.is_err() {
                    return;
                }
                rotated += 1;
                acked.lock().unwrap().rotations.push((id.clone(), rotated));
            }
            let plaintext = format!("worker {worker} round {round} step {step}").into_bytes();
            let Ok(out) = kms
                .encrypt()
                .key_id(&id)
                .plaintext(Blob::new(plaintext.clone()))
                .send()
                .await
            else {
                return;
            };
            let blob = out.ciphertext_blob().unwrap().as_ref().to_vec();
            acked
                .lock()
                .unwrap()
                .ciphertexts
                .push((id.clone(), blob, plaintext));
        }
        if round % 3 == 2 {
            acked.lock().unwrap().requested.push(id.clone());
            if kms
                .schedule_key_deletion()
                .key_id(&id)
                .pending_window_in_days(7)
                .send()
                .await
                .is_err()
            {
                return;
            }
            acked.lock().unwrap().scheduled.push(id.clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() {
    let server = Server::start();
    let kms = client(&server.endpoint);
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let workers: Vec<_> = (0..8)
        .map(|w| tokio::spawn(writer(kms.clone(), w, acked.clone())))
        .collect();
    // Kill mid-load, once every kind of write has been acknowledged a few times.
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let a = acked.lock().unwrap();
        let enough = a.keys.len() >= 16 && a.scheduled.len() >= 2 && a.rotations.len() >= 2;
        if (enough && started.elapsed() >= Duration::from_secs(1))
            || started.elapsed() >= Duration::from_secs(30)
        {
            break;
        }
    }
    let dir = server.kill();
    for w in workers {
        w.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.keys.len() >= 8 && !acked.scheduled.is_empty() && !acked.rotations.is_empty(),
        "the load ran: {} keys",
        acked.keys.len()
    );
    eprintln!(
        "acknowledged before SIGKILL: {} keys, {} ciphertexts, {} rotations, {} deletions",
        acked.keys.len(),
        acked.ciphertexts.len(),
        acked.rotations.len(),
        acked.scheduled.len()
    );

    let server = Server::start_in(dir);
    let kms = client(&server.endpoint);
    for id in &acked.keys {
        let meta = kms
            .describe_key()
            .key_id(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("key {id} lost: {e:?}"));
        let state = meta
            .key_metadata()
            .unwrap()
            .key_state()
            .unwrap()
            .as_str()
            .to_owned();
        let allowed: &[&str] = if acked.scheduled.contains(id) {
            &["PendingDeletion"]
        } else if acked.requested.contains(id) {
            &["Enabled", "PendingDeletion"]
        } else {
            &["Enabled"]
        };
        assert!(
            allowed.contains(&state.as_str()),
            "key {id}: {state}, expected one of {allowed:?}"
        );
    }
    for (id, count) in &acked.rotations {
        let rotations = kms.list_key_rotations().key_id(id).send().await.unwrap();
        assert!(
            rotations.rotations().len() >= *count,
            "key {id}: rotation {count} lost"
        );
    }
    // Keys pending deletion refuse to decrypt: bring them back first.
    for id in &acked.requested {
        let state = kms.describe_key().key_id(id).send().await.unwrap();
        if state.key_metadata().unwrap().key_state().unwrap().as_str() == "PendingDeletion" {
            kms.cancel_key_deletion().key_id(id).send().await.unwrap();
            kms.enable_key().key_id(id).send().await.unwrap();
        }
    }
    for (id, blob, plaintext) in &acked.ciphertexts {
        let out = kms
            .decrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("ciphertext of {id} no longer decrypts: {e:?}"));
        assert_eq!(out.plaintext().unwrap().as_ref(), plaintext.as_slice());
    }
}

/// The last use of `id`, as GetKeyLastUsage reports it: (operation, request id).
async fn last_use(kms: &aws_sdk_kms::Client, id: &str) -> Option<(String, String)> {
    let out = kms.get_key_last_usage().key_id(id).send().await.unwrap();
    let used = out.key_last_usage()?;
    Some((
        used.operation()?.as_str().to_owned(),
        used.kms_request_id()?.to_owned(),
    ))
}

async fn encrypt_with(kms: &aws_sdk_kms::Client, id: &str) -> String {
    use aws_sdk_kms::operation::RequestId;
    let out = kms
        .encrypt()
        .key_id(id)
        .plaintext(Blob::new(b"used".to_vec()))
        .send()
        .await
        .unwrap();
    out.request_id().expect("x-amzn-RequestId").to_owned()
}

/// Key usage is kept in memory and written in batches: a clean stop writes
/// what is pending, and a kill loses at most the uses since the last batch
/// (serve writes every 10 s).
#[tokio::test]
async fn key_usage_survives_a_restart_and_a_kill_after_its_batch() {
    let server = Server::start();
    let kms = client(&server.endpoint);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let key = kms.create_key().send().await.unwrap();
        ids.push(key.key_metadata().unwrap().key_id().to_owned());
    }
    let first = Some(("Encrypt".to_owned(), encrypt_with(&kms, &ids[0]).await));
    assert_eq!(last_use(&kms, &ids[0]).await, first);

    let server = Server::start_in(server.stop());
    let kms = client(&server.endpoint);
    assert_eq!(last_use(&kms, &ids[0]).await, first, "written at the stop");
    assert_eq!(last_use(&kms, &ids[1]).await, None);

    let second = Some(("Encrypt".to_owned(), encrypt_with(&kms, &ids[1]).await));
    tokio::time::sleep(Duration::from_secs(12)).await;
    let third = Some(("Encrypt".to_owned(), encrypt_with(&kms, &ids[2]).await));
    let server = Server::start_in(server.kill());
    let kms = client(&server.endpoint);
    assert_eq!(last_use(&kms, &ids[0]).await, first);
    assert_eq!(
        last_use(&kms, &ids[1]).await,
        second,
        "written by a batch before the kill"
    );
    let last = last_use(&kms, &ids[2]).await;
    assert!(
        last.is_none() || last == third,
        "{last:?}: lost or kept, never another"
    );
}
