//! `verivali-server make-cert`: a private CA and a server certificate signed by it, for a
//! kabupaten that has no certificate from a public CA (a server on an internal address, or a
//! pilot before the domain is ready). The CA certificate goes to the devices (`--ca-cert` /
//! `VERIVALI_CA_CERT`); its key should then leave the server, kept offline for the next renewal.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// The files written.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The CA certificate (PEM): give it to devices.
    pub ca_cert: PathBuf,
    /// The CA's private key (PEM): keep it offline.
    pub ca_key: PathBuf,
    /// The server's certificate chain (PEM): `--tls-cert`.
    pub cert: PathBuf,
    /// The server's private key (PEM): `--tls-key`.
    pub key: PathBuf,
}

/// How long the server certificate lasts: a year, so it is renewed while people remember how.
const SERVER_DAYS: i64 = 365;
/// How long the CA lasts: ten years.
const CA_DAYS: i64 = 3650;

/// Valid from yesterday (a device whose clock is a little behind still accepts it) for `days`.
fn validity(params: &mut CertificateParams, days: i64, today: chrono::NaiveDate) {
    use chrono::Datelike;
    let day = |d: chrono::NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    params.not_before = day(today - chrono::Duration::days(1));
    params.not_after = day(today + chrono::Duration::days(days));
}

/// Makes a CA named `org` and a certificate for `hosts` (names or IP addresses) under `dir`.
/// `today` dates the certificates.
pub fn make(
    dir: &Path,
    org: &str,
    hosts: &[String],
    today: chrono::NaiveDate,
) -> anyhow::Result<CertFiles> {
    anyhow::ensure!(!hosts.is_empty(), "name at least one --host");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, format!("{org} CA"));
    ca.distinguished_name.push(DnType::OrganizationName, org);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca, CA_DAYS, today);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(hosts.to_vec())?;
    leaf.distinguished_name.push(DnType::CommonName, &hosts[0]);
    leaf.distinguished_name.push(DnType::OrganizationName, org);
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut leaf, SERVER_DAYS, today);
    let cert = leaf.signed_by(&key, &issuer)?;

    let files = CertFiles {
        ca_cert: dir.join("ca.pem"),
        ca_key: dir.join("ca-key.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    write(&files.ca_cert, &ca_cert.pem(), false)?;
    write(&files.ca_key, &ca_key.serialize_pem(), true)?;
    // The chain a client needs: the leaf, then the CA (harmless for clients that have it).
    write(
        &files.cert,
        &format!("{}{}", cert.pem(), ca_cert.pem()),
        false,
    )?;
    write(&files.key, &key.serialize_pem(), true)?;
    Ok(files)
}

/// Writes a file; private keys readable by the owner only.
fn write(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
