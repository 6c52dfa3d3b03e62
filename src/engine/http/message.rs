//! What both protocols share: where a request goes ([`Target`]), the request head as HTTP/1.1
//! bytes (HTTP/2 sends the same request, converted), the response head as the engine reads it,
//! the body decoder that caps it, the timings and the bytes taken at the socket, and the errors
//! sorted into the engine's error classes.

use std::io::{self, Write as _};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::summary::schema::ErrorClass;

/// The `User-Agent` of every request the plan does not give one.
pub const USER_AGENT: &str = concat!("kaizen-loadtest/", env!("CARGO_PKG_VERSION"));

/// Largest response body read (decoded); past it the read stops and the request fails with
/// `body_too_large` (the bytes read still count in `data_received`).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// The longest response head read (status line and headers).
pub(crate) const MAX_HEAD: usize = 256 * 1024;

/// Where a request goes: an `http://` origin and the request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `scheme://host:port`, the pool key.
    pub origin: Box<str>,
    /// `https://`: TLS over the connection.
    pub tls: bool,
    /// The host to connect to (an IP literal is not looked up).
    pub host: Box<str>,
    pub ip: Option<IpAddr>,
    pub port: u16,
    /// The `Host` header: the host, with `:port` when the URL names a non-default port.
    pub host_header: Box<str>,
    /// Path and query (origin form), never empty.
    pub path: Box<str>,
    /// The URL's credentials as an `authorization` value (`Basic …`), sent unless the plan sets
    /// that header.
    pub auth: Option<Box<str>>,
}

impl Target {
    /// The target of an `http://` or `https://` URL; `None` for any other scheme.
    pub fn from_url(url: &reqwest::Url) -> Option<Target> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        // As reqwest: `user:password` percent-decoded, in base64.
        let auth = (!url.username().is_empty() || url.password().is_some()).then(|| {
            use base64::Engine as _;
            // The bytes as they are (as Go sends them), UTF-8 or not.
            let mut plain = crate::url::urldecode_bytes(url.username());
            plain.push(b':');
            if let Some(p) = url.password() {
                plain.extend_from_slice(&crate::url::urldecode_bytes(p));
            }
            let mut v = String::from("Basic ");
            base64::engine::general_purpose::STANDARD.encode_string(plain, &mut v);
            v.into_boxed_str()
        });
        let port = url.port_or_known_default()?;
        let host_str = url.host_str()?;
        // An IPv6 literal comes in brackets.
        let host = host_str.trim_start_matches('[').trim_end_matches(']');
        let ip = host.parse::<IpAddr>().ok();
        let host_header = match url.port() {
            Some(p) => format!("{host_str}:{p}"),
            None => host_str.to_string(),
        };
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        if path.is_empty() {
            path.push('/');
        }
        Some(Target {
            origin: format!("{}://{host_str}:{port}", url.scheme()).into(),
            tls,
            host: host.into(),
            ip,
            port,
            host_header: host_header.into(),
            path: path.into(),
            auth,
        })
    }
}

/// Whether `s` may be sent as a header value (what `http::HeaderValue` accepts: no control
/// characters but tab).
pub fn valid_header_value(s: &[u8]) -> bool {
    s.iter().all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// Whether `s` is a header name (an RFC 9110 token).
pub fn valid_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The parts of a request head the client writes around the plan's own headers.
pub struct HeadParts<'a> {
    pub method: &'a str,
    pub target: &'a Target,
    /// `Cookie` header value, if any.
    pub cookie: Option<&'a str>,
    /// What the plan's headers already set, so the defaults are not added twice.
    pub has: Has,
    pub user_agent: &'a str,
    /// `Some(len)`: the request has a body of that length (a `content-length` is written).
    pub body_len: Option<usize>,
    /// A `content-type` to add when the plan sets none.
    pub content_type: Option<&'a str>,
}

