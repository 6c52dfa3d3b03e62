//! The engine's HTTP client for `http://` and `https://` targets, timed at the socket: HTTP/1.1
//! of its own, and HTTP/2 (hyper's, [`crate::engine::http::http2`]) when a server picks it in the TLS
//! handshake (ALPN `h2, http/1.1`, as k6 offers).
//!
//! The engine sends every request through this module. It replaced `reqwest` on the hot path:
//! per request, `reqwest` parses the URL twice, clones the client and the headers, boxes its
//! futures, and hands the request to a connection task through channels; on a 2-core runner that
//! cost three times what the kernel spends on the exchange itself. Here a request is one write of
//! bytes built once per request spec (or rendered into a reused buffer), one read, a header
//! parse with `httparse`, and no task but the VU's own (HTTP/2 adds hyper's connection task).
//!
//! What it does, as `reqwest` would:
//! - keep-alive connections in a pool shared by all VUs (a VU holds a connection only while its
//!   request is in flight, HTTP/2 ones included), at most the `max_idle` given to [`Pool::with_tls`]
//!   idle per origin, dropped after 90 s idle; a connection the server closed while idle is
//!   noticed (at no cost: the reactor has already seen the FIN) and not reused; a request that
//!   meets a close it could not see (nothing received yet, idempotent method) is sent again once
//!   on a new connection;
//! - `Connection: close`, HTTP/1.0, `Content-Length`, chunked and close-delimited bodies, 1xx
//!   interim responses, HEAD/204/304 without a body;
//! - `accept-encoding: gzip` unless the plan sets it, and gzip bodies decoded as they arrive
//!   (counted and capped after decoding);
//! - credentials in the URL (`https://user:pw@host/`) sent as `Authorization: Basic` unless the
//!   plan sets an `authorization` header, as reqwest and k6 do;
//! - redirects (301, 302, 303, 307, 308), at most 10 as k6, 301–303 turning into a GET without
//!   body, credentials and cookies dropped when the origin changes;
//! - the request's timeout covering connect, send, headers and the whole body.
//!
//! Timestamps are taken at the socket: connect start and end, the TLS handshake's end, the
//! request written, the first response byte, the last body byte. From them the engine records
//! k6's `http_req_blocked`, `http_req_connecting`, `http_req_tls_handshaking`,
//! `http_req_sending`, `http_req_waiting` and `http_req_receiving`, and `http_req_duration` as
//! their sum (sending + waiting + receiving), as k6 does.

use std::io::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::engine::http::MAX_BODY;
use crate::summary::schema::ErrorClass;

/// k6's limit: the first request and up to 10 redirects.
pub const MAX_REDIRECTS: usize = 10;
/// The longest response head read (status line and headers).
pub(crate) const MAX_HEAD: usize = 256 * 1024;
/// The most response headers.
const MAX_HEADERS: usize = 100;
const READ_BUF: usize = 16 * 1024;
const READ_BUF_LARGE: usize = 64 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

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
    pub(crate) fn count_head(&mut self, header_bytes: u64) {
        self.received += 17 + header_bytes + 2;
    }
}

/// A response header's share of `data_received`: name, `: `, value, CRLF.
pub(crate) fn header_size(name_len: usize, value_len: usize) -> u64 {
    (name_len + value_len + 4) as u64
}

/// Whether a `content-encoding` value says gzip and the request asked for it (a gzip body is
/// then decoded).
pub(crate) fn gzip_coded(req: &Request<'_>, content_encoding: &[u8]) -> bool {
    req.gzip && content_encoding.trim_ascii().eq_ignore_ascii_case(b"gzip")
}

/// A status that redirects (its `Location` is followed).
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

struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

