//! The PKCS#11 root key against a real SoftHSM2 token (Debian `softhsm2`,
//! installed by `.ci/run`). One test function: SoftHSM reads its config from
//! the process environment, which is set once before anything else runs.
//! It ends with the KMS v2 plugin unsealing its key file with the token.

mod plugin;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kube_kms::ciphertext::EncryptionContext;
use kube_kms::crypto::grpc::GrpcCryptoClient;
use kube_kms::crypto::*;
use kube_kms::key_id::KeyId;
use kube_kms::root::{Pkcs11Config, Pkcs11RootKey, RootKey};
use kube_kms::seal::MaterialId;
use kube_kms::secret::SecretBytes;
use kube_kms::spec::*;

const MODULE_PATHS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
];

fn module() -> PathBuf {
    MODULE_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("SoftHSM2 is not installed: `apt-get install softhsm2` (.ci/run does)")
}

fn init_token(conf: &Path, label: &str) {
    let status = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            "0000",
            "--pin",
            "1234",
        ])
        .status()
        .expect("softhsm2-util runs");
    assert!(status.success());
}

fn encrypt_request(material: &kube_kms::seal::SealedMaterial, plaintext: &[u8]) -> EncryptRequest {
    EncryptRequest {
        material: material.clone(),
        plaintext: SecretBytes::new(plaintext.to_vec()),
        context: EncryptionContext::default(),
        algorithm: EncryptionAlgorithm::SymmetricDefault,
    }
}

