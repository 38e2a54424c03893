//! On-demand rotation through `kube-kms api`: the controller rotates after
//! RotateKeyOnDemand has returned, and until it has, the rotation is in
//! progress, as AWS reports one.

use super::*;

/// Pauses a process (SIGSTOP) until dropped (SIGCONT).
struct Paused(u32);

impl Paused {
    fn new(pid: u32) -> Paused {
        signal(pid, libc::SIGSTOP);
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: kill(2) on the test's own child process, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal {signal}");
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// While the controller is paused, a requested rotation is in progress:
/// GetKeyRotationStatus says since when, and a second request is refused
/// with ConflictException instead of folding into the first. Once the
/// controller runs again it makes the rotation, and the next request is
/// taken.
#[tokio::test]
async fn an_on_demand_rotation_is_in_progress_until_the_controller_makes_it() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    cluster::callers::let_namespace_in(&cluster).await;
    let (access_key_id, secret_key) = clients::caller(&cluster, &endpoint, "AKIDROTATE").await;
    let kms = clients::kms_client(&endpoint, &access_key_id, &secret_key);
    let created = kms.create_key().send().await.unwrap();
    let key_id = created.key_metadata().unwrap().key_id().to_owned();
    let rotations = |kms: aws_sdk_kms::Client, key_id: String| async move {
        let listed = kms
            .list_key_rotations()
            .key_id(key_id)
            .send()
            .await
            .unwrap();
        listed.rotations().len()
    };
    let in_progress = |kms: aws_sdk_kms::Client, key_id: String| async move {
        let status = kms
            .get_key_rotation_status()
            .key_id(key_id)
            .send()
            .await
            .unwrap();
        status
            .on_demand_rotation_start_date()
            .map(|d| d.as_secs_f64())
    };
    assert_eq!(in_progress(kms.clone(), key_id.clone()).await, None);

    let paused = Paused::new(controller.child.id());
    let before = now_secs();
    kms.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let since = in_progress(kms.clone(), key_id.clone())
        .await
        .expect("a rotation in progress");
    assert!(
        since >= before.floor() - 1.0 && since <= now_secs() + 1.0,
        "started {since}, requested at {before}"
    );
    let refused = kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .expect_err("a second rotation while one is in progress");
    let refused = refused.into_service_error();
    assert!(refused.is_conflict_exception(), "{refused:?}");
    assert_eq!(rotations(kms.clone(), key_id.clone()).await, 0);
    drop(paused);

    wait_for("the rotation", READY, || {
        let (kms, key_id) = (kms.clone(), key_id.clone());
        async move { (rotations(kms, key_id).await == 1).then_some(()) }
    })
    .await;
    wait_for("the rotation no longer in progress", READY, || {
        let (kms, key_id) = (kms.clone(), key_id.clone());
        async move { in_progress(kms, key_id).await.is_none().then_some(()) }
    })
    .await;
    kms.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    wait_for("the second rotation", READY, || {
        let (kms, key_id) = (kms.clone(), key_id.clone());
        async move { (rotations(kms, key_id).await == 2).then_some(()) }
    })
    .await;
}