/// Which of the headers the client adds the plan sets itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Has {
    pub host: bool,
    pub accept: bool,
    pub user_agent: bool,
    pub content_type: bool,
    pub content_length: bool,
    pub authorization: bool,
}

impl Has {
    pub fn note(&mut self, lower_name: &str) {
        match lower_name {
            "host" => self.host = true,
            "accept" => self.accept = true,
            "user-agent" => self.user_agent = true,
            "content-type" => self.content_type = true,
            "content-length" => self.content_length = true,
            "authorization" => self.authorization = true,
            _ => {}
        }
    }
}

/// Writes a request head: the request line, `host`, the plan's headers, then the defaults the
/// plan does not set (`authorization` from the URL's credentials, `accept: */*`, `user-agent`,
/// `content-type`, `content-length`), then the blank line. No `accept-encoding`: as k6, a
/// response is asked compressed only when the plan sets that header. `headers` are the plan's:
/// names in lower case, values valid.
pub fn write_head<'h>(
    out: &mut Vec<u8>,
    p: HeadParts<'_>,
    headers: impl Iterator<Item = (&'h str, &'h str)>,
) {
    out.extend_from_slice(p.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(p.target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !p.has.host {
        line(out, "host", &p.target.host_header);
    }
    for (k, v) in headers {
        line(out, k, v);
    }
    if let Some(c) = p.cookie {
        line(out, "cookie", c);
    }
    if let (Some(a), false) = (&p.target.auth, p.has.authorization) {
        line(out, "authorization", a);
    }
    if !p.has.accept {
        line(out, "accept", "*/*");
    }
    if !p.has.user_agent {
        line(out, "user-agent", p.user_agent);
    }
    if let (Some(ct), false) = (p.content_type, p.has.content_type) {
        line(out, "content-type", ct);
    }
    if let (Some(n), false) = (p.body_len, p.has.content_length) {
        out.extend_from_slice(b"content-length: ");
        push_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn line(out: &mut Vec<u8>, k: &str, v: &str) {
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(v.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// What went wrong, sorted into the engine's error classes.
#[derive(Debug)]
pub enum Error {
    Connect(io::Error),
    /// The connection broke: reset, or closed before the response was complete.
    Reset(io::Error),
    Timeout,
    Protocol(&'static str),
    BodyTooLarge,
    TooManyRedirects,
    /// The TLS handshake failed (certificate refused, protocol mismatch, closed during it), or
    /// the TLS configuration could not be built.
    Tls(io::Error),
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Connect(_) => ErrorClass::Connect,
            Error::Reset(_) => ErrorClass::Reset,
            Error::Timeout => ErrorClass::Timeout,
            Error::Protocol(_) => ErrorClass::Protocol,
            Error::BodyTooLarge => ErrorClass::BodyTooLarge,
            Error::TooManyRedirects => ErrorClass::Redirect,
            Error::Tls(_) => ErrorClass::Tls,
        }
    }
}

#[inline]
pub(crate) fn io_error(e: io::Error) -> Error {
    use io::ErrorKind::*;
    // A TLS alert or a record that does not decrypt, after the handshake.
    if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return Error::Tls(e);
    }
    match e.kind() {
        TimedOut => Error::Timeout,
        InvalidData => Error::Protocol("invalid data"),
        _ => Error::Reset(e),
    }
}

/// Times taken during one exchange. Filled as the exchange goes, so that what was measured
/// before a timeout or an error is still there.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// A connection was in hand (from the pool, or connected).
    pub got_conn: Option<Instant>,
    /// Connect started and finished (new connections only).
    pub connect: Option<(Instant, Instant)>,
    /// The TLS handshake started and finished (new `https://` connections only).
    pub tls: Option<(Instant, Instant)>,
    /// The whole request was written.
    pub wrote: Option<Instant>,
    /// The first byte of the (final) response arrived.
    pub first_byte: Option<Instant>,
}

/// Counted as the exchange goes (readable after a timeout).
#[derive(Debug)]
pub struct Progress {
    /// When the request started: a pooled connection is in hand at once (blocked 0).
    pub start: Instant,
    pub timings: Timings,
    /// A redirected request: when its first hop was written (its sending time is the first
    /// hop's, as its connection's).
    pub first_wrote: Option<Instant>,
    /// `data_sent`: bytes written to the sockets of this request (TLS records and a new
    /// connection's handshake included), as of the last [`Progress::settle`].
    pub sent: u64,
    /// `data_received`: bytes read from them, likewise.
    pub received: u64,
    /// The connection being counted.
    wire: Option<Arc<WireCount>>,
    /// Body bytes (decoded) of the response being read.
    body_len: usize,
}

impl Progress {
    #[inline]
    pub fn new(start: Instant) -> Progress {
        Progress {
            start,
            timings: Timings::default(),
            first_wrote: None,
            sent: 0,
            received: 0,
            wire: None,
            body_len: 0,
        }
    }

    /// Counts the bytes of `count`'s connection, after settling the connection counted so far.
    #[inline]
    pub(crate) fn watch(&mut self, count: &Arc<WireCount>) {
        self.settle();
        self.wire = Some(count.clone());
    }

    /// Adds what the counted connection read and wrote that no request has counted yet to
    /// `received` and `sent`: this request's bytes, a new connection's handshake, and what
    /// came while the connection was idle (an HTTP/2 server's pings). Also after a timeout:
    /// what went out before it counts.
    #[inline]
    pub fn settle(&mut self) {
        if let Some(w) = &self.wire {
            let (read, written) = w.claim();
            self.received += read;
            self.sent += written;
        }
    }
}

/// The bytes read from and written to one connection's socket, under TLS when there is TLS:
/// what `data_received` and `data_sent` count, as k6 counts them at its dialer. Shared with an
/// HTTP/2 connection's task, which does its reading and writing.
#[derive(Debug, Default)]
pub(crate) struct WireCount {
    read: AtomicU64,
    written: AtomicU64,
    /// How much of each a request has counted (one request at a time takes a connection).
    claimed: [AtomicU64; 2],
}

impl WireCount {
    /// The bytes read and written since the last claim.
    #[inline]
    fn claim(&self) -> (u64, u64) {
        let read = self.read.load(Ordering::Relaxed);
        let written = self.written.load(Ordering::Relaxed);
        let r = read - self.claimed[0].swap(read, Ordering::Relaxed);
        let w = written - self.claimed[1].swap(written, Ordering::Relaxed);
        (r, w)
    }
}

/// A TCP stream that counts its bytes into a [`WireCount`].
#[derive(Debug)]
pub(crate) struct Counted {
    pub(crate) inner: TcpStream,
    pub(crate) count: Arc<WireCount>,
}

impl Counted {
    pub(crate) fn new(inner: TcpStream) -> Counted {
        Counted {
            inner,
            count: Arc::default(),
        }
    }
}

impl AsyncRead for Counted {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            this.count.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Counted {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.count.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            this.count.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// How a response body is encoded, from its `content-encoding`: gzip and deflate are decoded
/// for checks and captures (whoever asked for them), anything else is kept as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Coding {
    #[default]
    Identity,
    Gzip,
    Deflate,
}

impl Coding {
    #[inline]
    pub(crate) fn of(content_encoding: &[u8]) -> Coding {
        let v = content_encoding.trim_ascii();
        if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Coding::Gzip
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Coding::Deflate
        } else {
            Coding::Identity
        }
    }
}

/// A status that redirects (its `Location` is followed).
#[inline]
pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// A response head, with what the engine reads from it.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    /// `Location` of a redirect status.
    pub location: Option<String>,
    /// `Set-Cookie` name and value pairs (attributes dropped).
    pub cookies: Vec<(String, String)>,
    /// Every header, when asked for (header checks and captures).
    pub headers: Option<reqwest::header::HeaderMap>,
}

impl Response {
    /// Keeps the name and value of a `Set-Cookie` header (its attributes dropped).
    pub(crate) fn note_cookie(&mut self, set_cookie: &[u8]) {
        if let Some((k, v)) = std::str::from_utf8(set_cookie)
            .ok()
            .and_then(|s| s.split(';').next())
            .and_then(|kv| kv.split_once('='))
        {
            self.cookies
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// One request as the exchange sends it.
pub struct Request<'a> {
    pub target: &'a Target,
    /// The head and the body, in one buffer.
    pub bytes: &'a [u8],
    pub head_request: bool,
    /// Safe to send again on a fresh connection when a reused one turns out closed.
    pub idempotent: bool,
    pub keep_body: bool,
    pub keep_headers: bool,
}

/// Where decoded body bytes go: kept when asked, capped at [`MAX_BODY`].
pub(crate) struct Sink<'a> {
    progress: &'a mut Progress,
    body: &'a mut Vec<u8>,
    keep: bool,
    too_large: bool,
}

impl Sink<'_> {
    #[inline]
    fn take(&mut self, data: &[u8]) -> Result<(), Error> {
        self.progress.body_len += data.len();
        if self.progress.body_len > MAX_BODY {
            self.too_large = true;
            return Err(Error::BodyTooLarge);
        }
        if self.keep {
            self.body.extend_from_slice(data);
        }
        Ok(())
    }
}

impl io::Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.take(data)
            .map_err(|_| io::Error::new(io::ErrorKind::FileTooLarge, "body too large"))?;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The body decoder: identity, or gzip or deflate (`fed`: whether any compressed byte came).
pub(crate) enum Decode<'a> {
    Identity(Sink<'a>),
    Inflate {
        inflate: Box<Inflate<'a>>,
        fed: bool,
    },
}

/// A decompressor writing into a [`Sink`].
pub(crate) enum Inflate<'a> {
    Gzip(flate2::write::GzDecoder<Sink<'a>>),
    /// `deflate` is the zlib format (RFC 9110), as Go's client reads it for k6.
    Zlib(flate2::write::ZlibDecoder<Sink<'a>>),
}

impl Inflate<'_> {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Inflate::Gzip(d) => d.write_all(data),
            Inflate::Zlib(d) => d.write_all(data),
        }
    }

    fn try_finish(&mut self) -> io::Result<()> {
        match self {
            Inflate::Gzip(d) => d.try_finish(),
            Inflate::Zlib(d) => d.try_finish(),
        }
    }

    fn too_large(&self) -> bool {
        match self {
            Inflate::Gzip(d) => d.get_ref().too_large,
            Inflate::Zlib(d) => d.get_ref().too_large,
        }
    }

    /// The result of a write or finish: past [`MAX_BODY`] it is `body_too_large`, otherwise a
    /// stream that does not decode is a protocol error.
    fn result(&self, r: io::Result<()>) -> Result<(), Error> {
        match r {
            Ok(()) => Ok(()),
            Err(_) if self.too_large() => Err(Error::BodyTooLarge),
            Err(_) => Err(Error::Protocol("invalid compressed body")),
        }
    }
}

