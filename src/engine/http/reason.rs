//! Why a request failed, in a few words: each error class has a small fixed list of reasons
//! (`tls: certificate expired`, `connect: connection refused`, `timeout: no response headers
//! within`), read from the I/O error's kind, the TLS library's error or the engine's own error.
//! A reason is never text from the server, a URL or a value of the plan, so that it can be
//! counted (the list is bounded) and printed anywhere (it holds no secret). It is worked out only
//! for a request that failed.

use std::fmt;
use std::io;

use super::message::{Error, Timings};
use crate::summary::schema::ErrorClass;

/// A failed request's class, and why in words from a fixed list. A timeout's words end in
/// "within": the summary adds the request's timeout (`no response headers within 60s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reason {
    pub class: ErrorClass,
    pub text: &'static str,
}

impl Reason {
    pub const fn new(class: ErrorClass, text: &'static str) -> Reason {
        Reason { class, text }
    }
}

/// The reason of an I/O error the engine makes itself (a name that does not resolve, an HTTP/2
/// stream the server refused), carried inside the `io::Error` so that the error keeps its kind
/// for the code that looks at it.
#[derive(Debug)]
pub(crate) struct Why(pub &'static str);

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Why {}

/// An I/O error of `kind` that gives `text` as its reason.
pub(crate) fn why(kind: io::ErrorKind, text: &'static str) -> io::Error {
    io::Error::new(kind, Why(text))
}

/// Why `e` ended the request; `timings` say how far it got (where a timeout struck, whether a
/// closed connection had begun its response).
pub fn of(e: &Error, timings: &Timings) -> Reason {
    let text = match e {
        Error::Connect(io) => own(io).unwrap_or_else(|| connect(io)),
        Error::Reset(io) => own(io).unwrap_or_else(|| reset(io, timings)),
        Error::Timeout => timeout(timings),
        Error::Protocol(what) => what,
        Error::BodyTooLarge => "body over 32 MiB",
        Error::TooManyRedirects => "more than 10 redirects",
        Error::Tls(io) => own(io).unwrap_or_else(|| tls(io)),
    };
    Reason::new(e.class(), text)
}

/// The reason the engine gave an I/O error it made.
fn own(e: &io::Error) -> Option<&'static str> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Why>())
        .map(|w| w.0)
}

fn connect(e: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        return "too many open files";
    }
    match e.kind() {
        ConnectionRefused => "connection refused",
        TimedOut => "connection timed out",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        AddrNotAvailable => "no local address or port available",
        ConnectionReset => "connection reset",
        PermissionDenied => "permission denied",
        NotFound => "name not resolved",
        _ => "other connect error",
    }
}

fn reset(e: &io::Error, timings: &Timings) -> &'static str {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionReset => "connection reset",
        ConnectionAborted => "connection aborted",
        BrokenPipe => "connection closed while sending",
        UnexpectedEof if timings.first_byte.is_none() => "connection closed before a response",
        UnexpectedEof => "connection closed during the response",
        _ => "other I/O error",
    }
}

/// Where the request was when its time ran out.
fn timeout(t: &Timings) -> &'static str {
    match (t.connect, t.got_conn, t.wrote, t.first_byte) {
        (None, None, ..) => "no connection within",
        (Some(_), None, ..) => "no TLS handshake within",
        (_, Some(_), None, _) => "request not sent within",
        (_, Some(_), Some(_), None) => "no response headers within",
        (_, Some(_), Some(_), Some(_)) => "response not complete within",
    }
}

fn tls(e: &io::Error) -> &'static str {
    if let Some(r) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return rustls_reason(r);
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "connection closed during the handshake",
        io::ErrorKind::ConnectionReset => "connection reset during the handshake",
        _ => "TLS error",
    }
}

/// The reason of an error of the TLS library.
pub(crate) fn rustls_reason(e: &rustls::Error) -> &'static str {
    use rustls::AlertDescription as A;
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => certificate(c),
        E::AlertReceived(a) => match a {
            A::HandshakeFailure => "handshake refused by the server",
            A::ProtocolVersion => "TLS version refused by the server",
            A::UnrecognisedName => "host name unknown to the server",
            A::CertificateRequired => "client certificate required",
            _ => "alert from the server",
        },
        E::PeerIncompatible(_) => "no TLS version or cipher suite in common",
        E::NoApplicationProtocol => "no ALPN protocol in common",
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::PeerSentOversizedRecord => "not TLS (invalid message)",
        E::PeerMisbehaved(_) => "server broke the TLS protocol",
        E::DecryptError => "record does not decrypt",
        E::NoCertificatesPresented => "no certificate presented",
        _ => "TLS error",
    }
}

