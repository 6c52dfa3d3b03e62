//! `tls:` — how the client checks the target's certificate: off by default it is checked against
//! the system's web PKI roots; `ca_file` adds the certificates of a private CA (read and parsed
//! here, so a missing or broken file stops the plan before any request); `insecure_skip_verify`
//! accepts any certificate (k6's `insecureSkipTLSVerify`), for a self-signed staging host.

use std::io::Read as _;
use std::path::Path;

use rustls::pki_types::CertificateDer;

use crate::plan::model::TlsOptions;
use crate::plan::yaml::Node;

use super::tree::Cx;
use super::tree::{bool_of, name_of, Fields, P};

/// A CA bundle bigger than this is not a CA bundle.
const MAX_CA_BYTES: u64 = 1024 * 1024;

pub(crate) fn tls(cx: &mut Cx, node: &Node, path: &P, dir: &Path) -> Option<TlsOptions> {
    let f = Fields::of(
        cx,
        node,
        path,
        "TLS options such as { ca_file: certs/ca.pem }",
    )?;
    f.only(cx, &["insecure_skip_verify", "ca_file"]);
    let insecure = match f.get("insecure_skip_verify") {
        Some(n) => bool_of(cx, n, &path.key("insecure_skip_verify")),
        None => Some(false),
    };
    let ca = match f.get("ca_file") {
        None => Some(None),
        Some(n) => {
            let p = path.key("ca_file");
            let rel = name_of(cx, n, &p)?;
            match read_ca(&dir.join(rel), rel) {
                Ok(pem) => Some(Some(pem)),
                Err(msg) => {
                    cx.error(n, &p, msg);
                    None
                }
            }
        }
    };
    let (insecure, ca_certificates) = (insecure?, ca?);
    Some(TlsOptions {
        insecure_skip_verify: insecure,
        ca_certificates: ca_certificates.unwrap_or_default(),
    })
}

/// Reads a PEM bundle of at least one certificate, bounded in size.
fn read_ca(file: &Path, shown: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read CA file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("CA file {shown} is not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_CA_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read CA file {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_CA_BYTES {
        return Err(format!(
            "CA file {shown} is over {} KiB; expected PEM certificates",
            MAX_CA_BYTES / 1024
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "CA file {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----); convert a DER file with `openssl x509 -inform der -in ca.der -out ca.pem`"
        ));
    }
    pem_certificates(&bytes)
        .map_err(|e| format!("CA file {shown} is not a valid PEM certificate bundle: {e}"))
}

/// The certificates of a PEM bundle: at least one, every block well formed.
fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject as _;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM file: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(certs)
}
