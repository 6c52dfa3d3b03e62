//! Fault servers: raw TCP (or TLS) servers on 127.0.0.1:0 that break HTTP in one chosen way
//! (a reset mid-body, no answer, a trickle, a huge body, a gzip bomb, garbage, …), and a port
//! where nothing listens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::serve::{serve_on_thread, ServerThread};
use super::tls::{tls_config, Cert};

/// How a fault server answers each request.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// 200 with this body and these extra header lines (each ending in `\r\n`).
    Ok {
        body: &'static str,
        headers: &'static str,
    },
    /// Headers promising 1 MB, 1 KB of body, then a TCP reset (SO_LINGER 0).
    ResetMidBody,
    /// Reads the request and never answers.
    NoHeaders,
    /// Headers, then one body byte every `every`.
    Trickle { every: Duration, len: usize },
    /// A `len`-byte body of zeros, streamed lazily (never allocated).
    HugeBody { len: u64 },
    /// gzip-encoded zeros without end: a few KB on the wire, unbounded once decoded.
    GzipBomb,
    /// Not HTTP at all.
    Garbage,
    /// A header line without a colon.
    BadHeader,
    /// 200 `Connection: close`, then closes; `silent`: closes without saying so.
    CloseEach { silent: bool },
    /// 302 to itself, forever.
    RedirectLoop,
    /// 500 and 503 in turn.
    Storm,
    /// 500, each after holding the request this long (keep-alive).
    SlowError { hold: Duration },
}

/// A fault server on 127.0.0.1:0, stopped when dropped.
pub struct FaultServer {
    pub url: String,
    /// The server's certificate (PEM) for TLS servers.
    pub cert_pem: Option<String>,
    /// Requests whose head was read.
    pub requests: Arc<AtomicU64>,
    /// When each request's head was read, in order.
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
    /// Each request's head as it arrived, in order (at most the first 10 000).
    pub heads: Arc<Mutex<Vec<String>>>,
    _thread: ServerThread,
}

/// A port on 127.0.0.1 where nothing listens: bound, then released.
pub fn dead_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

pub fn start(fault: Fault) -> FaultServer {
    serve(fault, None)
}

pub fn start_tls(cert: Cert) -> FaultServer {
    serve(
        Fault::Ok {
            body: "ok",
            headers: "",
        },
        Some(cert),
    )
}

fn serve(fault: Fault, cert: Option<Cert>) -> FaultServer {
    let (tls, cert_pem) = match cert {
        Some(c) => {
            let (config, pem) = tls_config(c);
            (
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
                Some(pem),
            )
        }
        None => (None, None),
    };
    let requests = Arc::new(AtomicU64::new(0));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let log = (requests.clone(), arrivals.clone(), heads.clone());
    let (port, thread) = serve_on_thread(move |sock| {
        let (log, tls) = (log.clone(), tls.clone());
        async move {
            match tls {
                Some(acceptor) => {
                    // A client that rejects the certificate ends the handshake.
                    if let Ok(s) = acceptor.accept(sock).await {
                        let _ = connection(s, fault, log).await;
                    }
                }
                None => {
                    if matches!(fault, Fault::ResetMidBody) {
                        sock.set_zero_linger().unwrap();
                    }
                    let _ = connection(sock, fault, log).await;
                }
            }
        }
    });
    let scheme = if cert.is_some() { "https" } else { "http" };
    FaultServer {
        url: format!("{scheme}://127.0.0.1:{port}"),
        cert_pem,
        requests,
        arrivals,
        heads,
        _thread: thread,
    }
}

/// Reads one request head (and a body, if it has a Content-Length); `None` at end of stream.
async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(1024);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Ok(None);
        }
    }
    let raw = String::from_utf8_lossy(&head).into_owned();
    let text = raw.to_ascii_lowercase();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(1024 * 1024)];
    s.read_exact(&mut body).await?;
    Ok(Some(raw))
}

/// What a fault server notes of each request: the count, the arrival times, the heads.
type Log = (
    Arc<AtomicU64>,
    Arc<Mutex<Vec<Instant>>>,
    Arc<Mutex<Vec<String>>>,
);

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    fault: Fault,
    (n, arrivals, heads): Log,
) -> std::io::Result<()> {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    loop {
        let Some(head) = read_request(&mut s).await? else {
            return Ok(());
        };
        arrivals.lock().unwrap().push(Instant::now());
        {
            let mut heads = heads.lock().unwrap();
            if heads.len() < 10_000 {
                heads.push(head);
            }
        }
        let i = n.fetch_add(1, Ordering::Relaxed);
        match fault {
            Fault::Ok { body, headers } => {
                let r = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}\r\n{body}", body.len());
                s.write_all(r.as_bytes()).await?;
            }
            Fault::ResetMidBody => {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
                    .await?;
                s.write_all(&ZEROS[..1024]).await?;
                s.flush().await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
                // Dropped with SO_LINGER 0: the kernel answers with RST.
                return Ok(());
            }
            Fault::NoHeaders => {
                std::future::pending::<()>().await;
            }
            Fault::Trickle { every, len } => {
                s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n").as_bytes())
                    .await?;
                for _ in 0..len {
                    s.write_all(b"x").await?;
                    s.flush().await?;
                    tokio::time::sleep(every).await;
                }
            }
            Fault::HugeBody { len } => {
                s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n").as_bytes())
                    .await?;
                let mut left = len;
                while left > 0 {
                    let k = left.min(ZEROS.len() as u64) as usize;
                    s.write_all(&ZEROS[..k]).await?;
                    left -= k as u64;
                }
            }
            Fault::GzipBomb => {
                use std::io::Write as _;
                s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\nconnection: close\r\n\r\n",
                )
                .await?;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                // Zeros compress about 1000:1; the client must stop reading on its own.
                loop {
                    gz.write_all(&ZEROS)?;
                    gz.flush()?;
                    let out = std::mem::take(gz.get_mut());
                    s.write_all(&out).await?;
                }
            }
            Fault::Garbage => {
                s.write_all(b"SSH-2.0-OpenSSH_9.6 this is not HTTP\r\n\r\n")
                    .await?;
                return Ok(());
            }
            Fault::BadHeader => {
                s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nthis header has no colon\r\n\r\nok",
                )
                .await?;
                return Ok(());
            }
            Fault::CloseEach { silent } => {
                let close = if silent { "" } else { "connection: close\r\n" };
                s.write_all(
                    format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n{close}\r\nok").as_bytes(),
                )
                .await?;
                s.flush().await?;
                return Ok(());
            }
            Fault::RedirectLoop => {
                s.write_all(b"HTTP/1.1 302 Found\r\nlocation: /loop\r\ncontent-length: 0\r\n\r\n")
                    .await?;
            }
            Fault::SlowError { hold } => {
                tokio::time::sleep(hold).await;
                s.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
                    .await?;
            }
            Fault::Storm => {
                let status = if i % 2 == 0 {
                    "500 Internal Server Error"
                } else {
                    "503 Service Unavailable\r\nretry-after: 1"
                };
                s.write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\n{{}}").as_bytes(),
                )
                .await?;
            }
        }
    }
}
