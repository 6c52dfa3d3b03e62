//! The TLS configuration of the engine's client: the web PKI roots and the plan's private CA, or
//! no verification at all (`tls.insecure_skip_verify`); HTTP/2 offered before HTTP/1.1.
//!
//! A certificate in `tls.ca_file` is trusted as an issuer, and also as itself: the self-signed
//! certificate `openssl req -x509` makes is marked as a CA (`CA:TRUE`), and a server that
//! presents it as its own is refused by the web PKI's rules ("CA certificate used as an end-entity
//! certificate") while curl and Go accept it from `--cacert`. [`CaFileVerifier`] accepts exactly
//! that case, and nothing else the web PKI refuses.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub insecure_skip_tls_verify: bool,
    /// Certificates trusted besides the web PKI roots (the plan's `tls.ca_file`).
    pub ca_certificates: Vec<CertificateDer<'static>>,
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
    } else if opts.ca_certificates.is_empty() {
        builder
            .with_root_certificates(web_pki_roots())
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CaFileVerifier::new(
                &opts.ca_certificates,
                provider,
            )?))
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The web PKI's roots (Mozilla's).
fn web_pki_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
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

/// The web PKI's verifier, with one exception for the certificates of `tls.ca_file`: a server
/// that presents one of them, byte for byte, as its own certificate is accepted although the
/// certificate says it is a CA, provided it is valid now, allowed for servers (its extended key
/// usage, if any, lists serverAuth) and names the host. Everything else, the handshake's
/// signatures included, is the web PKI verifier's.
#[derive(Debug)]
struct CaFileVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    ca_file: Vec<CertificateDer<'static>>,
}