fn certificate(c: &rustls::CertificateError) -> &'static str {
    use rustls::CertificateError as C;
    match c {
        C::Expired | C::ExpiredContext { .. } => "certificate expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "certificate not yet valid",
        C::UnknownIssuer => "certificate from an unknown issuer",
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "certificate for another host name"
        }
        C::BadSignature => "bad certificate signature",
        C::Revoked => "certificate revoked",
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => "certificate not for servers",
        C::BadEncoding => "malformed certificate",
        C::Other(_) if super::tls::ca_certificate_as_servers(c) => {
            "a CA's certificate presented as the server's (not in ca_file)"
        }
        _ => "certificate refused",
    }
}

/// Why a request could not be built (`invalid_request`): the URL did not parse, it is not an
/// http(s) URL with a host, a header name is not a token, or a header value holds a character
/// HTTP forbids.
pub fn invalid(url_parses: bool, has_target: bool, names_ok: bool) -> Reason {
    let text = match (url_parses, has_target) {
        (false, _) => "URL cannot be requested",
        (true, false) if !names_ok => "header name not an HTTP token",
        (true, false) => "URL not http(s) with a host",
        (true, true) => "header value with a character HTTP forbids",
    };
    Reason::new(ErrorClass::InvalidRequest, text)
}

/// The reason of a request cut off in flight (`interrupted`).
pub const CUT_OFF: &str = "cut off in flight";

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn reasons_come_from_the_error_and_how_far_the_request_got() {
        let none = Timings::default();
        let reason = |e: Error, t: &Timings| {
            let r = of(&e, t);
            format!("{}: {}", r.class.as_str(), r.text)
        };
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            reason(Error::Connect(refused), &none),
            "connect: connection refused"
        );
        assert_eq!(
            reason(
                Error::Connect(io::Error::from_raw_os_error(libc::EMFILE)),
                &none
            ),
            "connect: too many open files"
        );
        assert_eq!(
            reason(Error::Timeout, &none),
            "timeout: no connection within"
        );
        let now = Instant::now();
        let mut t = Timings {
            connect: Some((now, now)),
            ..Timings::default()
        };
        assert_eq!(
            reason(Error::Timeout, &t),
            "timeout: no TLS handshake within"
        );
        t.got_conn = Some(now);
        assert_eq!(
            reason(Error::Timeout, &t),
            "timeout: request not sent within"
        );
        t.wrote = Some(now);
        assert_eq!(
            reason(Error::Timeout, &t),
            "timeout: no response headers within"
        );
        let eof = || io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(
            reason(Error::Reset(eof()), &t),
            "reset: connection closed before a response"
        );
        t.first_byte = Some(now);
        assert_eq!(
            reason(Error::Timeout, &t),
            "timeout: response not complete within"
        );
        assert_eq!(
            reason(Error::Reset(eof()), &t),
            "reset: connection closed during the response"
        );
        // The engine's own reason wins over the kind it gave the error.
        assert_eq!(
            reason(
                Error::Reset(why(io::ErrorKind::ConnectionReset, "HTTP/2 stream refused")),
                &t
            ),
            "reset: HTTP/2 stream refused"
        );
        // The TLS library's error, inside the I/O error the TLS stream returns.
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert_eq!(
            reason(
                Error::Tls(io::Error::new(io::ErrorKind::InvalidData, expired)),
                &none
            ),
            "tls: certificate expired"
        );
        assert_eq!(
            reason(Error::Tls(eof()), &none),
            "tls: connection closed during the handshake"
        );
        assert_eq!(
            reason(Error::Protocol("invalid chunk size"), &t),
            "protocol: invalid chunk size"
        );
        assert_eq!(
            invalid(true, true, true).text,
            "header value with a character HTTP forbids"
        );
    }
}
