//! A misbehaving target is measured, not fatal (issue 7, item 1).
//!
//! Each test starts a raw TCP (or TLS) server on 127.0.0.1:0 that breaks HTTP in one way, runs
//! the real binary against it with short timeouts, and checks that the run ends on time, that
//! every request is counted in `http_req_failed` under the right error class, that checks fail,
//! that the thresholds judge (exit 99), that the reports are written and that memory stays
//! bounded.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaizen_loadtest::summary::schema::{ScenarioSummary as Scenario, Summary};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

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
}

/// Which certificate a TLS fault server presents.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cert {
    SelfSigned,
    Expired,
}

/// A fault server on 127.0.0.1:0, stopped when dropped.
pub struct FaultServer {
    pub url: String,
    /// The server's certificate (PEM) for TLS servers.
    pub cert_pem: Option<String>,
    /// Requests whose head was read.
    pub requests: Arc<AtomicU64>,
    _thread: ServerThread,
}

/// A test server's own thread and runtime: told to stop and joined when dropped.
pub struct ServerThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    pub fn new(
        stop: tokio::sync::oneshot::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    ) -> ServerThread {
        ServerThread {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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

/// Binds 127.0.0.1:0 and serves it on a thread of its own (a current-thread runtime): each
/// accepted connection goes to `on_accept`, whose future runs in a task of its own, until the
/// returned handle is dropped (dropping the runtime cancels every connection task).
fn serve_on_thread<F, Fut>(on_accept: F) -> (u16, ServerThread)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).unwrap();
            let accept = async {
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(on_accept(sock));
                }
            };
            tokio::select! {
                _ = accept => {}
                _ = stop_rx => {}
            }
        });
    });
    (port, ServerThread::new(stop_tx, thread))
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
    let counter = requests.clone();
    let (port, thread) = serve_on_thread(move |sock| {
        let (counter, tls) = (counter.clone(), tls.clone());
        async move {
            match tls {
                Some(acceptor) => {
                    // A client that rejects the certificate ends the handshake.
                    if let Ok(s) = acceptor.accept(sock).await {
                        let _ = connection(s, fault, counter).await;
                    }
                }
                None => {
                    if matches!(fault, Fault::ResetMidBody) {
                        sock.set_zero_linger().unwrap();
                    }
                    let _ = connection(sock, fault, counter).await;
                }
            }
        }
    });
    let scheme = if cert.is_some() { "https" } else { "http" };
    FaultServer {
        url: format!("{scheme}://127.0.0.1:{port}"),
        cert_pem,
        requests,
        _thread: thread,
    }
}

