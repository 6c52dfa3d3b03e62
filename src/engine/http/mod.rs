//! HTTP: what the engine's client ([`crate::engine::http::http1`], [`crate::engine::http::http2`]) shares: its options, its
//! TLS configuration, its defaults, and the URL helpers.

pub mod http1;
pub mod http2;

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The `User-Agent` of every request the plan does not give one.
pub const USER_AGENT: &str = concat!("kaizen-loadtest/", env!("CARGO_PKG_VERSION"));

/// Largest response body read; past it the read stops and the request fails with
/// `body_too_large` (the bytes read still count in `data_received`).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub insecure_skip_tls_verify: bool,
    /// PEM certificates trusted besides the web PKI roots (the plan's `tls.ca_file`).
    pub ca_pem: Option<Vec<u8>>,
}

/// The TLS configuration of a run: the web PKI roots and the plan's `ca_file` (or no
/// verification at all with `insecure_skip_verify`), HTTP/2 offered before HTTP/1.1.
pub fn tls_config(opts: &ClientOptions) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if opts.insecure_skip_tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &opts.ca_pem {
            for cert in pem_certificates(pem).map_err(|e| anyhow::anyhow!("tls.ca_file: {e}"))? {
                roots
                    .add(cert)
                    .map_err(|e| anyhow::anyhow!("tls.ca_file: {e}"))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates of a PEM bundle: at least one, every block well formed.
pub(crate) fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject as _;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM file: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(certs)
}

/// Accepts any certificate chain, expired, self-signed or for another name
/// (`tls.insecure_skip_verify`); the handshake's signatures are still verified with the
/// certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Appends `s` percent-encoded (RFC 3986: unreserved characters stay, every other byte is
/// `%XX`): query components, form fields, a GitLab project path as one path segment.
pub fn push_urlencoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

/// `s` percent-encoded, as [`push_urlencoded`] appends it.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_urlencoded(&mut out, s);
    out
}

/// `s` with its `%XX` escapes decoded (an invalid escape is kept as it is; bytes that are not
/// UTF-8 are replaced).
pub fn urldecode(s: &str) -> String {
    String::from_utf8_lossy(&urldecode_bytes(s)).into_owned()
}

/// The bytes `s` stands for, its `%XX` escapes decoded (an invalid escape is kept as it is).
pub fn urldecode_bytes(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A URL without its `user:password@` part, for logs and reports.
pub fn strip_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_credentials("https://bob:hunter2@api.example.com/v1"),
            "https://api.example.com/v1"
        );
        assert_eq!(
            strip_credentials("http://127.0.0.1:8000"),
            "http://127.0.0.1:8000"
        );
    }
}