impl CaFileVerifier {
    /// The web PKI's roots and the certificates of `tls.ca_file` as issuers, and those
    /// certificates as themselves.
    fn new(
        ca_file: &[CertificateDer<'static>],
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> anyhow::Result<CaFileVerifier> {
        let mut roots = web_pki_roots();
        for cert in ca_file {
            roots
                .add(cert.clone())
                .map_err(|e| anyhow::anyhow!("tls.ca_file: {e}"))?;
        }
        Ok(CaFileVerifier {
            webpki: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()?,
            ca_file: ca_file.to_vec(),
        })
    }
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(e)
                if ca_used_as_end_entity(&e)
                    && self
                        .ca_file
                        .iter()
                        .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                verify_trusted_itself(end_entity, server_name, now)
            }
            result => result,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The web PKI refused a certificate only because it is a CA's (`basicConstraints CA:TRUE`)
/// presented as a server's.
fn ca_used_as_end_entity(e: &rustls::Error) -> bool {
    matches!(e, rustls::Error::InvalidCertificate(c) if ca_certificate_as_servers(c))
}

/// A certificate error that says a CA's certificate was presented as a server's.
pub(crate) fn ca_certificate_as_servers(c: &CertificateError) -> bool {
    match c {
        CertificateError::Other(other) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// The checks the web PKI makes of a server's own certificate, but for its chain: the user
/// trusts this very certificate. Valid now, for servers, for `server_name`.
fn verify_trusted_itself(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let facts = CertFacts::read(cert.as_ref()).ok_or(CertificateError::BadEncoding)?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now < facts.not_before {
        return Err(CertificateError::NotValidYet.into());
    }
    if now > facts.not_after {
        return Err(CertificateError::Expired.into());
    }
    if !facts.for_servers {
        return Err(CertificateError::InvalidPurpose.into());
    }
    verify_server_name(&ParsedCertificate::try_from(cert)?, server_name)?;
    Ok(ServerCertVerified::assertion())
}

/// What [`verify_trusted_itself`] reads from a certificate's DER (RFC 5280, 4.1): its validity,
/// in seconds since the Unix epoch, and whether its extended key usage allows a server (no such
/// extension, or one that lists serverAuth).
#[derive(Debug, PartialEq, Eq)]
struct CertFacts {
    not_before: i64,
    not_after: i64,
    for_servers: bool,
}

impl CertFacts {
    fn read(der: &[u8]) -> Option<CertFacts> {
        const SEQUENCE: u8 = 0x30;
        let (_, cert, _) = tlv(der, SEQUENCE)?;
        let (_, mut tbs, _) = tlv(cert, SEQUENCE)?;
        // version [0] (optional), serialNumber, signature, issuer, then validity.
        if tbs.first() == Some(&0xa0) {
            tbs = tlv(tbs, 0xa0)?.2;
        }
        for tag in [0x02, SEQUENCE, SEQUENCE] {
            tbs = tlv(tbs, tag)?.2;
        }
        let (_, validity, rest) = tlv(tbs, SEQUENCE)?;
        let (not_before, validity) = cert_time(validity)?;
        let (not_after, _) = cert_time(validity)?;
        // subject, subjectPublicKeyInfo, issuerUniqueID [1] and subjectUniqueID [2] (optional),
        // then extensions [3].
        let mut rest = tlv(tlv(rest, SEQUENCE)?.2, SEQUENCE)?.2;
        let mut for_servers = true;
        while let Some(&tag) = rest.first() {
            let (_, content, next) = tlv(rest, tag)?;
            rest = next;
            if tag == 0xa3 {
                for_servers = extended_key_usage_allows_servers(tlv(content, SEQUENCE)?.1)?;
            }
        }
        Some(CertFacts {
            not_before,
            not_after,
            for_servers,
        })
    }
}

/// Whether the extensions (DER, one after another) allow a server: no extended key usage
/// (2.5.29.37), or one that lists serverAuth (1.3.6.1.5.5.7.3.1), as the web PKI decides.
fn extended_key_usage_allows_servers(mut extensions: &[u8]) -> Option<bool> {
    const EKU: &[u8] = &[0x55, 0x1d, 0x25];
    const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    while !extensions.is_empty() {
        let (_, ext, next) = tlv(extensions, 0x30)?;
        extensions = next;
        let (_, oid, mut ext) = tlv(ext, 0x06)?;
        if oid != EKU {
            continue;
        }
        if ext.first() == Some(&0x01) {
            ext = tlv(ext, 0x01)?.2; // critical
        }
        let (_, value, _) = tlv(ext, 0x04)?;
        let (_, mut purposes, _) = tlv(value, 0x30)?;
        while !purposes.is_empty() {
            let (_, purpose, next) = tlv(purposes, 0x06)?;
            if purpose == SERVER_AUTH {
                return Some(true);
            }
            purposes = next;
        }
        return Some(false);
    }
    Some(true)
}

/// One DER element of tag `tag` at the start of `input`: (tag, content, what follows).
fn tlv(input: &[u8], tag: u8) -> Option<(u8, &[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| a << 8 | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (t, &rest[..len], &rest[len..]))
}

/// A certificate time (UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, RFC 5280
/// 4.1.2.5) in seconds since the Unix epoch, and what follows it.
fn cert_time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (&tag, _) = input.split_first()?;
    let (_, text, rest) = tlv(input, tag)?;
    let digits = text.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |s: &[u8]| s.iter().fold(0i32, |a, &d| a * 10 + (d - b'0') as i32);
    let (year, digits) = match (tag, digits.len()) {
        // UTCTime: 50-99 are 1950-1999.
        (0x17, 12) => {
            let yy = num(&digits[..2]);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (0x18, 14) => (num(&digits[..4]), &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| num(&digits[i..i + 2]) as u8;
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(field(0)).ok()?, field(2))
            .ok()?;
    let at = time::Time::from_hms(field(4), field(6), field(8)).ok()?;
    Some((
        time::PrimitiveDateTime::new(date, at)
            .assume_utc()
            .unix_timestamp(),
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};

    /// A self-signed certificate for 127.0.0.1; `ca`: marked `CA:TRUE`, as `openssl req -x509`
    /// makes it.
    fn cert(ca: bool, edit: impl FnOnce(&mut CertificateParams)) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn ring() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn verify(
        ca_file: &[CertificateDer<'static>],
        cert: &CertificateDer<'static>,
        name: &str,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let v = CaFileVerifier::new(ca_file, ring()).unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        v.verify_server_cert(cert, &[], &name, &[], UnixTime::now())
    }

    fn is(
        e: &Result<ServerCertVerified, rustls::Error>,
        want: fn(&CertificateError) -> bool,
    ) -> bool {
        matches!(e, Err(rustls::Error::InvalidCertificate(c)) if want(c))
    }

    /// `openssl req -x509 -addext subjectAltName=IP:127.0.0.1` makes a CA's certificate that
    /// servers present as their own: trusted through `ca_file` (as curl and k6 trust it), and
    /// for nothing else than what the web PKI would check of it.
    #[test]
    fn a_ca_certificate_in_the_ca_file_is_trusted_as_the_servers_own() {
        let ca = cert(true, |_| {});
        // The web PKI alone refuses it for being a CA's, which the exception recognizes.
        let plain = WebPkiServerVerifier::builder_with_provider(
            Arc::new({
                let mut r = web_pki_roots();
                r.add(ca.clone()).unwrap();
                r
            }),
            ring(),
        )
        .build()
        .unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let refused = plain
            .verify_server_cert(&ca, &[], &name, &[], UnixTime::now())
            .unwrap_err();
        assert!(ca_used_as_end_entity(&refused), "{refused:?}");

        assert!(verify(std::slice::from_ref(&ca), &ca, "127.0.0.1").is_ok());
        // Another CA's certificate in the file does not make this one trusted (the web PKI
        // refuses a CA's certificate before it looks for its issuer).
        let other = cert(true, |_| {});
        let r = verify(std::slice::from_ref(&other), &ca, "127.0.0.1");
        assert!(r.as_ref().is_err_and(ca_used_as_end_entity), "{r:?}");
        let r = verify(&[], &cert(false, |_| {}), "127.0.0.1");
        assert!(is(&r, |c| *c == CertificateError::UnknownIssuer), "{r:?}");
        // Trusted, but for another name.
        let r = verify(std::slice::from_ref(&ca), &ca, "localhost");
        assert!(
            is(&r, |c| matches!(
                c,
                CertificateError::NotValidForNameContext { .. }
            )),
            "{r:?}"
        );
        // Expired, not yet valid, or only for clients: refused, in the file or not.
        let day = time::Duration::days(1);
        let now = time::OffsetDateTime::now_utc();
        let expired = cert(true, |p| {
            p.not_before = now - 30 * day;
            p.not_after = now - day;
        });
        let r = verify(std::slice::from_ref(&expired), &expired, "127.0.0.1");
        assert!(
            is(&r, |c| matches!(c, CertificateError::ExpiredContext { .. })),
            "{r:?}"
        );
        let early = cert(true, |p| {
            p.not_before = now + day;
            p.not_after = now + 30 * day;
        });
        let r = verify(std::slice::from_ref(&early), &early, "127.0.0.1");
        assert!(
            is(&r, |c| matches!(
                c,
                CertificateError::NotValidYetContext { .. }
            )),
            "{r:?}"
        );
        let clients = cert(true, |p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth]
        });
        let r = verify(std::slice::from_ref(&clients), &clients, "127.0.0.1");
        assert!(is(&r, |c| *c == CertificateError::InvalidPurpose), "{r:?}");
        let servers = cert(true, |p| {
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ]
        });
        assert!(verify(std::slice::from_ref(&servers), &servers, "127.0.0.1").is_ok());
        // A certificate that is no CA's is trusted through the file as before.
        let leaf = cert(false, |_| {});
        assert!(verify(std::slice::from_ref(&leaf), &leaf, "127.0.0.1").is_ok());
    }

    /// The checks of a certificate trusted as itself, each on its own (the web PKI checks the
    /// validity before it sees a CA's certificate, so a run cannot reach these).
    #[test]
    fn a_certificate_trusted_as_itself_is_checked_for_time_purpose_and_name() {
        let now = time::OffsetDateTime::now_utc();
        let ca = cert(true, |p| {
            p.not_before = now - time::Duration::days(1);
            p.not_after = now + time::Duration::days(1);
        });
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let at = |d: time::Duration| {
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                (now + d).unix_timestamp() as u64
            ))
        };
        assert!(verify_trusted_itself(&ca, &name, at(time::Duration::ZERO)).is_ok());
        let r = verify_trusted_itself(&ca, &name, at(time::Duration::days(2)));
        assert!(is(&r, |c| *c == CertificateError::Expired), "{r:?}");
        let r = verify_trusted_itself(&ca, &name, at(-time::Duration::days(2)));
        assert!(is(&r, |c| *c == CertificateError::NotValidYet), "{r:?}");
        let other = ServerName::try_from("10.0.0.1").unwrap();
        assert!(verify_trusted_itself(&ca, &other, at(time::Duration::ZERO)).is_err());
        let r = verify_trusted_itself(
            &CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]),
            &name,
            at(time::Duration::ZERO),
        );
        assert!(is(&r, |c| *c == CertificateError::BadEncoding), "{r:?}");
    }

    #[test]
    fn certificate_facts_are_read_from_the_der() {
        let t = |y: i32, m: u8, d: u8| {
            time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d)
                .unwrap()
                .with_hms(0, 0, 0)
                .unwrap()
                .assume_utc()
        };
        // UTCTime up to 2049, GeneralizedTime from 2050.
        let c = cert(false, |p| {
            p.not_before = t(2001, 2, 3);
            p.not_after = t(2050, 1, 1);
        });
        let facts = CertFacts::read(c.as_ref()).unwrap();
        assert_eq!(
            facts,
            CertFacts {
                not_before: t(2001, 2, 3).unix_timestamp(),
                not_after: t(2050, 1, 1).unix_timestamp(),
                for_servers: true,
            }
        );
        let c = cert(true, |p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning]
        });
        assert!(!CertFacts::read(c.as_ref()).unwrap().for_servers);
        // Cut anywhere, a certificate reads as nothing rather than as something else.
        for n in 0..c.as_ref().len() {
            assert_eq!(CertFacts::read(&c.as_ref()[..n]), None, "{n}");
        }
    }
}
