//! HTTP: the shared client and the classification of what went wrong.
//!
//! One `reqwest` client (rustls with the ring provider, no OpenSSL) serves a whole run. Its
//! keep-alive pool hands each VU a connection while the VU has a request in flight, so N busy
//! VUs hold N connections, as k6's per-VU connections do; idle connections are reused by the next
//! VU rather than held per VU (memory stays flat at thousands of sleeping VUs). Cookies are kept
//! per VU by the engine, not by the client. Redirects: up to 10, as k6. Responses are
//! decompressed (gzip) transparently.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::recorder::ErrorClass;

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
    /// The most connections kept idle per host.
    pub max_idle_per_host: usize,
}

pub fn client(opts: &ClientOptions) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .pool_max_idle_per_host(opts.max_idle_per_host.max(1))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .no_proxy()
        .user_agent(USER_AGENT)
        .use_preconfigured_tls(tls_config(opts, true)?)
        .connector_layer(crate::conntrace::TraceConnects);
    Ok(builder.build()?)
}

/// The TLS configuration of a run: the web PKI roots and the plan's `ca_file` (or no
/// verification at all with `insecure_skip_verify`), HTTP/2 offered before HTTP/1.1. The
/// `reqwest` client's (`traced`) has the session store that timestamps each handshake's start
/// (`crate::conntrace`); the HTTP/1.1 client times its handshakes itself.
pub fn tls_config(opts: &ClientOptions, traced: bool) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if opts.insecure_skip_tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::conntrace::AcceptAnyCertificate(
                provider,
            )))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &opts.ca_pem {
            let mut n = 0;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| anyhow::anyhow!("tls.ca_file: not a PEM file: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| anyhow::anyhow!("tls.ca_file: {e}"))?;
                n += 1;
            }
            anyhow::ensure!(n > 0, "tls.ca_file: no certificate in the file");
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if traced {
        config.resumption =
            rustls::client::Resumption::store(Arc::new(crate::conntrace::TracedSessions::new()));
    }
    Ok(config)
}

/// The `reqwest` client of a run, built when first needed: a run whose requests all go to
/// `http://` URLs (the engine's own HTTP/1.1 client) never builds it, and never loads the TLS
/// root certificates.
pub struct LazyClient {
    opts: ClientOptions,
    cell: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

impl LazyClient {
    pub fn new(opts: ClientOptions) -> LazyClient {
        LazyClient {
            opts,
            cell: std::sync::OnceLock::new(),
        }
    }

    /// The client, built on the first call.
    pub fn get(&self) -> Result<&reqwest::Client, &str> {
        self.cell
            .get_or_init(|| client(&self.opts).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(String::as_str)
    }
}

/// Sorts a transport error into a stable class: `timeout`, `redirect`, `tls`, `reset`,
/// `connect`, else `protocol`.
///
/// The cause sits somewhere down the source chain (reqwest → hyper-util → io::Error → rustls or
/// another io::Error). An `io::Error`'s own `source()` skips the error it wraps, so the walk
/// steps into `get_ref()` instead.
pub fn classify(err: &reqwest::Error) -> ErrorClass {
    if err.is_timeout() {
        return ErrorClass::Timeout;
    }
    if err.is_redirect() {
        return ErrorClass::Redirect;
    }
    let mut found = None;
    let mut next: Option<&(dyn std::error::Error + 'static)> = err.source();
    // The chain is short; the bound only guards against a cycle.
    for _ in 0..32 {
        let Some(e) = next else { break };
        if e.downcast_ref::<rustls::Error>().is_some() {
            return ErrorClass::Tls;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            let class = match io.kind() {
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    Some(ErrorClass::Reset)
                }
                ConnectionRefused | AddrNotAvailable | NotConnected | HostUnreachable
                | NetworkUnreachable => Some(ErrorClass::Connect),
                TimedOut => Some(ErrorClass::Timeout),
                _ => None,
            };
            // An inner rustls error wins over the kind of the io::Error that carries it.
            found = found.or(class);
            next = match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => e.source(),
            };
            continue;
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                found = found.or(Some(ErrorClass::Timeout));
            } else if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                found = found.or(Some(ErrorClass::Reset));
            } else if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                found = found.or(Some(ErrorClass::Protocol));
            }
        }
        next = e.source();
    }
    if let Some(c) = found {
        return c;
    }
    if err.is_connect() {
        return ErrorClass::Connect;
    }
    ErrorClass::Protocol
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
    String::from_utf8_lossy(&out).into_owned()
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
