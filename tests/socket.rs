//! The crypto service as a process: `kube-kms crypto` on a unix socket,
//! reached with the gRPC client, compared with the in-process service.

mod support;

#[path = "socket/multi_region.rs"]
mod multi_region;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use kube_kms::ciphertext::EncryptionContext;
use kube_kms::crypto::grpc::GrpcCryptoClient;
use kube_kms::crypto::*;
use kube_kms::import::ImportToken;
use kube_kms::key_id::KeyId;
use kube_kms::root::FileRootKey;
use kube_kms::seal::MaterialId;
use kube_kms::secret::SecretBytes;
use kube_kms::spec::*;

struct Service {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
    root_key: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(socket: &Path, root_key: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["crypto", "--create-root-key", "--socket"])
        .arg(socket)
        .arg("--root-key")
        .arg(root_key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kube-kms crypto")
}

fn wait_for_socket(path: &Path) {
    support::wait_for_socket(path, String::new);
}

fn start() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("crypto.sock");
    let root_key = dir.path().join("root.key");
    let child = spawn(&socket, &root_key);
    wait_for_socket(&socket);
    Service {
        child,
        socket,
        _dir: dir,
        root_key,
    }
}

fn id(spec: KeySpec, usage: KeyUsage) -> MaterialId {
    MaterialId {
        key_id: KeyId::random(),
        version: 1,
        spec,
        usage,
    }
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

#[test]
fn socket_and_created_root_key_are_private() {
    let service = start();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&service.socket), 0o600);
    assert_eq!(mode(&service.root_key), 0o600);
    assert_eq!(std::fs::read(&service.root_key).unwrap().len(), 32);
}

