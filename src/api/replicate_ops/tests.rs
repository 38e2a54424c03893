use super::*;

/// What the Regions share of a key of generated material is written as
/// before keys of imported material replicated: its digest is the same,
/// so an upgrade does not deliver to every replica again.
#[test]
fn the_shared_settings_of_generated_material_keep_their_form() {
    let mut key = KeyRecord::test(0);
    key.regions = Some(Regions {
        primary: "us-east-1".into(),
        replicas: unsynced(["eu-west-1".to_owned()]),
        ..Regions::default()
    });
    let shared = Shared::of(&key);
    let before =
        r#"{"Rotation":{"enabled":false,"period_days":365,"next":null},"Replicas":["eu-west-1"]}"#;
    assert_eq!(serde_json::to_string(&shared).unwrap(), before);
    // Read back by a replica that knows nothing of imported material.
    let old: Shared = serde_json::from_str(before).unwrap();
    assert_eq!(old.digest(), shared.digest());

    // A key of imported material adds which material is which version.
    key.origin = Origin::External;
    key.imported = vec![crate::key::ImportedMaterial {
        material_id: "ab".repeat(32),
        valid_to: Some(5),
        description: "kept here".into(),
        imported: 3,
        version: 1,
        since: 4,
    }];
    let text = serde_json::to_string(&Shared::of(&key)).unwrap();
    let expected = format!(
        r#""Imported":[{{"Version":1,"MaterialId":"{}","Since":4}}]}}"#,
        "ab".repeat(32)
    );
    assert!(text.ends_with(&expected), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_step_waits_out_a_change_in_progress_and_nothing_else() {
    let started = tokio::time::Instant::now();
    let mut tries = 0;
    let done = in_turn(|| {
        tries += 1;
        let result = match tries {
            1 | 2 => Err(ApiError::Conflict("in progress".into())),
            _ => Ok(tries),
        };
        async move { result }
    })
    .await;
    assert_eq!(done.unwrap(), 3);
    assert_eq!(started.elapsed(), std::time::Duration::from_millis(500));

    // Never its turn: the conflict, once the wait is over.
    let started = tokio::time::Instant::now();
    let never = in_turn(|| async { Err::<(), _>(ApiError::Conflict("busy".into())) }).await;
    assert!(matches!(never, Err(ApiError::Conflict(_))));
    assert!(started.elapsed() <= IN_TURN_WAIT && started.elapsed() >= IN_TURN_WAIT / 2);

    // Any other refusal at once.
    let started = tokio::time::Instant::now();
    let refused = in_turn(|| async { Err::<(), _>(ApiError::AccessDenied("no".into())) }).await;
    assert!(matches!(refused, Err(ApiError::AccessDenied(_))));
    assert_eq!(started.elapsed(), std::time::Duration::ZERO);
}