fn decrypt_request(material: &kube_kms::seal::SealedMaterial, ciphertext: &[u8]) -> DecryptRequest {
    DecryptRequest {
        material: material.clone(),
        ciphertext: ciphertext.to_vec(),
        context: EncryptionContext::default(),
        algorithm: EncryptionAlgorithm::SymmetricDefault,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn root_key_in_softhsm() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tokens.display()
        ),
    )
    .unwrap();
    // SAFETY: the only test in this binary, before any thread reads the environment.
    unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
    init_token(&conf, "kube-kms-test");
    let config = Pkcs11Config {
        module: module(),
        token_label: "kube-kms-test".into(),
        pin: zeroize::Zeroizing::new("1234".into()),
    };

    // An empty token is an error unless creation is asked for.
    let err = Pkcs11RootKey::open(&config, false).unwrap_err();
    assert!(err.to_string().contains("no root key objects"), "{err}");
    let wrong_pin = Pkcs11Config {
        pin: zeroize::Zeroizing::new("9999".into()),
        ..config.clone()
    };
    assert!(matches!(
        Pkcs11RootKey::open(&wrong_pin, true),
        Err(CryptoError::RootKey(_))
    ));
    let wrong_token = Pkcs11Config {
        token_label: "nope".into(),
        ..config.clone()
    };
    assert!(matches!(
        Pkcs11RootKey::open(&wrong_token, true),
        Err(CryptoError::RootKey(_))
    ));

    let (sealed_v1, blob) = {
        let root = Pkcs11RootKey::open(&config, true).unwrap();
        assert_eq!(root.versions(), vec![1]);
        let service = LocalCryptoService::new(Arc::new(root), CacheConfig::default());
        let id = MaterialId {
            key_id: KeyId::random(),
            version: 1,
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
        };
        let sealed = service.generate_material(id).await.unwrap();
        assert_eq!(sealed.header().unwrap().root_version, 1);
        // An import token is sealed by the HSM too, and opens only there.
        let imported_id = MaterialId {
            key_id: KeyId::random(),
            ..id
        };
        let parameters = service
            .import_parameters(ImportParametersRequest {
                key_id: imported_id.key_id,
                wrapping_spec: WrappingKeySpec::Rsa2048,
                algorithm: WrappingAlgorithm::RsaesOaepSha256,
                valid_to: i64::MAX,
            })
            .await
            .unwrap();
        let wrapping = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(
            aws_lc_rs::rsa::PublicEncryptingKey::from_der(&parameters.public_key).unwrap(),
        )
        .unwrap();
        let mut wrapped = vec![0u8; wrapping.ciphertext_size()];
        let wrapped = wrapping
            .encrypt(
                &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
                &[5; 32],
                &mut wrapped,
                None,
            )
            .unwrap()
            .to_vec();
        let unwrapped = service
            .unwrap_import(UnwrapImportRequest {
                id: imported_id,
                token: parameters.token,
                wrapped,
            })
            .await
            .unwrap();
        assert_eq!(unwrapped.sealed.header().unwrap().material, imported_id);
        let blob = service
            .encrypt(encrypt_request(&sealed, b"hsm"))
            .await
            .unwrap();
        assert_eq!(
            service
                .decrypt(decrypt_request(&sealed, &blob))
                .await
                .unwrap()
                .as_slice(),
            b"hsm"
        );
        let mut tampered = sealed.as_bytes().to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let tampered = kube_kms::seal::SealedMaterial::from_bytes(tampered);
        assert!(matches!(
            service.engine().unseal(&tampered),
            Err(CryptoError::SealedMaterialInvalid(_))
        ));
        (sealed, blob)
    };

    // A second root key version: new seals use it, old blobs still open, and
    // re-sealing moves them over without touching ciphertexts.
    {
        let mut root = Pkcs11RootKey::open(&config, false).unwrap();
        // Identities (multi-Region keys' peers) come from the token's key
        // too: one per version, derived (the same each time), not drawn.
        let before = kube_kms::replica::identities(&root).unwrap();
        assert_eq!(root.add_version().unwrap(), 2);
        let identities = kube_kms::replica::identities(&root).unwrap();
        assert_eq!(identities.len(), 2);
        assert_eq!(identities[0], before[0]);
        assert_ne!(identities[0].1, identities[1].1);
        let service = LocalCryptoService::new(Arc::new(root), CacheConfig::default());
        assert_eq!(
            service.root_key_info().await.unwrap(),
            RootKeyInfo {
                current: 2,
                versions: vec![1, 2]
            }
        );
        let resealed = service.reseal(sealed_v1.clone()).await.unwrap();
        assert_eq!(resealed.header().unwrap().root_version, 2);
        assert_eq!(
            service
                .decrypt(decrypt_request(&resealed, &blob))
                .await
                .unwrap()
                .as_slice(),
            b"hsm"
        );
        assert_eq!(
            service
                .decrypt(decrypt_request(&sealed_v1, &blob))
                .await
                .unwrap()
                .as_slice(),
            b"hsm"
        );
    }

    // The binary: `root-key add-pkcs11-version`, then `crypto` on the token.
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "1234\n").unwrap();
    let pkcs11_args = |cmd: &mut Command| {
        cmd.env("SOFTHSM2_CONF", &conf)
            .arg("--pkcs11-module")
            .arg(module())
            .args(["--pkcs11-token", "kube-kms-test", "--pkcs11-pin-file"])
            .arg(&pin_file);
    };
    let mut add = Command::new(env!("CARGO_BIN_EXE_kube-kms"));
    add.args(["root-key", "add-pkcs11-version"]);
    pkcs11_args(&mut add);
    let output = add.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("version 3"));

    let socket = dir.path().join("crypto.sock");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_kube-kms"));
    serve.arg("crypto").arg("--socket").arg(&socket);
    pkcs11_args(&mut serve);
    let mut child = serve.spawn().unwrap();
    let client = GrpcCryptoClient::connect_lazy(&socket).unwrap();
    let mut info = None;
    for _ in 0..200 {
        if let Ok(i) = client.root_key_info().await {
            info = Some(i);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        info.expect("service came up"),
        RootKeyInfo {
            current: 3,
            versions: vec![1, 2, 3]
        }
    );
    let plain = client
        .decrypt(decrypt_request(&sealed_v1, &blob))
        .await
        .unwrap();
    assert_eq!(plain.as_slice(), b"hsm");
    child.kill().unwrap();
    child.wait().unwrap();

    // `kube-kms plugin` with the token as its root key.
    let root = Pkcs11RootKey::open(&config, false).unwrap();
    let key_id = KeyId::random();
    let material = kube_kms::material::KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
    let sealed = kube_kms::seal::seal(
        &root,
        MaterialId {
            key_id,
            version: 1,
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
        },
        &material,
    )
    .unwrap();
    drop(root);
    let file = kube_kms::plugin::key_file::KeyFile {
        kind: kube_kms::plugin::key_file::KIND.into(),
        format: kube_kms::plugin::key_file::FORMAT,
        key_id,
        exported: 0,
        source: None,
        versions: vec![kube_kms::key::MaterialVersion {
            version: 1,
            created: 0,
            rotation_type: kube_kms::key::RotationType::Initial,
            sealed,
        }],
        write_version: None,
    };
    let kek = dir.path().join("kek.json");
    kube_kms::plugin::key_file::write_atomic(&kek, &file.to_json()).unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        "--pkcs11-module".into(),
        module().into(),
        "--pkcs11-token".into(),
        "kube-kms-test".into(),
        "--pkcs11-pin-file".into(),
        pin_file.clone().into(),
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let plugin = plugin::start(&dir.path().join("kms.sock"), &kek, &args);
    let mut apiserver = plugin::apiserver::ApiserverClient::connect(&plugin.socket);
    let status = apiserver.status().await.unwrap();
    assert!(status.contains(&key_id.to_string()), "{status}");
    let wrapped = apiserver.wrap(&[9; 32]).await.unwrap();
    assert_eq!(apiserver.unwrap(&wrapped).await.unwrap(), [9; 32]);
}