#[tokio::test]
async fn every_operation_over_the_socket_matches_the_in_process_service() {
    let service = start();
    let remote = GrpcCryptoClient::connect_lazy(&service.socket).unwrap();
    // The same root key in-process: blobs from one path open in the other.
    let root = FileRootKey::load(&service.root_key).unwrap();
    let local = LocalCryptoService::new(Arc::new(root), CacheConfig::default());
    let info = remote.root_key_info().await.unwrap();
    assert_eq!(info, local.root_key_info().await.unwrap());
    assert_eq!(info.versions, vec![1]);

    let sym = remote
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .await
        .unwrap();
    let sd = EncryptionAlgorithm::SymmetricDefault;
    let blob = remote
        .encrypt(EncryptRequest {
            material: sym.clone(),
            plaintext: SecretBytes::new(b"hello".to_vec()),
            context: ctx(&[("a", "b")]),
            algorithm: sd,
        })
        .await
        .unwrap();
    let decrypt = |material, ciphertext: Vec<u8>, context| DecryptRequest {
        material,
        ciphertext,
        context,
        algorithm: sd,
    };
    assert_eq!(
        local
            .decrypt(decrypt(sym.clone(), blob.clone(), ctx(&[("a", "b")])))
            .await
            .unwrap()
            .as_slice(),
        b"hello"
    );
    assert_eq!(
        remote
            .decrypt(decrypt(sym.clone(), blob.clone(), ctx(&[("a", "b")])))
            .await
            .unwrap()
            .as_slice(),
        b"hello"
    );
    // Errors cross the socket as the same typed errors.
    assert_eq!(
        remote
            .decrypt(decrypt(sym.clone(), blob.clone(), ctx(&[])))
            .await
            .unwrap_err(),
        CryptoError::InvalidCiphertext
    );
    let other = local
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .await
        .unwrap();
    assert_eq!(
        remote
            .decrypt(decrypt(other.clone(), blob.clone(), ctx(&[("a", "b")])))
            .await
            .unwrap_err(),
        CryptoError::IncorrectKey
    );
    let too_big = EncryptRequest {
        material: sym.clone(),
        plaintext: SecretBytes::new(vec![0; 4097]),
        context: ctx(&[]),
        algorithm: sd,
    };
    assert!(matches!(
        remote.encrypt(too_big).await,
        Err(CryptoError::Validation(_))
    ));

    let re = remote
        .re_encrypt(ReEncryptRequest {
            source: decrypt(sym.clone(), blob, ctx(&[("a", "b")])),
            destination: other.clone(),
            destination_context: ctx(&[("c", "d")]),
            destination_algorithm: sd,
        })
        .await
        .unwrap();
    assert_eq!(
        local
            .decrypt(decrypt(other, re, ctx(&[("c", "d")])))
            .await
            .unwrap()
            .as_slice(),
        b"hello"
    );

    let data_key = remote
        .generate_data_key(DataKeyRequest {
            material: sym.clone(),
            size: DataKeySize::Spec(DataKeySpec::Aes256),
            context: ctx(&[]),
            include_plaintext: true,
        })
        .await
        .unwrap();
    let plaintext = data_key.plaintext.unwrap();
    assert_eq!(plaintext.len(), 32);
    assert_eq!(
        local
            .decrypt(decrypt(sym.clone(), data_key.ciphertext, ctx(&[])))
            .await
            .unwrap(),
        plaintext
    );
    let without = remote
        .generate_data_key(DataKeyRequest {
            material: sym.clone(),
            size: DataKeySize::Bytes(64),
            context: ctx(&[]),
            include_plaintext: false,
        })
        .await
        .unwrap();
    assert!(without.plaintext.is_none());

    let pair = remote
        .generate_data_key_pair(DataKeyPairRequest {
            material: sym.clone(),
            spec: DataKeyPairSpec::EccNistP256,
            context: ctx(&[]),
            include_plaintext: false,
        })
        .await
        .unwrap();
    assert!(pair.private_key_plaintext.is_none());
    assert!(!pair.public_key.is_empty());

    let ecc = remote
        .generate_material(id(KeySpec::EccNistP384, KeyUsage::SignVerify))
        .await
        .unwrap();
    let sign = SignRequest {
        material: ecc.clone(),
        message: b"msg".to_vec(),
        message_type: MessageType::Raw,
        algorithm: SigningAlgorithm::EcdsaSha384,
    };
    let signature = remote.sign(sign).await.unwrap();
    let verify = |signature| VerifyRequest {
        material: ecc.clone(),
        message: b"msg".to_vec(),
        message_type: MessageType::Raw,
        algorithm: SigningAlgorithm::EcdsaSha384,
        signature,
    };
    local.verify(verify(signature.clone())).await.unwrap();
    let mut bad = signature;
    bad[8] ^= 1;
    assert_eq!(
        remote.verify(verify(bad)).await,
        Err(CryptoError::InvalidSignature)
    );
    assert_eq!(
        remote.get_public_key(ecc.clone()).await.unwrap(),
        local.get_public_key(ecc).await.unwrap()
    );

    // ECDH across the socket: each side derives from the other's public key.
    let (a, b) = (
        remote
            .generate_material(id(KeySpec::EccNistP521, KeyUsage::KeyAgreement))
            .await
            .unwrap(),
        local
            .generate_material(id(KeySpec::EccNistP521, KeyUsage::KeyAgreement))
            .await
            .unwrap(),
    );
    let agree = |material: &kube_kms::seal::SealedMaterial, public_key| SharedSecretRequest {
        material: material.clone(),
        algorithm: KeyAgreementAlgorithm::Ecdh,
        public_key,
    };
    let (a_public, b_public) = (
        remote.get_public_key(a.clone()).await.unwrap(),
        local.get_public_key(b.clone()).await.unwrap(),
    );
    let over_socket = remote
        .derive_shared_secret(agree(&a, b_public))
        .await
        .unwrap();
    let in_process = local
        .derive_shared_secret(agree(&b, a_public))
        .await
        .unwrap();
    assert_eq!(over_socket.len(), 66);
    assert_eq!(over_socket.to_vec(), in_process.to_vec());
    assert!(matches!(
        remote
            .derive_shared_secret(agree(&a, b"junk".to_vec()))
            .await,
        Err(CryptoError::Validation(_))
    ));

    let rsa = remote
        .generate_material(id(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt))
        .await
        .unwrap();
    let oaep = EncryptionAlgorithm::RsaesOaepSha256;
    let rsa_blob = local
        .encrypt(EncryptRequest {
            material: rsa.clone(),
            plaintext: SecretBytes::new(b"rsa".to_vec()),
            context: ctx(&[]),
            algorithm: oaep,
        })
        .await
        .unwrap();
    let back = remote
        .decrypt(DecryptRequest {
            material: rsa.clone(),
            ciphertext: rsa_blob,
            context: ctx(&[]),
            algorithm: oaep,
        })
        .await
        .unwrap();
    assert_eq!(back.as_slice(), b"rsa");
    let wrong_usage = remote
        .sign(SignRequest {
            material: rsa,
            message: b"m".to_vec(),
            message_type: MessageType::Raw,
            algorithm: SigningAlgorithm::RsassaPssSha256,
        })
        .await
        .unwrap_err();
    assert_eq!(
        wrong_usage,
        CryptoError::InvalidKeyUsage(
            "key usage is ENCRYPT_DECRYPT which is not valid for Sign.".into()
        )
    );

    let hmac = remote
        .generate_material(id(KeySpec::Hmac512, KeyUsage::GenerateVerifyMac))
        .await
        .unwrap();
    let mac_request = || MacRequest {
        material: hmac.clone(),
        message: b"m".to_vec(),
        algorithm: MacAlgorithm::HmacSha512,
    };
    let mac = remote.generate_mac(mac_request()).await.unwrap();
    assert_eq!(mac, local.generate_mac(mac_request()).await.unwrap());
    remote.verify_mac(mac_request(), mac.clone()).await.unwrap();
    assert_eq!(
        remote.verify_mac(mac_request(), mac[1..].to_vec()).await,
        Err(CryptoError::InvalidMac)
    );

    assert_eq!(remote.generate_random(1024).await.unwrap().len(), 1024);
    assert!(matches!(
        remote.generate_random(0).await,
        Err(CryptoError::Validation(_))
    ));
    let imported = remote
        .import_material(
            id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
            SecretBytes::new(vec![9; 32]),
        )
        .await
        .unwrap();
    assert_eq!(
        remote.reseal(imported.clone()).await.unwrap(),
        imported,
        "one root key version: nothing to do"
    );
    assert!(matches!(
        remote
            .import_material(
                id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
                SecretBytes::new(vec![9; 3])
            )
            .await,
        Err(CryptoError::MalformedMaterial(_))
    ));

    // Import: a wrapping key and token from one path, unwrapped in the
    // other, and a refusal carried across the socket as itself.
    let target = id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let parameters = remote
        .import_parameters(ImportParametersRequest {
            key_id: target.key_id,
            wrapping_spec: WrappingKeySpec::Rsa2048,
            algorithm: WrappingAlgorithm::RsaesOaepSha256,
            valid_to: 1,
        })
        .await
        .unwrap();
    let header = parameters.token.header().unwrap();
    assert_eq!((header.key_id, header.valid_to), (target.key_id, 1));
    let wrapping = OaepPublicEncryptingKey::new(
        PublicEncryptingKey::from_der(&parameters.public_key).unwrap(),
    )
    .unwrap();
    let mut wrapped = vec![0u8; wrapping.ciphertext_size()];
    let wrapped = wrapping
        .encrypt(&OAEP_SHA256_MGF1SHA256, &[7; 32], &mut wrapped, None)
        .unwrap()
        .to_vec();
    let unwrap_request = |token: ImportToken| UnwrapImportRequest {
        id: target,
        token,
        wrapped: wrapped.clone(),
    };
    let unwrapped = local
        .unwrap_import(unwrap_request(parameters.token.clone()))
        .await
        .unwrap();
    let remotely = remote
        .unwrap_import(unwrap_request(parameters.token.clone()))
        .await
        .unwrap();
    assert_eq!(unwrapped.material_id, remotely.material_id);
    let blob = remote
        .encrypt(EncryptRequest {
            material: remotely.sealed,
            plaintext: SecretBytes::new(b"imported".to_vec()),
            context: ctx(&[]),
            algorithm: sd,
        })
        .await
        .unwrap();
    assert_eq!(
        local
            .decrypt(decrypt(unwrapped.sealed, blob, ctx(&[])))
            .await
            .unwrap()
            .as_slice(),
        b"imported"
    );
    let mut altered = parameters.token.into_bytes();
    altered[40] ^= 1;
    assert!(matches!(
        remote
            .unwrap_import(unwrap_request(ImportToken::from_bytes(altered)))
            .await,
        Err(CryptoError::InvalidImportToken(_))
    ));
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let client = GrpcCryptoClient::connect_lazy(&dir.path().join("nobody.sock")).unwrap();
    assert!(matches!(
        client.generate_random(8).await,
        Err(CryptoError::Unavailable(_))
    ));
}