/// A rustls server config with a certificate for 127.0.0.1 and localhost.
pub fn tls_config(cert: Cert) -> (rustls::ServerConfig, String) {
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    if cert == Cert::Expired {
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

/// Reads one request head (and a body, if it has a Content-Length); false at end of stream.
async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<bool> {
    let mut head = Vec::with_capacity(1024);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await? == 0 {
            return Ok(false);
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Ok(false);
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(1024 * 1024)];
    s.read_exact(&mut body).await?;
    Ok(true)
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    fault: Fault,
    n: Arc<AtomicU64>,
) -> std::io::Result<()> {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    loop {
        if !read_request(&mut s).await? {
            return Ok(());
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

// ---------------------------------------------------------------------------------------------
// Running the binary against a fault server.

/// A plan with one request, `probe`, that expects a 200, run by 2 VUs for 2 iterations each.
pub fn fault_plan(dir: &Path, url: &str, timeout: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"version: 1
name: faults
environments:
  local: {{ base_url: "{url}" }}
{extra}
requests:
  probe:
    get: /probe
    timeout: {timeout}
    expect: {{ status: 200 }}
thresholds:
  http_req_failed: ["rate<0.01"]
scenarios:
  probe:
    executor: per-vu-iterations
    vus: 2
    iterations: 2
    max_duration: 20s
    graceful_stop: 5s
    flow: [probe]
"#
    );
    let p = dir.join("plan.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// What a run left behind.
pub struct Ran {
    pub out: Output,
    pub took: Duration,
    /// The child's peak resident set, KiB, as last seen while it ran (0 if it ended before the
    /// first look).
    pub max_rss_kb: u64,
    pub summary: Option<Summary>,
    pub files: Vec<PathBuf>,
}

impl Ran {
    pub fn text(&self) -> String {
        format!(
            "exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}",
            self.out.status.code(),
            self.took,
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }

    pub fn scenario(&self) -> &Scenario {
        &self
            .summary
            .as_ref()
            .unwrap_or_else(|| panic!("no summary\n{}", self.text()))
            .scenarios[0]
    }
}

/// Runs the binary with `args`, measuring its peak memory; reads the summary from `out_dir`.
pub fn run_measured(args: &[&str], out_dir: &Path, envs: &[(&str, &str)]) -> Ran {
    let mut cmd = crate::run::bin();
    cmd.args(args)
        .arg("--out-dir")
        .arg(out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    // The child's own high-water mark (VmHWM), read while it runs. Not getrusage: a child
    // started with vfork inherits the test process's peak in its ru_maxrss.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hwm_t = {
        let (done, status) = (done.clone(), format!("/proc/{}/status", child.id()));
        std::thread::spawn(move || {
            let mut max = 0u64;
            while !done.load(Ordering::Relaxed) {
                let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                });
                max = max.max(hwm.unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            max
        })
    };
    let status = child.wait().unwrap();
    done.store(true, Ordering::Relaxed);
    let took = t0.elapsed();
    let out = Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    };
    let max_rss_kb = hwm_t.join().unwrap();
    let files: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let summary = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with("_summary.json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap());
    Ran {
        out,
        took,
        max_rss_kb,
        summary,
        files,
    }
}

fn run_plan_file(plan: &Path, out: &Path) -> Ran {
    run_measured(
        &["run", "--quiet", "--plan", plan.to_str().unwrap()],
        out,
        &[],
    )
}

/// A run against a fault that fails every request: on time, exit 99, every request failed with
/// `class`, the check failed each time, the summary written.
fn assert_all_failed(r: &Ran, class: &str, within: Duration) {
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    assert!(
        r.took < within,
        "took {:?}, expected under {within:?}\n{}",
        r.took,
        r.text()
    );
    let s = r.scenario();
    assert_eq!(s.status.as_str(), "completed", "{}", r.text());
    assert_eq!(s.requests, 4, "{}", r.text());
    assert_eq!(s.requests_failed, 4, "{}", r.text());
    let e = &s.endpoints[0];
    assert_eq!(
        e.errors.get(class),
        Some(&4),
        "errors {:?}, expected 4 × {class}\n{}",
        e.errors,
        r.text()
    );
    assert_eq!(e.errors.len(), 1, "{:?}", e.errors);
    let failed = &s.metrics["http_req_failed"].values;
    assert_eq!(failed["rate"], 1.0, "{failed:?}");
    assert!(
        s.checks.iter().all(|c| c.passes == 0 && c.fails == 4),
        "{:?}",
        s.checks
    );
    let t = s
        .thresholds
        .iter()
        .find(|t| t.metric == "http_req_failed")
        .unwrap();
    assert_eq!(t.observed, Some(1.0));
    assert!(r
        .summary
        .as_ref()
        .unwrap()
        .verdict
        .failed
        .iter()
        .any(|f| f.contains("http_req_failed")));
    assert!(!r.files.is_empty(), "no report files");
}

fn against(url: &str, timeout: &str, extra: &str) -> (tempfile::TempDir, Ran) {
    let dir = tempfile::tempdir().unwrap();
    let p = fault_plan(dir.path(), url, timeout, extra);
    let r = run_plan_file(&p, &dir.path().join("out"));
    (dir, r)
}

/// Peak memory of a debug build running a small plan is ~30 MB; a body kept whole (1 GB) or a
/// body per VU would be far more.
const RSS_LIMIT_KB: u64 = 64 * 1024;

#[test]
fn refused_connections_are_connect_errors() {
    let _load = crate::load_lock();
    let (_d, r) = against(&dead_port_url(), "2s", "");
    assert_all_failed(&r, "connect", Duration::from_secs(10));
    assert_eq!(r.scenario().endpoints[0].statuses.get("0"), Some(&4));
}

#[test]
fn a_reset_mid_body_is_a_reset() {
    let _load = crate::load_lock();
    let server = start(Fault::ResetMidBody);
    let (_d, r) = against(&server.url, "5s", "");
    assert_all_failed(&r, "reset", Duration::from_secs(10));
    // The headers and the 1 KB that arrived before the reset are counted.
    assert!(
        r.scenario().data_received >= 4 * 1024,
        "{}",
        r.scenario().data_received
    );
}

#[test]
fn a_server_that_never_answers_is_a_timeout_on_time() {
    let _load = crate::load_lock();
    let server = start(Fault::NoHeaders);
    let dir = tempfile::tempdir().unwrap();
    let p = fault_plan(dir.path(), &server.url, "400ms", "");
    // A sub-metric selects on the error class.
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "thresholds:\n",
        "thresholds:\n  http_reqs{error:timeout}: [\"count<1\"]\n  http_reqs{error:reset}: [\"count<1\"]\n",
    );
    std::fs::write(&p, text).unwrap();
    let r = run_plan_file(&p, &dir.path().join("out"));
    assert_all_failed(&r, "timeout", Duration::from_secs(8));
    let t = &r.scenario().thresholds;
    let by_key = |k: &str| {
        t.iter()
            .find(|x| x.metric == k)
            .unwrap_or_else(|| panic!("{k}: {t:?}"))
    };
    assert_eq!(
        by_key("http_reqs{error:timeout}").observed,
        Some(4.0),
        "{t:?}"
    );
    // No request matched: "no data", as for any sub-metric without samples.
    assert_eq!(by_key("http_reqs{error:reset}").observed, None, "{t:?}");
    let d = &r.scenario().metrics["http_req_duration"].values;
    // Each request waited its full timeout, not more.
    assert!(d["min"] >= 390.0 && d["max"] < 2000.0, "{d:?}");
}

#[test]
fn a_trickled_body_times_out_and_a_patient_request_completes() {
    let _load = crate::load_lock();
    let server = start(Fault::Trickle {
        every: Duration::from_millis(50),
        len: 100,
    });
    let (_d, r) = against(&server.url, "500ms", "");
    assert_all_failed(&r, "timeout", Duration::from_secs(8));
    // The headers came at once: waiting is short, the time went into receiving.
    let w = &r.scenario().metrics["http_req_waiting"].values;
    assert!(w["max"] < 300.0, "{w:?}");

    let slow = start(Fault::Trickle {
        every: Duration::from_millis(5),
        len: 20,
    });
    let (_d, r) = against(&slow.url, "5s", "");
    assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
    assert_eq!(r.scenario().requests_failed, 0);
}

#[test]
fn a_1gb_body_is_cut_at_the_cap_in_bounded_memory() {
    let _load = crate::load_lock();
    let server = start(Fault::HugeBody { len: 1 << 30 });
    let (_d, r) = against(&server.url, "20s", "");
    assert_all_failed(&r, "body_too_large", Duration::from_secs(30));
    let cap = kaizen_loadtest::engine::http::message::MAX_BODY as u64;
    let got = r.scenario().data_received;
    // Every byte read is counted: at least the cap per request, and far less than 4 GB.
    assert!(
        got >= 4 * cap && got < 4 * (cap + 4 * 1024 * 1024),
        "data_received {got}"
    );
    assert!(r.max_rss_kb < RSS_LIMIT_KB, "peak RSS {} KiB", r.max_rss_kb);
    eprintln!(
        "1 GB body, body discarded: peak RSS {} KiB, data_received {got}",
        r.max_rss_kb
    );

    // A check that needs the body keeps it, up to the cap, and still fails without using
    // unbounded memory.
    let dir = tempfile::tempdir().unwrap();
    let p = fault_plan(dir.path(), &server.url, "20s", "");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "expect: { status: 200 }",
        "expect: { status: 200, body_contains: needle }",
    );
    std::fs::write(&p, text).unwrap();
    let r = run_plan_file(&p, &dir.path().join("out"));
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    assert_eq!(
        r.scenario().endpoints[0].errors.get("body_too_large"),
        Some(&4),
        "{}",
        r.text()
    );
    assert!(
        r.max_rss_kb < RSS_LIMIT_KB + 2 * cap / 1024,
        "peak RSS {} KiB",
        r.max_rss_kb
    );
    eprintln!(
        "1 GB body, body kept for a check: peak RSS {} KiB",
        r.max_rss_kb
    );
}

#[test]
fn a_gzip_bomb_is_cut_at_the_cap() {
    let _load = crate::load_lock();
    let server = start(Fault::GzipBomb);
    let (_d, r) = against(&server.url, "20s", "");
    assert_all_failed(&r, "body_too_large", Duration::from_secs(30));
    assert!(r.max_rss_kb < RSS_LIMIT_KB, "peak RSS {} KiB", r.max_rss_kb);
}

#[test]
fn malformed_responses_are_protocol_errors() {
    let _load = crate::load_lock();
    for fault in [Fault::Garbage, Fault::BadHeader] {
        let server = start(fault);
        let (_d, r) = against(&server.url, "2s", "");
        assert_all_failed(&r, "protocol", Duration::from_secs(10));
    }
}

#[test]
fn connections_closed_after_every_response_are_not_failures() {
    let _load = crate::load_lock();
    for silent in [false, true] {
        let server = start(Fault::CloseEach { silent });
        let (_d, r) = against(&server.url, "2s", "");
        let s = r.scenario();
        assert_eq!(s.requests, 4, "{}", r.text());
        // Announced closes never fail; a silent close may race a reused connection, and then the
        // request is measured as a reset, nothing else.
        let e = &s.endpoints[0].errors;
        assert!(e.keys().all(|k| k == "reset"), "{e:?}");
        if !silent {
            assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
            assert_eq!(s.requests_failed, 0);
        }
        // Every success was served; a request that raced a close never reached the server.
        let served = server.requests.load(Ordering::Relaxed);
        assert!(
            served >= s.requests - s.requests_failed,
            "{served} served\n{}",
            r.text()
        );
    }
}

#[test]
fn a_redirect_loop_is_a_redirect_error() {
    let _load = crate::load_lock();
    let server = start(Fault::RedirectLoop);
    let (_d, r) = against(&server.url, "5s", "");
    assert_all_failed(&r, "redirect", Duration::from_secs(10));
    // k6's limit: the first request and 10 redirects, then the error.
    assert_eq!(server.requests.load(Ordering::Relaxed), 4 * 11);
}

#[test]
fn a_500_503_storm_is_measured_by_status() {
    let _load = crate::load_lock();
    let server = start(Fault::Storm);
    let (_d, r) = against(&server.url, "2s", "");
    assert_all_failed(&r, "status", Duration::from_secs(10));
    let statuses = &r.scenario().endpoints[0].statuses;
    assert_eq!(statuses.get("500"), Some(&2), "{statuses:?}");
    assert_eq!(statuses.get("503"), Some(&2), "{statuses:?}");
}

#[test]
fn bad_certificates_are_tls_errors_unless_the_plan_trusts_them() {
    let _load = crate::load_lock();
    let self_signed = start_tls(Cert::SelfSigned);
    let expired = start_tls(Cert::Expired);
    for server in [&self_signed, &expired] {
        let (_d, r) = against(&server.url, "2s", "");
        assert_all_failed(&r, "tls", Duration::from_secs(10));
    }

    // insecure_skip_verify accepts both.
    for server in [&self_signed, &expired] {
        let (_d, r) = against(&server.url, "2s", "tls: { insecure_skip_verify: true }");
        assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
        assert_eq!(r.scenario().requests_failed, 0);
        assert!(
            String::from_utf8_lossy(&r.out.stderr).contains("insecure_skip_verify"),
            "{}",
            r.text()
        );
    }

    // A CA file with the self-signed certificate trusts it; an expired one stays refused.
    for (server, code) in [(&self_signed, 0), (&expired, 99)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), server.cert_pem.as_ref().unwrap()).unwrap();
        let p = fault_plan(dir.path(), &server.url, "2s", "tls: { ca_file: ca.pem }");
        let r = run_plan_file(&p, &dir.path().join("out"));
        assert_eq!(r.out.status.code(), Some(code), "{}", r.text());
        if code == 99 {
            assert_eq!(
                r.scenario().endpoints[0].errors.get("tls"),
                Some(&4),
                "{}",
                r.text()
            );
        }
    }
}

#[test]
fn tls_options_are_checked_at_validation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-cert.pem"), "hello").unwrap();
    for (extra, expect) in [
        (
            "tls: { ca_file: missing.pem }",
            "cannot read CA file missing.pem",
        ),
        (
            "tls: { ca_file: not-a-cert.pem }",
            "holds no PEM certificate",
        ),
        (
            "tls: { insecure_skip_verify: yes please }",
            "expected true or false",
        ),
        ("tls: { verify: false }", "unknown key \"verify\""),
    ] {
        let p = fault_plan(dir.path(), "https://127.0.0.1:9", "1s", extra);
        let o = crate::run::bin()
            .args(["validate", "--plan"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{extra}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(expect),
            "{extra}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