/// A connection's byte stream: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            // A server that closes without TLS's close_notify ends the stream as a FIN does
            // on plain TCP (a body cut short is still caught by its framing), as browsers and
            // hyper treat it.
            Stream::Tls(s) => match std::pin::Pin::new(&mut **s).poll_read(cx, buf) {
                std::task::Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    std::task::Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// A connection of the pool: HTTP/1.1, or HTTP/2 where the server chose it.
enum Link {
    H1(Conn),
    H2(crate::engine::http::http2::H2),
}

impl Link {
    fn usable(&mut self) -> bool {
        match self {
            Link::H1(c) => c.still_open(),
            Link::H2(c) => c.usable(),
        }
    }
}

struct Idle {
    conn: Link,
    since: Instant,
}

/// The idle keep-alive connections, per origin, shared by every VU of a run, and what TLS
/// needs.
pub struct Pool {
    idle: Mutex<Vec<(Box<str>, Vec<Idle>)>>,
    max_idle: usize,
    /// Certificates to trust, or none to check (the plan's `tls`).
    tls_options: crate::engine::http::tls::ClientOptions,
    /// The TLS configuration, built on the first `https://` connection: a plain `http://` run
    /// never loads the root certificates.
    tls: std::sync::OnceLock<Result<std::sync::Arc<rustls::ClientConfig>, String>>,
}

impl Pool {
    pub fn new(max_idle_per_origin: usize) -> Pool {
        Pool::with_tls(
            max_idle_per_origin,
            crate::engine::http::tls::ClientOptions::default(),
        )
    }

    pub fn with_tls(
        max_idle_per_origin: usize,
        tls_options: crate::engine::http::tls::ClientOptions,
    ) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            max_idle: max_idle_per_origin.max(1),
            tls_options,
            tls: std::sync::OnceLock::new(),
        }
    }

    /// The TLS configuration (built on the first call).
    pub fn tls_config(&self) -> Result<&std::sync::Arc<rustls::ClientConfig>, &str> {
        self.tls
            .get_or_init(|| {
                crate::engine::http::tls::tls_config(&self.tls_options)
                    .map(std::sync::Arc::new)
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Whether idle connections to `origin` speak HTTP/2 (the server chose it), and how many
    /// there are.
    pub fn idle_http2(&self, origin: &str) -> (bool, usize) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.iter().find(|(o, _)| &**o == origin).map(|(_, l)| l);
        list.map_or((false, 0), |l| {
            (l.iter().any(|i| matches!(i.conn, Link::H2(_))), l.len())
        })
    }

    /// The most recently used idle connection to `origin` that is still open, at `now`.
    fn checkout(&self, origin: &str, now: Instant) -> Option<Link> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = &mut idle.iter_mut().find(|(o, _)| &**o == origin)?.1;
        while let Some(Idle { mut conn, since }) = list.pop() {
            if now.saturating_duration_since(since) < IDLE_TIMEOUT && conn.usable() {
                return Some(conn);
            }
        }
        None
    }

    /// Gives back a connection that fell idle at `since`.
    fn checkin(&self, origin: &str, mut conn: Link, since: Instant) {
        if let Link::H1(conn) = &mut conn {
            if conn.buf.len() > READ_BUF {
                conn.buf = vec![0; READ_BUF];
            }
            conn.start = 0;
            conn.end = 0;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = match idle.iter().position(|(o, _)| &**o == origin) {
            Some(i) => &mut idle[i].1,
            None => {
                idle.push((origin.into(), Vec::new()));
                &mut idle.last_mut().expect("just pushed").1
            }
        };
        if list.len() < self.max_idle {
            list.push(Idle { conn, since });
        }
    }
}

impl Conn {
    /// An idle connection is usable if nothing arrived on it: no FIN, no stray bytes. The
    /// reactor tracks readiness, so when nothing arrived this makes no system call.
    fn still_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        match &mut self.stream {
            Stream::Plain(s) => {
                matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            // Through TLS: a read that would wait means nothing arrived but, maybe, TLS's own
            // records (a session ticket), which the read consumes.
            Stream::Tls(s) => {
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                let mut buf = tokio::io::ReadBuf::new(&mut probe);
                std::pin::Pin::new(&mut **s)
                    .poll_read(&mut cx, &mut buf)
                    .is_pending()
            }
        }
    }

    /// A new connection to `t`: TCP, then TLS for `https://` (and HTTP/2 over it when the
    /// server chooses it), timed into `timings`.
    async fn open(pool: &Pool, t: &Target, timings: &mut Timings) -> Result<Link, Error> {
        let (tcp, t0) = Conn::connect(t).await?;
        let t1 = Instant::now();
        timings.connect = Some((t0, t1));
        if !t.tls {
            timings.got_conn = Some(t1);
            return Ok(Link::H1(Conn::with(Stream::Plain(tcp))));
        }
        let config = pool
            .tls_config()
            .map_err(|e| Error::Tls(io::Error::other(e.to_string())))?
            .clone();
        let name = rustls::pki_types::ServerName::try_from(t.host.to_string())
            .map_err(|_| Error::Tls(io::Error::other("not a valid TLS server name")))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(Error::Tls)?;
        let t2 = Instant::now();
        timings.tls = Some((t1, t2));
        timings.got_conn = Some(t2);
        if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
            // The HTTP/2 preface is written with the first request: no round trip here.
            return Ok(Link::H2(
                crate::engine::http::http2::H2::handshake(tls).await?,
            ));
        }
        Ok(Link::H1(Conn::with(Stream::Tls(Box::new(tls)))))
    }

    fn with(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
        }
    }

    /// A TCP connection to `t`, and when connecting started: after the name was looked up, so
    /// that the lookup counts in `http_req_blocked` and not in `http_req_connecting`, as in k6.
    async fn connect(t: &Target) -> Result<(TcpStream, Instant), Error> {
        let started;
        let stream = match t.ip {
            Some(ip) => {
                started = Instant::now();
                TcpStream::connect(SocketAddr::new(ip, t.port))
                    .await
                    .map_err(Error::Connect)?
            }
            None => {
                let mut last = None;
                let mut found = None;
                let addrs = lookup(&t.host, t.port).await.map_err(Error::Connect)?;
                started = Instant::now();
                for a in addrs {
                    match TcpStream::connect(a).await {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                found.ok_or_else(|| {
                    Error::Connect(last.unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "no address for the host")
                    }))
                })?
            }
        };
        // As reqwest: Nagle off, a small request leaves at once.
        let _ = stream.set_nodelay(true);
        Ok((stream, started))
    }

    /// A larger buffer for a large body (given back at check-in).
    fn grow(&mut self, to: usize) {
        if self.buf.len() < to {
            self.buf.resize(to, 0);
        }
    }

    /// Reads more bytes into the buffer (compacting or growing it as needed); 0 at end of stream.
    async fn fill(&mut self, grow_to: usize) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = (self.buf.len() * 2).min(grow_to.max(self.buf.len() + 1));
                self.buf.resize(n, 0);
            }
        }
        if self.end == self.buf.len() {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "buffer full"));
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// Looks `host` up on a thread of its own, not on the runtime's blocking pool: a run cut off
/// while a slow resolver is asked would otherwise hold the runtime's shutdown, and so the
/// reports, until `getaddrinfo` gives up. An abandoned lookup ends on its own.
async fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs as _;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let host = host.to_string();
    std::thread::Builder::new()
        .name("dns".into())
        .spawn(move || {
            let _ = tx.send((host.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })?;
    rx.await
        .unwrap_or_else(|_| Err(io::Error::other("the name lookup thread stopped")))
}

/// Framing of a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// What the exchange takes from a response head.
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    keep_alive: bool,
    gzip: bool,
    header_bytes: u64,
    location: Option<String>,
}

