//! Connection timings for the `reqwest` client (`https://`, and what the HTTP/1.1 client of
//! [`crate::http1`] leaves to it), taken where the connection is made, as Go's `httptrace` does
//! for k6.
//!
//! `reqwest` does not say which connection a request got, nor when it was made. Two hooks sit
//! where it makes one, and write into a cell that lives only while one request is sent
//! ([`traced`], a task-local: the connection of a request is made in the request's own task):
//!
//! - a connector layer ([`TraceConnects`]) around reqwest's connector: the connect starts when
//!   the connector is called, and the connection is in hand when it returns (TCP and TLS done);
//! - the TLS session store of the rustls configuration ([`TracedSessions`]): rustls asks it for a
//!   key-share hint or a resumption ticket while it builds the ClientHello, the moment the TCP
//!   connection is up and the handshake starts.
//!
//! So a request that made a new connection knows its connect (the name lookup, when the host is
//! a name, and TCP), its TLS handshake and when it got the connection; a request that reused one
//! sees no stamp at all. A connect that hyper starts but then abandons for a connection freed
//! meanwhile finishes in the background, outside the request's task, and leaves no `connected`
//! stamp: the request is then one on a reused connection, which it was.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, NamedGroup, SignatureScheme};

/// A span between two instants.
pub type Span = (Instant, Instant);

/// What one request saw of its connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamps {
    /// The connector was called: a new connection is being made.
    pub connect_start: Option<Instant>,
    /// The TCP connection is up and the TLS handshake starts (`https://` only).
    pub tls_start: Option<Instant>,
    /// The new connection is in hand (TCP, and TLS when there is one, done).
    pub connected: Option<Instant>,
}

impl Stamps {
    /// `(connect, tls)` spans of a new connection made for this request; `None` when the
    /// request reused a connection (or its connect failed).
    pub fn new_connection(&self) -> Option<(Span, Option<Span>)> {
        let start = self.connect_start?;
        let done = self.connected?;
        Some(match self.tls_start {
            Some(t) if t >= start && t <= done => ((start, t), Some((t, done))),
            _ => ((start, done), None),
        })
    }
}

tokio::task_local! {
    static STAMPS: Cell<Stamps>;
}

/// Runs `fut` (one request through reqwest) with a fresh cell for its connection's stamps.
pub async fn traced<F: Future>(fut: F) -> (F::Output, Stamps) {
    STAMPS
        .scope(Cell::new(Stamps::default()), async move {
            let out = fut.await;
            (out, STAMPS.with(Cell::get))
        })
        .await
}

/// Updates the current request's stamps; nothing outside [`traced`].
fn stamp(f: impl FnOnce(&mut Stamps)) {
    let _ = STAMPS.try_with(|c| {
        let mut s = c.get();
        f(&mut s);
        c.set(s);
    });
}

/// The connector layer (`reqwest::ClientBuilder::connector_layer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceConnects;

impl<S> tower_layer::Layer<S> for TraceConnects {
    type Service = Traced<S>;
    fn layer(&self, inner: S) -> Traced<S> {
        Traced(inner)
    }
}

/// reqwest's connector, stamped.
#[derive(Debug, Clone)]
pub struct Traced<S>(S);

impl<S, R> tower_service::Service<R> for Traced<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // The first connect of the request is its own (a redirect's later hops keep the first
        // hop's connection timings, as k6).
        let mut mine = false;
        stamp(|s| {
            if s.connect_start.is_none() {
                s.connect_start = Some(Instant::now());
                mine = true;
            }
        });
        let fut = self.0.call(req);
        Box::pin(async move {
            let out = fut.await;
            if mine && out.is_ok() {
                stamp(|s| s.connected = Some(Instant::now()));
            }
            out
        })
    }
}

/// The session store of the TLS configuration: rustls's own in-memory cache, and the moment
/// each handshake starts.
#[derive(Debug)]
pub struct TracedSessions(rustls::client::ClientSessionMemoryCache);

impl TracedSessions {
    pub fn new() -> TracedSessions {
        // rustls's default size.
        TracedSessions(rustls::client::ClientSessionMemoryCache::new(256))
    }
}

impl Default for TracedSessions {
    fn default() -> Self {
        TracedSessions::new()
    }
}

fn handshake_starts() {
    stamp(|s| {
        if s.connect_start.is_some() && s.tls_start.is_none() && s.connected.is_none() {
            s.tls_start = Some(Instant::now());
        }
    });
}

impl ClientSessionStore for TracedSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.0.set_kx_hint(server_name, group)
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        handshake_starts();
        self.0.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.0.set_tls12_session(server_name, value)
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        handshake_starts();
        self.0.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.0.remove_tls12_session(server_name)
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.0.insert_tls13_ticket(server_name, value)
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        handshake_starts();
        self.0.take_tls13_ticket(server_name)
    }
}

/// Accepts any certificate chain, expired, self-signed or for another name
/// (`tls.insecure_skip_verify`); the handshake's signatures are still verified with the
/// certificate's key.
#[derive(Debug)]
pub struct AcceptAnyCertificate(pub Arc<rustls::crypto::CryptoProvider>);

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_new_connection_splits_at_the_handshake() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let s = Stamps {
            connect_start: Some(at(0)),
            tls_start: Some(at(2)),
            connected: Some(at(7)),
        };
        assert_eq!(
            s.new_connection(),
            Some(((at(0), at(2)), Some((at(2), at(7)))))
        );
        // Plain TCP: no handshake.
        let s = Stamps {
            tls_start: None,
            ..s
        };
        assert_eq!(s.new_connection(), Some(((at(0), at(7)), None)));
        // A connect that failed, or was abandoned: no connection of this request's own.
        let s = Stamps {
            connected: None,
            ..s
        };
        assert_eq!(s.new_connection(), None);
        assert_eq!(Stamps::default().new_connection(), None);
    }

    #[tokio::test]
    async fn stamps_live_only_inside_the_traced_request() {
        stamp(|s| s.connect_start = Some(Instant::now()));
        let ((), s) = traced(async {
            stamp(|s| s.connect_start = Some(Instant::now()));
            handshake_starts();
        })
        .await;
        assert!(s.connect_start.is_some() && s.tls_start.is_some());
        let ((), s) = traced(async {}).await;
        assert_eq!(s, Stamps::default());
    }
}
