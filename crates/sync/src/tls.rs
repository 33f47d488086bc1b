//! HTTPS for the device: rustls with the ring provider, trusting the public web roots (Mozilla's,
//! from `webpki-roots`, so a phone's outdated or tampered system store does not matter) plus a
//! kabupaten's private CA when one is given (`--ca-cert` or `VERIVALI_CA_CERT`, PEM).
//!
//! The private CA is process-wide: a binary sets it once at start ([`set_ca_cert`]); every
//! [`crate::HttpTransport`] made afterwards trusts it. Without a call, `VERIVALI_CA_CERT` is read.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

static CA_CERT: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Sets the private CA of this process (before the first transport is made); `false` when one was
/// already set or read.
pub fn set_ca_cert(path: Option<PathBuf>) -> bool {
    CA_CERT.set(path).is_ok()
}

/// The private CA in force: the one set, else `VERIVALI_CA_CERT`.
pub fn ca_cert() -> Option<&'static Path> {
    CA_CERT
        .get_or_init(|| std::env::var_os("VERIVALI_CA_CERT").map(PathBuf::from))
        .as_deref()
}

/// The client configuration: public roots plus the certificates in `extra_ca`.
pub fn client_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("CA certificate {}: {e}", path.display()))?;
        let mut n = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("CA certificate {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate {}: {e}", path.display()))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!(
                "CA certificate {}: no certificate in it",
                path.display()
            ));
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// Whether a failed request failed on the server's certificate (untrusted, expired, wrong
/// name): no retry can fix that, and the person must be told it is not a network problem.
pub fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(rustls::Error::InvalidCertificate(_)) = e.downcast_ref::<rustls::Error>() {
        return true;
    }
    // hyper wraps rustls's error in an io::Error in an io::Error; an io::Error's `source()`
    // skips the error it wraps, so that one is looked at through `get_ref()`.
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
        && is_certificate_error(inner)
    {
        return true;
    }
    e.source().is_some_and(is_certificate_error)
}