fn parse_head(bytes: &[u8], req: &Request<'_>, resp: &mut Response) -> Result<Option<Head>, Error> {
    // Uninitialised: httparse writes what it finds, nothing is zeroed per response.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut r,
        bytes,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Error::Protocol("too many headers")),
        Err(_) => return Err(Error::Protocol("malformed response head")),
    };
    let status = r.code.unwrap_or(0);
    let version = r.version.unwrap_or(1);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut te = false;
    let mut close = version == 0;
    let mut gzip = false;
    let mut header_bytes = 0u64;
    let mut location = None;
    let redirect = is_redirect(status);
    if req.keep_headers {
        resp.headers = Some(reqwest::header::HeaderMap::with_capacity(r.headers.len()));
    }
    for h in r.headers.iter() {
        header_bytes += header_size(h.name.len(), h.value.len());
        keep_header(&mut resp.headers, h);
        let name = h.name.as_bytes();
        // By length and first letter: most headers are none of these, and are passed over
        // without a byte-by-byte comparison.
        let first = name.first().map_or(0, |b| b | 0x20);
        if !matches!(first, b'c' | b't' | b'l' | b's') {
            continue;
        }
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let v = decimal(h.value).ok_or(Error::Protocol("invalid content-length"))?;
                if length.is_some_and(|l| l != v) {
                    return Err(Error::Protocol("conflicting content-length"));
                }
                length = Some(v);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                te = true;
                chunked = h
                    .value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                        close = false;
                    }
                }
            }
            16 if name.eq_ignore_ascii_case(b"content-encoding") => {
                gzip = gzip_coded(req, h.value);
            }
            8 if redirect && name.eq_ignore_ascii_case(b"location") => {
                location = std::str::from_utf8(h.value).ok().map(str::to_string);
            }
            10 if name.eq_ignore_ascii_case(b"set-cookie") => resp.note_cookie(h.value),
            _ => {}
        }
    }
    let framing =
        if req.head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            Framing::None
        } else if te {
            if chunked {
                Framing::Chunked
            } else {
                Framing::Close
            }
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            Framing::Close
        };
    Ok(Some(Head {
        status,
        len,
        framing,
        keep_alive: !close && framing != Framing::Close,
        gzip,
        header_bytes,
        location,
    }))
}

