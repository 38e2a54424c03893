//! A multi-Region key's material between two crypto service processes,
//! each trusting the other's root key.

use super::*;

/// A crypto service process trusting `peers` (Region, root key file).
fn start_with_peers(dir: &Path, name: &str, peers: &[(&str, &Path)]) -> (Child, PathBuf, PathBuf) {
    let root_key = dir.join(format!("{name}.key"));
    let socket = dir.join(format!("{name}.sock"));
    let mut text = String::from("peers:\n");
    for (region, key) in peers {
        let root = FileRootKey::load(key).unwrap();
        let (_, identity) = kube_kms::replica::identities(&root).unwrap()[0];
        text += &format!("  - region: {region}\n    identities: [\"{identity}\"]\n");
    }
    let peers_file = dir.join(format!("{name}-peers.yaml"));
    std::fs::write(&peers_file, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["crypto", "--socket"])
        .arg(&socket)
        .arg("--root-key")
        .arg(&root_key)
        .arg("--peers")
        .arg(&peers_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kube-kms crypto");
    wait_for_socket(&socket);
    (child, socket, root_key)
}

#[tokio::test]
async fn a_multi_region_key_s_material_moves_between_two_services_over_their_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let (east_key, west_key) = (dir.path().join("east.key"), dir.path().join("west.key"));
    FileRootKey::create(&east_key).unwrap();
    FileRootKey::create(&west_key).unwrap();
    let (mut east_child, east_socket, _) =
        start_with_peers(dir.path(), "east", &[("eu-west-1", &west_key)]);
    let (mut west_child, west_socket, _) =
        start_with_peers(dir.path(), "west", &[("us-east-1", &east_key)]);
    let east = GrpcCryptoClient::connect_lazy(&east_socket).unwrap();
    let west = GrpcCryptoClient::connect_lazy(&west_socket).unwrap();

    let id = MaterialId {
        key_id: KeyId::random_multi_region(),
        ..id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt)
    };
    let primary = east.generate_material(id).await.unwrap();
    let offer = west.replica_offer(id.key_id).await.unwrap();
    let package = east
        .package_replica(primary.clone(), offer.offer)
        .await
        .unwrap();
    let accepted = west
        .accept_replica(offer.token.clone(), package.clone())
        .await
        .unwrap();
    assert_eq!(accepted.peer, "us-east-1");
    assert_eq!(accepted.sealed.header().unwrap().material, id);
    // What one encrypts, the other decrypts: the same material.
    let context = ctx(&[("k", "v")]);
    let ciphertext = east
        .encrypt(EncryptRequest {
            material: primary,
            plaintext: SecretBytes::new(b"across".to_vec()),
            context: context.clone(),
            algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
        .await
        .unwrap();
    let plaintext = west
        .decrypt(DecryptRequest {
            material: accepted.sealed,
            ciphertext,
            context,
            algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
        .await
        .unwrap();
    assert_eq!(&plaintext[..], b"across");
    // The package is for the west's offer: the east cannot accept it, and
    // the east's identity is not its own peer.
    assert!(matches!(
        east.accept_replica(offer.token, package).await,
        Err(CryptoError::ReplicationRefused(_))
    ));
    // `kube-kms identity` prints what the peers files were written from.
    let printed = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .arg("identity")
        .arg("--socket")
        .arg(&west_socket)
        .output()
        .unwrap();
    assert!(printed.status.success());
    let (_, expected) =
        kube_kms::replica::identities(&FileRootKey::load(&west_key).unwrap()).unwrap()[0];
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap(),
        format!("{expected}  root key version 1\n")
    );
    let printed = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .arg("identity")
        .arg("--root-key")
        .arg(&west_key)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap(),
        format!("{expected}  root key version 1\n")
    );
    // In the crypto sidecar's environment (`kubectl exec … -c crypto`),
    // which names both the socket and a root key: the socket is asked, with
    // no flag or with `--socket`, and a flag typed wins over the
    // environment. The environment's root key here is the east's, and its
    // socket, in the last case, is gone: west's identity says which was read.
    for (args, socket) in [
        (&[][..], west_socket.as_os_str()),
        (
            &["--socket".as_ref(), west_socket.as_os_str()][..],
            "/nowhere.sock".as_ref(),
        ),
        (
            &["--root-key".as_ref(), west_key.as_os_str()][..],
            "/nowhere.sock".as_ref(),
        ),
    ] {
        let printed = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
            .arg("identity")
            .args(args)
            .env("KUBE_KMS_CRYPTO_SOCKET", socket)
            .env("KUBE_KMS_ROOT_KEY", &east_key)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(printed.stdout).unwrap(),
            format!("{expected}  root key version 1\n"),
            "{args:?}: {}",
            String::from_utf8_lossy(&printed.stderr)
        );
    }
    for child in [&mut east_child, &mut west_child] {
        let _ = child.kill();
        let _ = child.wait();
    }
    // And the service says it at start, for a sidecar's log.
    let mut log = String::new();
    std::io::Read::read_to_string(&mut west_child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("crypto service identity") && log.contains(&format!("identity={expected}")),
        "{log}"
    );
}