impl<'a> Decode<'a> {
    /// The decoder of a response body coded as `coding`, keeping the body in `body` when
    /// `keep`.
    #[inline]
    pub(crate) fn new(
        progress: &'a mut Progress,
        body: &'a mut Vec<u8>,
        keep: bool,
        coding: Coding,
    ) -> Decode<'a> {
        progress.body_len = 0;
        body.clear();
        let sink = Sink {
            progress,
            body,
            keep,
            too_large: false,
        };
        let inflate = match coding {
            Coding::Identity => return Decode::Identity(sink),
            Coding::Gzip => Inflate::Gzip(flate2::write::GzDecoder::new(sink)),
            Coding::Deflate => Inflate::Zlib(flate2::write::ZlibDecoder::new(sink)),
        };
        Decode::Inflate {
            inflate: Box::new(inflate),
            fed: false,
        }
    }

    #[inline]
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<(), Error> {
        match self {
            Decode::Identity(s) => s.take(data),
            Decode::Inflate { inflate, fed } => {
                *fed |= !data.is_empty();
                let r = inflate.write_all(data);
                inflate.result(r)
            }
        }
    }

    #[inline]
    pub(crate) fn finish(self) -> Result<(), Error> {
        match self {
            Decode::Identity(_) => Ok(()),
            // An empty body is not a compressed stream, and is fine.
            Decode::Inflate { fed: false, .. } => Ok(()),
            Decode::Inflate { mut inflate, .. } => {
                let r = inflate.try_finish();
                inflate.result(r)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::from_url(&reqwest::Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn targets_of_http_urls() {
        let t = target("http://127.0.0.1:18080/health?x=1#frag");
        assert_eq!(&*t.origin, "http://127.0.0.1:18080");
        assert_eq!(&*t.host_header, "127.0.0.1:18080");
        assert_eq!(&*t.path, "/health?x=1");
        assert!(t.ip.is_some() && !t.tls);
        let t = target("http://api.example.com");
        assert_eq!(&*t.origin, "http://api.example.com:80");
        assert_eq!(&*t.host_header, "api.example.com");
        assert_eq!(&*t.path, "/");
        assert!(t.ip.is_none());
        let t = target("http://[::1]:8080/a b");
        assert_eq!(&*t.host_header, "[::1]:8080");
        assert_eq!(&*t.path, "/a%20b");
        // https: TLS, port 443 by default, a pool of its own (another origin than http://).
        let t = target("https://api.example.com/v1");
        assert_eq!(&*t.origin, "https://api.example.com:443");
        assert_eq!(
            (&*t.host, &*t.host_header, t.port, t.tls),
            ("api.example.com", "api.example.com", 443, true)
        );
        assert_ne!(
            target("http://a.test:443/").origin,
            target("https://a.test/").origin
        );
        assert!(Target::from_url(&reqwest::Url::parse("ftp://example.com/").unwrap()).is_none());
        // Credentials: out of the origin, into an authorization value (percent-decoded, as
        // reqwest sends them).
        let t = target("https://bob:p%40ss%20w@example.com/x");
        assert_eq!(&*t.origin, "https://example.com:443");
        assert_eq!(t.auth.as_deref(), Some("Basic Ym9iOnBAc3Mgdw=="));
        assert_eq!(
            target("http://bob@example.com/").auth.as_deref(),
            Some("Basic Ym9iOg==")
        );
    }

    #[test]
    fn heads_carry_the_defaults_the_plan_does_not_set() {
        let t = target("http://127.0.0.1:9/x");
        let mut out = Vec::new();
        let mut has = Has::default();
        has.note("accept");
        write_head(
            &mut out,
            HeadParts {
                method: "POST",
                target: &t,
                cookie: Some("a=1; b=2"),
                has,
                user_agent: "ua/1",
                body_len: Some(2),
                content_type: Some("application/json"),
            },
            [("accept", "application/json")].into_iter(),
        );
        // No accept-encoding: as k6, compression is the plan's to ask for.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /x HTTP/1.1\r\nhost: 127.0.0.1:9\r\naccept: application/json\r\ncookie: a=1; b=2\r\n\
             user-agent: ua/1\r\ncontent-type: application/json\r\n\
             content-length: 2\r\n\r\n"
        );
        assert!(valid_header_value(b"Bearer abc\tdef"));
        assert!(!valid_header_value(b"x\r\nevil: 1"));
        assert!(valid_header_name("x-request-id"));
        assert!(!valid_header_name("bad name"));
    }
}