/// Keeps a response header when every header is asked for.
fn keep_header(map: &mut Option<reqwest::header::HeaderMap>, h: &httparse::Header<'_>) {
    if let Some(map) = map {
        if let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(h.name.as_bytes()),
            reqwest::header::HeaderValue::from_bytes(h.value),
        ) {
            map.append(k, v);
        }
    }
}

/// A `Content-Length` value: digits only (white space around allowed), at most 19 of them.
fn decimal(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

/// Where decoded body bytes go: counted, kept when asked, capped at [`MAX_BODY`].
pub(crate) struct Sink<'a> {
    progress: &'a mut Progress,
    body: &'a mut Vec<u8>,
    keep: bool,
    too_large: bool,
}

impl Sink<'_> {
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

/// Sends `req` (on a pooled connection when one is idle) and reads its response; follows
/// nothing (see [`send`] for redirects). `body` receives the decoded body when
/// `req.keep_body`.
pub async fn exchange(
    pool: &Pool,
    req: &Request<'_>,
    progress: &mut Progress,
    body: &mut Vec<u8>,
) -> Result<Response, Error> {
    let mut retried = false;
    loop {
        // A retry goes on a new connection.
        let pooled = if retried {
            None
        } else {
            pool.checkout(&req.target.origin, progress.start)
        };
        let (mut conn, reused) = match pooled {
            Some(c) => (c, true),
            // Boxed: opening a connection (TCP, TLS, the HTTP/2 handshake) is the largest
            // state of a request, and it would otherwise be part of every VU's task, asleep or
            // not (4.3 kB a VU instead of 11.7 kB).
            None => (
                Box::pin(Conn::open(pool, req.target, &mut progress.timings)).await?,
                false,
            ),
        };
        if reused {
            // Taking a pooled connection is a lock and a pop: no clock read for it.
            progress.timings.got_conn = Some(progress.start);
        }
        let result = match &mut conn {
            Link::H1(c) => round_trip(c, req, progress, body).await,
            Link::H2(c) => c.round_trip(req, progress, body).await,
        };
        match result {
            Ok((resp, keep_alive)) => {
                if keep_alive {
                    let since = progress.timings.first_byte.unwrap_or(progress.start);
                    pool.checkin(&req.target.origin, conn, since);
                }
                return Ok(resp);
            }
            // The server closed an idle connection as the request left: nothing came back,
            // so it is safe to send again once, on a new connection.
            Err(Error::Reset(_))
                if reused
                    && !retried
                    && req.idempotent
                    && progress.timings.first_byte.is_none() =>
            {
                retried = true;
                progress.timings = Timings::default();
                body.clear();
            }
            Err(e) => return Err(e),
        }
    }
}