#[test]
fn sigterm_stops_the_service_gracefully_and_removes_the_socket() {
    let mut service = start();
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(service.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = service.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(!service.socket.exists());
}

#[test]
fn a_stale_socket_is_replaced_but_any_other_file_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("crypto.sock");
    let root_key = dir.path().join("root.key");
    // A socket file left behind by a crashed process. A datagram socket, so
    // that no stream connect can succeed on it: a listening socket could
    // still accept while a child forked by a parallel test holds its fd.
    drop(std::os::unix::net::UnixDatagram::bind(&socket).unwrap());
    let mut child = spawn(&socket, &root_key);
    wait_for_socket(&socket);
    std::os::unix::net::UnixStream::connect(&socket).expect("the new service answers");
    child.kill().unwrap();
    child.wait().unwrap();

    std::fs::remove_file(&socket).ok();
    std::fs::write(&socket, b"not a socket").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["crypto", "--socket"])
        .arg(&socket)
        .arg("--root-key")
        .arg(&root_key)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a socket"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read(&socket).unwrap(), b"not a socket");
}

#[test]
fn a_missing_root_key_is_never_created_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["crypto", "--socket"])
        .arg(dir.path().join("s.sock"))
        .arg("--root-key")
        .arg(dir.path().join("missing.key"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!dir.path().join("missing.key").exists());
}
