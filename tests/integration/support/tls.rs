//! TLS for the test servers: a self-signed (or expired) certificate for 127.0.0.1 and localhost,
//! plain or marked as a CA's as `openssl req -x509` makes it, and a hyper server over HTTP/1.1 or
//! HTTP/2 with a few routes the engine's tests call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::serve::{serve_on_thread, ServerThread};

/// Which certificate a TLS test server presents.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cert {
    SelfSigned,
    Expired,
    /// Self-signed with `basicConstraints CA:TRUE`, as `openssl req -x509 -addext
    /// subjectAltName=IP:127.0.0.1` makes it.
    SelfSignedCa,
    /// The same, expired.
    ExpiredCa,
}

/// A hyper TLS server on 127.0.0.1:0, over HTTP/2 when `h2` (offered by ALPN, as a real server
/// does) else HTTP/1.1; it counts the connections it accepted and those that spoke HTTP/2.
/// `/redirect`: 307 to `/echo`; `/whoami`: `method path authority authorization body-length`,
/// with a cookie; `/gzip`: a gzip-encoded body; `/slow`: `ok` after 60 ms (over HTTP/2 the
/// server pings every 5 ms meanwhile, and the client must acknowledge each); anything else: the
/// request's body back, or `ok` without one.
pub struct TlsServer {
    pub url: String,
    pub accepted: Arc<AtomicU64>,
    pub h2_connections: Arc<AtomicU64>,
    _thread: ServerThread,
}

impl TlsServer {
    pub fn start(h2: bool) -> TlsServer {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let (mut config, _pem) = tls_config(Cert::SelfSigned);
        config.alpn_protocols = if h2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let accepted = Arc::new(AtomicU64::new(0));
        let h2_connections = Arc::new(AtomicU64::new(0));
        let (a, h) = (accepted.clone(), h2_connections.clone());
        let (port, thread) = serve_on_thread(move |sock| {
            a.fetch_add(1, Ordering::SeqCst);
            let (acceptor, h) = (acceptor.clone(), h.clone());
            async move {
                let Ok(tls) = acceptor.accept(sock).await else {
                    return;
                };
                let spoke_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let svc = hyper::service::service_fn(tls_route);
                let io = TokioIo::new(tls);
                if spoke_h2 {
                    h.fetch_add(1, Ordering::SeqCst);
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .timer(hyper_util::rt::TokioTimer::new())
                        .keep_alive_interval(Duration::from_millis(5))
                        .serve_connection(io, svc)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                }
            }
        });
        TlsServer {
            url: format!("https://127.0.0.1:{port}"),
            accepted,
            h2_connections,
            _thread: thread,
        }
    }
}

/// [`TlsServer`]'s routes.
async fn tls_route(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    use http_body_util::BodyExt as _;
    let full = |b: Vec<u8>| http_body_util::Full::new(bytes::Bytes::from(b));
    let r = hyper::Response::builder();
    let r = match req.uri().path() {
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(60)).await;
            r.body(full(b"ok".to_vec()))
        }
        "/redirect" => r
            .status(307)
            .header("location", "/echo")
            .body(full(Vec::new())),
        "/gzip" => {
            use std::io::Write as _;
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(b"zipped").unwrap();
            r.header("content-encoding", "gzip")
                .body(full(z.finish().unwrap()))
        }
        "/whoami" => {
            let h = |n: &str| {
                req.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_string()
            };
            let authority = req
                .uri()
                .authority()
                .map(|a| a.to_string())
                .unwrap_or_else(|| h("host"));
            let line = format!(
                "{} {} {authority} {}",
                req.method(),
                req.uri().path(),
                h("authorization"),
            );
            let n = req.into_body().collect().await.map(|b| b.to_bytes().len());
            r.header("set-cookie", "session=abc; Path=/")
                .body(full(format!("{line} {}", n.unwrap_or(0)).into_bytes()))
        }
        _ => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let body = if body.is_empty() {
                b"ok".to_vec()
            } else {
                body.to_vec()
            };
            r.body(full(body))
        }
    };
    Ok(r.unwrap())
}

/// A rustls server config with a certificate for 127.0.0.1 and localhost.
pub fn tls_config(cert: Cert) -> (rustls::ServerConfig, String) {
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    if matches!(cert, Cert::SelfSignedCa | Cert::ExpiredCa) {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    if matches!(cert, Cert::Expired | Cert::ExpiredCa) {
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(30);
        params.not_after = now - time::Duration::days(1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let c = params.self_signed(&key).unwrap();
    let der = c.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key_der)
    .unwrap();
    (config, c.pem())
}