async fn round_trip(
    conn: &mut Conn,
    req: &Request<'_>,
    progress: &mut Progress,
    body: &mut Vec<u8>,
) -> Result<(Response, bool), Error> {
    conn.stream.write_all(req.bytes).await.map_err(io_error)?;
    if let Stream::Tls(s) = &mut conn.stream {
        // rustls may still hold records the socket did not take.
        s.flush().await.map_err(io_error)?;
    }
    progress.timings.wrote = Some(Instant::now());
    let mut resp = Response::default();
    // The head (skipping 1xx interim responses).
    let head = loop {
        // Nothing read yet (a new response): read before parsing.
        let parsed = if conn.start == conn.end {
            None
        } else {
            parse_head(&conn.buf[conn.start..conn.end], req, &mut resp)?
        };
        match parsed {
            Some(h) if (100..200).contains(&h.status) && h.status != 101 => {
                conn.start += h.len;
                resp = Response::default();
                continue;
            }
            Some(h) if h.status == 101 => return Err(Error::Protocol("unexpected upgrade")),
            Some(h) => break h,
            None => {}
        }
        if conn.end - conn.start >= MAX_HEAD {
            return Err(Error::Protocol("response head too large"));
        }
        let n = conn.fill(MAX_HEAD).await.map_err(io_error)?;
        if n == 0 {
            return Err(Error::Reset(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            )));
        }
        if progress.timings.first_byte.is_none() {
            progress.timings.first_byte = Some(Instant::now());
        }
    };
    conn.start += head.len;
    resp.status = head.status;
    resp.location = head.location;
    progress.count_head(head.header_bytes);
    let mut decode = Decode::new(
        progress,
        body,
        req.keep_body,
        head.gzip && head.framing != Framing::None,
    );
    if !matches!(head.framing, Framing::None | Framing::Length(0..=16384)) {
        conn.grow(READ_BUF_LARGE);
    }
    match head.framing {
        Framing::None => {}
        Framing::Length(mut left) => {
            while left > 0 {
                if conn.start == conn.end {
                    let n = conn.fill(READ_BUF_LARGE).await.map_err(io_error)?;
                    if n == 0 {
                        return Err(Error::Reset(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed before the end of the body",
                        )));
                    }
                }
                let k = ((conn.end - conn.start) as u64).min(left) as usize;
                decode.feed(&conn.buf[conn.start..conn.start + k])?;
                conn.start += k;
                left -= k as u64;
            }
        }
        Framing::Close => loop {
            if conn.start < conn.end {
                decode.feed(&conn.buf[conn.start..conn.end])?;
                conn.start = conn.end;
            }
            if conn.fill(READ_BUF_LARGE).await.map_err(io_error)? == 0 {
                break;
            }
        },
        Framing::Chunked => read_chunked(conn, &mut decode).await?,
    }
    decode.finish()?;
    // A keep-alive connection must hold nothing more: stray bytes mean it cannot be reused.
    let keep_alive = head.keep_alive && conn.start == conn.end;
    Ok((resp, keep_alive))
}

/// Reads a chunked body: `size[;ext]\r\n data \r\n` ... `0\r\n` trailers `\r\n`.
async fn read_chunked(conn: &mut Conn, decode: &mut Decode<'_>) -> Result<(), Error> {
    let eof = || {
        Error::Reset(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a chunked body",
        ))
    };
    loop {
        // The size line.
        let size = loop {
            let avail = &conn.buf[conn.start..conn.end];
            if let Some(i) = avail.iter().position(|&b| b == b'\n') {
                let line = avail[..i].strip_suffix(b"\r").unwrap_or(&avail[..i]);
                let hex = line
                    .split(|&b| b == b';')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii();
                let size = std::str::from_utf8(hex)
                    .ok()
                    .filter(|h| !h.is_empty() && h.len() <= 16)
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .ok_or(Error::Protocol("invalid chunk size"))?;
                conn.start += i + 1;
                break size;
            }
            if avail.len() > 4096 {
                return Err(Error::Protocol("chunk size line too long"));
            }
            if conn.fill(READ_BUF_LARGE).await.map_err(io_error)? == 0 {
                return Err(eof());
            }
        };
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let avail = &conn.buf[conn.start..conn.end];
                if let Some(i) = avail.iter().position(|&b| b == b'\n') {
                    let empty = i == 0 || (i == 1 && avail[0] == b'\r');
                    conn.start += i + 1;
                    if empty {
                        return Ok(());
                    }
                    continue;
                }
                if avail.len() > MAX_HEAD {
                    return Err(Error::Protocol("trailers too large"));
                }
                if conn.fill(READ_BUF_LARGE).await.map_err(io_error)? == 0 {
                    return Err(eof());
                }
            }
        }
        let mut left = size;
        while left > 0 {
            if conn.start == conn.end && conn.fill(READ_BUF_LARGE).await.map_err(io_error)? == 0 {
                return Err(eof());
            }
            let k = ((conn.end - conn.start) as u64).min(left) as usize;
            decode.feed(&conn.buf[conn.start..conn.start + k])?;
            conn.start += k;
            left -= k as u64;
        }
        // The CRLF after the data.
        while conn.end - conn.start < 2 {
            if conn.fill(READ_BUF_LARGE).await.map_err(io_error)? == 0 {
                return Err(eof());
            }
        }
        match &conn.buf[conn.start..conn.start + 2] {
            b"\r\n" => conn.start += 2,
            [b'\n', _] => conn.start += 1,
            _ => return Err(Error::Protocol("missing CRLF after a chunk")),
        }
    }
}

/// The method of the next hop of a redirect, and whether the body goes along: 301, 302 and 303
/// drop the body and turn anything but GET or HEAD into a GET; 307 and 308 keep both (as
/// reqwest and browsers do).
pub fn redirect_method(status: u16, method: &str) -> (&str, bool) {
    match status {
        301..=303 if method != "GET" && method != "HEAD" => ("GET", false),
        301..=303 => (method, false),
        _ => (method, true),
    }
}

