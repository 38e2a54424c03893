//! The endpoint's TLS certificate: read from PEM files (rustls on AWS-LC),
//! and followed while serving, so a certificate renewed in place (by
//! cert-manager, through a mounted Secret) is served without a restart
//! instead of the old one until it expires.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// Where the certificate chain and its private key are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// The certificate served now, and what it was read from.
#[derive(Debug)]
pub struct Certificate {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Served>,
}

#[derive(Debug)]
struct Served {
    key: Arc<CertifiedKey>,
    /// The two files' bytes it was made from.
    source: (Vec<u8>, Vec<u8>),
}

impl Certificate {
    /// Reads the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, String> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let source = read(&files)?;
        let key = certified_key(&files, &provider, &source)?;
        Ok(Arc::new(Certificate {
            files,
            provider,
            current: RwLock::new(Served { key, source }),
        }))
    }

    /// A server configuration that serves whatever certificate this holds
    /// at each handshake, offering HTTP/2 and HTTP/1.1.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, String> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Re-reads the files if they changed. A pair that does not make a
    /// certificate (a renewal caught between writing the two files, say)
    /// leaves the one in force and is tried again when the files change.
    pub fn reload(&self) -> Result<bool, String> {
        let source = read(&self.files)?;
        if self.lock().source == source {
            return Ok(false);
        }
        let key = certified_key(&self.files, &self.provider, &source)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Served { key, source };
        Ok(true)
    }

    /// Checks the files every `every`, for as long as it runs.
    pub async fn follow(self: Arc<Self>, every: Duration) {
        let mut refused: Option<String> = None;
        loop {
            tokio::time::sleep(every).await;
            match self.reload() {
                Ok(false) => {}
                Ok(true) => {
                    refused = None;
                    tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                }
                // Said once per distinct reason, not every few seconds.
                Err(why) if refused.as_ref() != Some(&why) => {
                    tracing::error!(error = %why, "TLS certificate not reloaded; the one in force is still served");
                    refused = Some(why);
                }
                Err(_) => {}
            }
        }
    }

    fn lock(&self) -> std::sync::RwLockReadGuard<'_, Served> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.lock().key.clone())
    }
}

fn read(files: &TlsFiles) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    };
    Ok((read(&files.cert)?, read(&files.key)?))
}

/// The chain and key in `source`, checked to belong together.
fn certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
    source: &(Vec<u8>, Vec<u8>),
) -> Result<Arc<CertifiedKey>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&source.0)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificates", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(&source.1)
        .map_err(|e| format!("{}: {e}", files.key.display()))?;
    let key = CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| format!("{} and {}: {e}", files.cert.display(), files.key.display()))?;
    Ok(Arc::new(key))
}

/// A server configuration from PEM files that are read once.
pub fn tls_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    Certificate::load(files.clone())?.server_config()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, as PEM.
    fn pair() -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (made.cert.pem(), made.signing_key.serialize_pem())
    }

    fn der(pem: &str) -> Vec<u8> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    fn served(certificate: &Certificate) -> Vec<u8> {
        certificate.lock().key.cert[0].to_vec()
    }

    #[test]
    fn a_renewed_certificate_is_served_and_a_bad_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
        };
        let write = |(cert, key): &(String, String)| {
            std::fs::write(&files.cert, cert).unwrap();
            std::fs::write(&files.key, key).unwrap();
        };
        let first = pair();
        write(&first);
        let certificate = Certificate::load(files.clone()).unwrap();
        assert_eq!(served(&certificate), der(&first.0));
        assert_eq!(certificate.reload(), Ok(false), "nothing changed");

        let renewed = pair();
        write(&renewed);
        assert_eq!(certificate.reload(), Ok(true));
        assert_eq!(served(&certificate), der(&renewed.0));

        // Caught between the two files: a certificate with another's key.
        let next = pair();
        std::fs::write(&files.cert, &next.0).unwrap();
        let refused = certificate.reload().unwrap_err();
        assert!(
            refused.contains("tls.crt and") && refused.contains("tls.key"),
            "{refused}"
        );
        assert_eq!(served(&certificate), der(&renewed.0));
        // Once the key follows, it is served.
        std::fs::write(&files.key, &next.1).unwrap();
        assert_eq!(certificate.reload(), Ok(true));
        assert_eq!(served(&certificate), der(&next.0));

        for (file, text, expected) in [
            (&files.cert, "not PEM", "tls.crt: no certificates"),
            (&files.key, "not PEM", "tls.key:"),
        ] {
            write(&next);
            std::fs::write(file, text).unwrap();
            let refused = certificate.reload().unwrap_err();
            assert!(refused.contains(expected), "{refused}");
            assert_eq!(served(&certificate), der(&next.0));
        }
        std::fs::remove_file(&files.key).unwrap();
        assert!(certificate.reload().unwrap_err().contains("tls.key"));
        assert_eq!(served(&certificate), der(&next.0));

        // At start, a mismatched pair is an error.
        std::fs::write(&files.cert, &first.0).unwrap();
        std::fs::write(&files.key, &next.1).unwrap();
        assert!(Certificate::load(files).is_err());
    }
}
