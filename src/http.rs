//! HTTP: the shared client and the classification of what went wrong.
//!
//! One `reqwest` client (rustls with the ring provider, no OpenSSL) serves a whole run. Its
//! keep-alive pool hands each VU a connection while the VU has a request in flight, so N busy
//! VUs hold N connections, as k6's per-VU connections do; idle connections are reused by the next
//! VU rather than held per VU (memory stays flat at thousands of sleeping VUs). Cookies are kept
//! per VU by the engine, not by the client. Redirects: up to 10, as k6. Responses are
//! decompressed (gzip) transparently.

use std::error::Error as _;
use std::time::Duration;

use crate::metrics::recorder::ErrorClass;

/// Largest response body read; past it the read stops and the request fails with
/// `body_too_large` (the bytes read still count in `data_received`).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub insecure_skip_tls_verify: bool,
    /// The most connections kept idle per host.
    pub max_idle_per_host: usize,
}

pub fn client(opts: &ClientOptions) -> anyhow::Result<reqwest::Client> {
    // The process-wide provider; a second install in the same process is a harmless no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .pool_max_idle_per_host(opts.max_idle_per_host.max(1))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .no_proxy()
        .danger_accept_invalid_certs(opts.insecure_skip_tls_verify)
        .user_agent(concat!("kaizen-loadtest/", env!("CARGO_PKG_VERSION")));
    Ok(builder.build()?)
}

/// Sorts a transport error into a stable class.
pub fn classify(err: &reqwest::Error) -> ErrorClass {
    if err.is_timeout() {
        return ErrorClass::Timeout;
    }
    if err.is_redirect() {
        return ErrorClass::Redirect;
    }
    let mut source = err.source();
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return ErrorClass::Tls;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return ErrorClass::Reset
                }
                ConnectionRefused | AddrNotAvailable | NotConnected => return ErrorClass::Connect,
                TimedOut => return ErrorClass::Timeout,
                _ => {}
            }
            if io
                .get_ref()
                .is_some_and(|e| e.downcast_ref::<rustls::Error>().is_some())
            {
                return ErrorClass::Tls;
            }
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                return ErrorClass::Reset;
            }
            if h.is_parse() || h.is_parse_status() {
                return ErrorClass::Protocol;
            }
        }
        source = s.source();
    }
    if err.is_connect() {
        return ErrorClass::Connect;
    }
    ErrorClass::Protocol
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
