//! What both protocols share: where a request goes ([`Target`]), the request head as HTTP/1.1
//! bytes (HTTP/2 sends the same request, converted), the response head as the engine reads it,
//! the body decoder that counts and caps it, the timings taken at the socket, and the errors
//! sorted into the engine's error classes.

use std::io::{self, Write as _};
use std::net::IpAddr;
use std::time::Instant;

use crate::summary::schema::ErrorClass;

/// The `User-Agent` of every request the plan does not give one.
pub const USER_AGENT: &str = concat!("kaizen-loadtest/", env!("CARGO_PKG_VERSION"));

/// Largest response body read; past it the read stops and the request fails with
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
    pub accept_encoding: bool,
    pub content_type: bool,
    pub content_length: bool,
    pub authorization: bool,
    /// A `range` header: no `accept-encoding` is added (as reqwest).
    pub range: bool,
}

impl Has {
    pub fn note(&mut self, lower_name: &str) {
        match lower_name {
            "host" => self.host = true,
            "accept" => self.accept = true,
            "user-agent" => self.user_agent = true,
            "accept-encoding" => self.accept_encoding = true,
            "content-type" => self.content_type = true,
            "content-length" => self.content_length = true,
            "authorization" => self.authorization = true,
            "range" => self.range = true,
            _ => {}
        }
    }
}

/// Writes a request head: the request line, `host`, the plan's headers, then the defaults the
/// plan does not set (`authorization` from the URL's credentials, `accept: */*`, `user-agent`,
/// `accept-encoding: gzip`, `content-type`, `content-length`), then the blank line. Whether `accept-encoding: gzip` was written decides
/// whether a gzip body is decoded. `headers` are the plan's: names in lower case, values valid.
pub fn write_head<'h>(
    out: &mut Vec<u8>,
    p: HeadParts<'_>,
    headers: impl Iterator<Item = (&'h str, &'h str)>,
) -> bool {
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
    let gzip = !p.has.accept_encoding && !p.has.range;
    if gzip {
        line(out, "accept-encoding", "gzip");
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
    gzip
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
    /// `data_received` as the engine counts it: status line, headers and the body as decoded.
    pub received: u64,
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
            received: 0,
            body_len: 0,
        }
    }

    /// Counts a response head of `header_bytes` (each header as [`header_size`]) with a status
    /// line and the blank line, over either protocol.
    #[inline]
    pub(crate) fn count_head(&mut self, header_bytes: u64) {
        self.received += 17 + header_bytes + 2;
    }
}

/// A response header's share of `data_received`: name, `: `, value, CRLF.
#[inline]
pub(crate) fn header_size(name_len: usize, value_len: usize) -> u64 {
    (name_len + value_len + 4) as u64
}

/// Whether a `content-encoding` value says gzip and the request asked for it (a gzip body is
/// then decoded).
#[inline]
pub(crate) fn gzip_coded(req: &Request<'_>, content_encoding: &[u8]) -> bool {
    req.gzip && content_encoding.trim_ascii().eq_ignore_ascii_case(b"gzip")
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
    /// Whether the head asked for gzip (a gzip body is then decoded).
    pub gzip: bool,
    pub keep_body: bool,
    pub keep_headers: bool,
}

/// Where decoded body bytes go: counted, kept when asked, capped at [`MAX_BODY`].
pub(crate) struct Sink<'a> {
    progress: &'a mut Progress,
    body: &'a mut Vec<u8>,
    keep: bool,
    too_large: bool,
}

impl Sink<'_> {
    #[inline]
    fn take(&mut self, data: &[u8]) -> Result<(), Error> {
        self.progress.received += data.len() as u64;
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

/// The body decoder: identity, or gzip (`fed`: whether any compressed byte came).
pub(crate) enum Decode<'a> {
    Identity(Sink<'a>),
    Gzip {
        decoder: Box<flate2::write::GzDecoder<Sink<'a>>>,
        fed: bool,
    },
}

impl<'a> Decode<'a> {
    /// The decoder of a response body (`gzip`: it came gzip-encoded and gzip was asked for),
    /// counting into `progress` and keeping the body in `body` when `keep`.
    #[inline]
    pub(crate) fn new(
        progress: &'a mut Progress,
        body: &'a mut Vec<u8>,
        keep: bool,
        gzip: bool,
    ) -> Decode<'a> {
        progress.body_len = 0;
        body.clear();
        let sink = Sink {
            progress,
            body,
            keep,
            too_large: false,
        };
        if gzip {
            Decode::Gzip {
                decoder: Box::new(flate2::write::GzDecoder::new(sink)),
                fed: false,
            }
        } else {
            Decode::Identity(sink)
        }
    }

    #[inline]
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<(), Error> {
        match self {
            Decode::Identity(s) => s.take(data),
            Decode::Gzip { decoder, fed } => {
                *fed |= !data.is_empty();
                let r = decoder.write_all(data);
                gzip_result(decoder, r)
            }
        }
    }

    #[inline]
    pub(crate) fn finish(self) -> Result<(), Error> {
        match self {
            Decode::Identity(_) => Ok(()),
            // An empty body is not a gzip stream, and is fine.
            Decode::Gzip { fed: false, .. } => Ok(()),
            Decode::Gzip { mut decoder, .. } => {
                let r = decoder.try_finish();
                gzip_result(&decoder, r)
            }
        }
    }
}

fn gzip_result(d: &flate2::write::GzDecoder<Sink<'_>>, r: io::Result<()>) -> Result<(), Error> {
    match r {
        Ok(()) => Ok(()),
        Err(_) if d.get_ref().too_large => Err(Error::BodyTooLarge),
        Err(_) => Err(Error::Protocol("invalid gzip body")),
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
        let gzip = write_head(
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
        assert!(gzip);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /x HTTP/1.1\r\nhost: 127.0.0.1:9\r\naccept: application/json\r\ncookie: a=1; b=2\r\n\
             user-agent: ua/1\r\naccept-encoding: gzip\r\ncontent-type: application/json\r\n\
             content-length: 2\r\n\r\n"
        );
        assert!(valid_header_value(b"Bearer abc\tdef"));
        assert!(!valid_header_value(b"x\r\nevil: 1"));
        assert!(valid_header_name("x-request-id"));
        assert!(!valid_header_name("bad name"));
    }
}
