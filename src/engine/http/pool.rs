//! The connections of a run and the requests sent on them: keep-alive connections per origin
//! shared by every VU (a VU holds one only while its request is in flight), opened with TCP, TLS
//! and ALPN as the target allows, and a request sent on one with its redirects followed.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::http1::{self, Conn, Stream};
use super::http2::H2;
use super::message::{Counted, Error, Progress, Request, Response, Target, Timings};
use super::reason::why;
use super::tls::{tls_config, ClientOptions};

/// k6's limit: the first request and up to 10 redirects.
pub const MAX_REDIRECTS: usize = 10;
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A connection of the pool: HTTP/1.1, or HTTP/2 where the server chose it.
enum Link {
    H1(Conn),
    H2(H2),
}

impl Link {
    fn usable(&mut self) -> bool {
        match self {
            Link::H1(c) => c.still_open(),
            Link::H2(c) => c.usable(),
        }
    }

    #[inline]
    fn wire(&self) -> &std::sync::Arc<super::message::WireCount> {
        match self {
            Link::H1(c) => c.wire(),
            Link::H2(c) => c.wire(),
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
    tls_options: ClientOptions,
    /// The TLS configuration, built on the first `https://` connection: a plain `http://` run
    /// never loads the root certificates.
    tls: std::sync::OnceLock<Result<std::sync::Arc<rustls::ClientConfig>, String>>,
}

impl Pool {
    pub fn new(max_idle_per_origin: usize) -> Pool {
        Pool::with_tls(max_idle_per_origin, ClientOptions::default())
    }

    pub fn with_tls(max_idle_per_origin: usize, tls_options: ClientOptions) -> Pool {
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
                tls_config(&self.tls_options)
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
            conn.idle();
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

/// A new connection to `t`: TCP, then TLS for `https://` (and HTTP/2 over it when the
/// server chooses it), timed into `timings`.
async fn open(pool: &Pool, t: &Target, progress: &mut Progress) -> Result<Link, Error> {
    let (tcp, t0) = connect(t).await?;
    let t1 = Instant::now();
    let timings = &mut progress.timings;
    timings.connect = Some((t0, t1));
    // Counted from its first byte: a handshake that fails still counts what it sent.
    let tcp = Counted::new(tcp);
    progress.watch(&tcp.count);
    let timings = &mut progress.timings;
    if !t.tls {
        timings.got_conn = Some(t1);
        return Ok(Link::H1(Conn::with(Stream::Plain(tcp))));
    }
    let config = pool
        .tls_config()
        .map_err(|_| Error::Tls(why(io::ErrorKind::Other, "TLS configuration failed")))?
        .clone();
    let name = rustls::pki_types::ServerName::try_from(t.host.to_string()).map_err(|_| {
        Error::Tls(why(
            io::ErrorKind::InvalidInput,
            "host name not valid for TLS",
        ))
    })?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(Error::Tls)?;
    let t2 = Instant::now();
    timings.tls = Some((t1, t2));
    timings.got_conn = Some(t2);
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        // The HTTP/2 preface is written with the first request: no round trip here.
        return Ok(Link::H2(H2::handshake(tls).await?));
    }
    Ok(Link::H1(Conn::with(Stream::Tls(Box::new(tls)))))
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
            // Whatever the resolver said, the name did not resolve (the reason counted).
            let found = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e));
            let _ = tx.send(found.map(Vec::from_iter));
        })?;
    rx.await
        .unwrap_or_else(|_| Err(io::Error::other("the name lookup thread stopped")))
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
            None => match Box::pin(open(pool, req.target, progress)).await {
                Ok(c) => (c, false),
                Err(e) => {
                    progress.settle();
                    return Err(e);
                }
            },
        };
        if reused {
            // Taking a pooled connection is a lock and a pop: no clock read for it.
            progress.timings.got_conn = Some(progress.start);
            progress.watch(conn.wire());
        }
        let result = match &mut conn {
            Link::H1(c) => http1::round_trip(c, req, progress, body).await,
            Link::H2(c) => c.round_trip(req, progress, body).await,
        };
        progress.settle();
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

/// Writes a hop's request into the buffer.
pub type BuildHop<'a> = dyn Fn(&mut Vec<u8>, Hop<'_>) + Sync + 'a;

/// A request to send, following redirects.
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub url: &'a reqwest::Url,
    pub target: &'a Target,
    /// The first hop's bytes (head and body), when built beforehand; otherwise `build` writes
    /// them.
    pub prebuilt: Option<&'a [u8]>,
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
        let bytes: &[u8] = match (hop, out.prebuilt) {
            (0, Some(p)) => p,
            _ => {
                scratch.clear();
                (out.build)(
                    scratch,
                    Hop {
                        method,
                        target: &target,
                        with_body,
                        cross_origin,
                    },
                );
                &scratch[..]
            }
        };
        let req = Request {
            target: &target,
            bytes,
            head_request: method == "HEAD",
            idempotent: idempotent(method),
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

    #[test]
    fn redirects_turn_posts_into_gets_except_307_308() {
        assert_eq!(redirect_method(302, "POST"), ("GET", false));
        assert_eq!(redirect_method(303, "PUT"), ("GET", false));
        assert_eq!(redirect_method(301, "GET"), ("GET", false));
        assert_eq!(redirect_method(307, "POST"), ("POST", true));
        assert_eq!(redirect_method(308, "DELETE"), ("DELETE", true));
    }
}