/// Whether a request may be sent again when it met a closed keep-alive connection.
pub fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
    )
}

/// One hop of a request, for the caller to write its head (and body) into the buffer.
pub struct Hop<'a> {
    pub method: &'a str,
    pub target: &'a Target,
    /// The body goes along (a 301/302/303 redirect drops it).
    pub with_body: bool,
    /// The origin changed: credentials and cookies stay behind.
    pub cross_origin: bool,
}

/// Writes a hop's request into the buffer; returns whether it asked for gzip.
pub type BuildHop<'a> = dyn Fn(&mut Vec<u8>, Hop<'_>) -> bool + Sync + 'a;

/// A request to send, following redirects.
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub url: &'a reqwest::Url,
    pub target: &'a Target,
    /// The first hop's bytes (head and body) and whether they ask for gzip, when built
    /// beforehand; otherwise `build` writes them.
    pub prebuilt: Option<(&'a [u8], bool)>,
    pub build: &'a BuildHop<'a>,
    pub keep_body: bool,
    pub keep_headers: bool,
}

/// Sends a request and follows its redirects (at most [`MAX_REDIRECTS`], then
/// [`Error::TooManyRedirects`]); `scratch` holds the bytes of the hops it builds.
pub async fn send(
    pool: &Pool,
    out: Outgoing<'_>,
    scratch: &mut Vec<u8>,
    progress: &mut Progress,
    body: &mut Vec<u8>,
) -> Result<Response, Error> {
    let mut method: &str = out.method;
    let mut with_body = true;
    let mut cross_origin = false;
    let mut url: std::borrow::Cow<'_, reqwest::Url> = std::borrow::Cow::Borrowed(out.url);
    let mut target: std::borrow::Cow<'_, Target> = std::borrow::Cow::Borrowed(out.target);
    let mut first_hop: Option<Timings> = None;
    for hop in 0..=MAX_REDIRECTS {
        let (bytes, gzip): (&[u8], bool) = match (hop, out.prebuilt) {
            (0, Some(p)) => p,
            _ => {
                scratch.clear();
                let gzip = (out.build)(
                    scratch,
                    Hop {
                        method,
                        target: &target,
                        with_body,
                        cross_origin,
                    },
                );
                (&scratch[..], gzip)
            }
        };
        let req = Request {
            target: &target,
            bytes,
            head_request: method == "HEAD",
            idempotent: idempotent(method),
            gzip,
            keep_body: out.keep_body,
            keep_headers: out.keep_headers,
        };
        if hop > 0 {
            // The timings of a redirected request: connection and sending of the first hop,
            // waiting and receiving of the last.
            progress.timings.wrote = None;
            progress.timings.first_byte = None;
        }
        let resp = exchange(pool, &req, progress, body).await?;
        if hop == 0 {
            first_hop = Some(progress.timings);
            progress.first_wrote = progress.timings.wrote;
        }
        // Both protocols keep a `Location` of redirect statuses only.
        let next = resp.location.as_deref().and_then(|loc| url.join(loc).ok());
        let Some(next) = next else {
            if let Some(first) = first_hop.filter(|_| hop > 0) {
                progress.timings.got_conn = first.got_conn;
                progress.timings.connect = first.connect;
                progress.timings.tls = first.tls;
            }
            return Ok(resp);
        };
        if hop == MAX_REDIRECTS {
            return Err(Error::TooManyRedirects);
        }
        let (m, keep) = redirect_method(resp.status, method);
        method = m;
        with_body &= keep;
        let next_target =
            Target::from_url(&next).ok_or(Error::Protocol("redirect to neither http nor https"))?;
        cross_origin |= next_target.origin != target.origin;
        target = std::borrow::Cow::Owned(next_target);
        url = std::borrow::Cow::Owned(next);
    }
    Err(Error::TooManyRedirects)
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

    #[test]
    fn redirects_turn_posts_into_gets_except_307_308() {
        assert_eq!(redirect_method(302, "POST"), ("GET", false));
        assert_eq!(redirect_method(303, "PUT"), ("GET", false));
        assert_eq!(redirect_method(301, "GET"), ("GET", false));
        assert_eq!(redirect_method(307, "POST"), ("POST", true));
        assert_eq!(redirect_method(308, "DELETE"), ("DELETE", true));
    }
}
