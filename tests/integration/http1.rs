//! The HTTP/1.1 client of `http://` and `https://` targets against scripted raw TCP (and TLS)
//! servers on 127.0.0.1:0:
//! framing, keep-alive, gzip, redirects and failures, byte for byte.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaizen_loadtest::engine::http::message::{self, Error, Has, HeadParts, Progress, Target};
use kaizen_loadtest::engine::http::pool::{self, Outgoing, Pool};
use kaizen_loadtest::summary::schema::ErrorClass;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::faults::dead_port_url;
use crate::support::tls::{tls_config, Cert, TlsServer};

/// What the server saw: each request's head (and body), with the number of the connection it
/// came on.
#[derive(Default)]
struct Seen {
    requests: Vec<(usize, String)>,
    connections: usize,
}

/// A server that answers the n-th request (counted over all connections) with `script(n, head)`;
/// after a response whose bytes end with `CLOSE` it closes the connection (TLS: with
/// close_notify), after one ending with `CUT` it drops it (TLS: without close_notify).
async fn server(
    script: impl Fn(usize, &str) -> Vec<u8> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Seen>>) {
    serve(script, None).await
}

/// The same over TLS (a self-signed certificate for 127.0.0.1) with the given ALPN protocols.
async fn tls_server(
    alpn: &[&[u8]],
    script: impl Fn(usize, &str) -> Vec<u8> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Seen>>) {
    let (mut config, _) = tls_config(Cert::SelfSigned);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    serve(
        script,
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
    )
    .await
}

async fn serve(
    script: impl Fn(usize, &str) -> Vec<u8> + Send + Sync + 'static,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let script: Arc<Script> = Arc::new(script);
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let conn_no = {
                let mut s = s2.lock().unwrap();
                s.connections += 1;
                s.connections
            };
            let (seen, script, tls) = (s2.clone(), script.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => connection(sock, conn_no, seen, script).await,
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(sock).await {
                            connection(s, conn_no, seen, script).await
                        }
                    }
                }
            });
        }
    });
    (url, seen)
}

type Script = dyn Fn(usize, &str) -> Vec<u8> + Send + Sync;

async fn connection<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut sock: S,
    conn_no: usize,
    seen: Arc<Mutex<Seen>>,
    script: Arc<Script>,
) {
    let mut buf = Vec::new();
    loop {
        // One request: the head, then a body of its content-length.
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match sock.read(&mut byte).await {
                Ok(1) => buf.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
        let mut body = vec![0u8; len];
        sock.read_exact(&mut body).await.unwrap();
        let text = head + &String::from_utf8_lossy(&body);
        buf.clear();
        let n = {
            let mut s = seen.lock().unwrap();
            s.requests.push((conn_no, text.clone()));
            s.requests.len()
        };
        let reply = script(n, &text);
        let (reply, end) = if let Some(r) = reply.strip_suffix(CLOSE) {
            (r, Some(CLOSE))
        } else if let Some(r) = reply.strip_suffix(CUT) {
            (r, Some(CUT))
        } else {
            (&reply[..], None)
        };
        if sock.write_all(reply).await.is_err() || sock.flush().await.is_err() {
            return;
        }
        match end {
            Some(CLOSE) => {
                let _ = sock.shutdown().await;
                return;
            }
            Some(_) => return,
            None => {}
        }
    }
}

/// Ends a scripted response with a dropped connection (no shutdown, no close_notify).
const CUT: &[u8] = b"<cut>";
const CLOSE: &[u8] = b"<close>";

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

struct Got {
    result: Result<message::Response, Error>,
    progress: Progress,
    body: Vec<u8>,
}

impl Got {
    fn response(&self) -> &message::Response {
        match &self.result {
            Ok(r) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

/// Sends `method path` (with `headers` and `body`) to `base`.
async fn send(
    pool: &Pool,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Got {
    let url = reqwest::Url::parse(&format!("{base}{path}")).unwrap();
    let target = Target::from_url(&url).unwrap();
    let mut has = Has::default();
    for (n, _) in headers {
        has.note(n);
    }
    let build = |out: &mut Vec<u8>, hop: pool::Hop<'_>| {
        let with_body = hop.with_body && body.is_some();
        message::write_head(
            out,
            HeadParts {
                method: hop.method,
                target: hop.target,
                cookie: None,
                has,
                user_agent: "test",
                body_len: with_body.then(|| body.unwrap().len()),
                content_type: None,
            },
            headers
                .iter()
                .copied()
                .filter(|(n, _)| !(hop.cross_origin && *n == "authorization")),
        );
        if with_body {
            out.extend_from_slice(body.unwrap());
        }
    };
    let mut progress = Progress::new(std::time::Instant::now());
    let mut out_body = Vec::new();
    let mut scratch = Vec::new();
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        pool::send(
            pool,
            Outgoing {
                method,
                url: &url,
                target: &target,
                prebuilt: None,
                build: &build,
                keep_body: true,
                keep_headers: true,
            },
            &mut scratch,
            &mut progress,
            &mut out_body,
        ),
    )
    .await
    .unwrap_or(Err(Error::Timeout));
    Got {
        result,
        progress,
        body: out_body,
    }
}

fn class(g: &Got) -> ErrorClass {
    match &g.result {
        Err(e) => e.class(),
        Ok(_) => ErrorClass::None,
    }
}

#[tokio::test]
async fn bodies_of_every_framing_arrive_whole() {
    let (base, seen) = server(|n, _| match n {
        1 => ok("hello"),
        2 => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n".to_vec(),
        3 => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
        4 => b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".to_vec(),
        // HEAD: a content-length but no body.
        5 => b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n".to_vec(),
        6 => {
            let mut v = b"HTTP/1.0 200 OK\r\n\r\nuntil the end".to_vec();
            v.extend_from_slice(CLOSE);
            v
        }
        _ => ok("again"),
    })
    .await;
    let pool = Pool::new(8);
    let g = send(&pool, &base, "GET", "/a", &[], None).await;
    assert_eq!(g.response().status, 200);
    assert_eq!(g.body, b"hello");
    let g = send(&pool, &base, "GET", "/chunked", &[], None).await;
    assert_eq!(g.body, b"hello world");
    let g = send(&pool, &base, "GET", "/interim", &[], None).await;
    assert_eq!((g.response().status, &g.body[..]), (200, &b"ok"[..]));
    let g = send(&pool, &base, "GET", "/empty", &[], None).await;
    assert_eq!((g.response().status, g.body.len()), (204, 0));
    let g = send(&pool, &base, "HEAD", "/head", &[], None).await;
    assert_eq!((g.response().status, g.body.len()), (200, 0));
    // All of that on one keep-alive connection.
    assert_eq!(seen.lock().unwrap().connections, 1);
    let g = send(&pool, &base, "GET", "/close", &[], None).await;
    assert_eq!(g.body, b"until the end");
    // HTTP/1.0 without keep-alive: not reused.
    let g = send(&pool, &base, "GET", "/after", &[], None).await;
    assert_eq!(g.body, b"again");
    let s = seen.lock().unwrap();
    assert_eq!(s.connections, 2);
    // The defaults a request carries when the plan sets none.
    let first = &s.requests[0].1;
    assert!(
        first.starts_with("GET /a HTTP/1.1\r\nhost: 127.0.0.1:"),
        "{first}"
    );
    for h in ["accept: */*\r\n", "user-agent: test\r\n"] {
        assert!(first.contains(h), "{h} missing from {first}");
    }
    // As k6: no compression unless the plan asks for it.
    assert!(!first.contains("accept-encoding"), "{first}");
}

/// A compressed body is decoded for checks and captures, whoever asked for it, and counted as
/// it came on the wire: `data_received` was 18.5 times the wire bytes when it counted the
/// decoded body.
#[tokio::test]
async fn compressed_bodies_are_decoded_and_counted_as_they_came() {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&[b'z'; 10_000]).unwrap();
    let gzipped = gz.finish().unwrap();
    let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    zl.write_all(&[b'z'; 10_000]).unwrap();
    let deflated = zl.finish().unwrap();
    let responses: Vec<Vec<u8>> = [("gzip", &gzipped), ("deflate", &deflated)]
        .iter()
        .map(|(coding, packed)| {
            let mut v = format!(
                "HTTP/1.1 200 OK\r\ncontent-encoding: {coding}\r\ncontent-length: {}\r\n\r\n",
                packed.len()
            )
            .into_bytes();
            v.extend_from_slice(packed);
            v
        })
        .collect();
    let wire: Vec<u64> = responses.iter().map(|r| r.len() as u64).collect();
    let (base, seen) =
        server(move |_, head| responses[usize::from(head.starts_with("GET /deflate"))].clone())
            .await;
    let pool = Pool::new(8);
    for (path, wire) in [("/gz", wire[0]), ("/deflate", wire[1])] {
        let g = send(&pool, &base, "GET", path, &[], None).await;
        assert_eq!(g.body.len(), 10_000, "{path}: {:?}", g.result);
        assert!(g.body.iter().all(|&b| b == b'z'));
        assert_eq!(g.progress.received, wire, "{path}");
        assert!(g.progress.received < 1_000, "{path}");
        // The request as written, to the byte.
        let sent = seen.lock().unwrap().requests.last().unwrap().1.len() as u64;
        assert_eq!(g.progress.sent, sent, "{path}");
    }
}

#[tokio::test]
async fn a_host_name_is_looked_up_and_its_addresses_tried_in_turn() {
    // `localhost` may give ::1 before 127.0.0.1, where the server is: refused, then the next.
    let (base, seen) = server(|n, _| ok(&format!("hello {n}"))).await;
    let base = base.replace("127.0.0.1", "localhost");
    let pool = Pool::new(8);
    let g = send(&pool, &base, "GET", "/", &[], None).await;
    assert_eq!(g.body, b"hello 1", "{:?}", g.result);
    assert_eq!(g.response().status, 200);
    assert!(seen.lock().unwrap().requests[0]
        .1
        .contains("host: localhost:"));
}

#[tokio::test]
async fn a_silently_closed_idle_connection_is_not_a_failure() {
    // Each response says keep-alive, then the server closes anyway.
    let (base, seen) = server(|n, _| {
        let mut v = ok(&n.to_string());
        v.extend_from_slice(CLOSE);
        v
    })
    .await;
    let pool = Pool::new(8);
    for i in 1..=3 {
        let g = send(&pool, &base, "GET", "/", &[], None).await;
        assert_eq!(g.body, i.to_string().as_bytes(), "{:?}", g.result);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.lock().unwrap().connections, 3);
}

#[tokio::test]
async fn redirects_are_followed_as_reqwest_does() {
    let (other, other_seen) = server(|_, _| ok("elsewhere")).await;
    let (other2, other3) = (other.clone(), other.clone());
    let (base, seen) = server(move |_, head| {
        let path = head.split(' ').nth(1).unwrap().to_string();
        match &*path {
            "/see-other" => b"HTTP/1.1 303 See Other\r\nlocation: /final\r\ncontent-length: 4\r\n\r\nmove".to_vec(),
            "/temporary" => b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /final\r\ncontent-length: 0\r\n\r\n".to_vec(),
            "/away" => format!("HTTP/1.1 302 Found\r\nlocation: {other2}/there\r\ncontent-length: 0\r\n\r\n").into_bytes(),
            "/loop" => b"HTTP/1.1 302 Found\r\nlocation: /loop\r\ncontent-length: 0\r\n\r\n".to_vec(),
            "/secure" => format!("HTTP/1.1 301 Moved Permanently\r\nlocation: {}/with-credentials\r\ncontent-length: 0\r\n\r\n", other3.replace("http://", "http://user:p%40ss@")).into_bytes(),
            "/ftp" => b"HTTP/1.1 302 Found\r\nlocation: ftp://127.0.0.1/x\r\ncontent-length: 0\r\n\r\n".to_vec(),
            _ => ok("final"),
        }
    })
    .await;
    let pool = Pool::new(8);

    // 303: a POST turns into a GET without a body.
    let g = send(&pool, &base, "POST", "/see-other", &[], Some(b"{}")).await;
    assert_eq!((g.response().status, &g.body[..]), (200, &b"final"[..]));
    {
        let s = seen.lock().unwrap();
        assert!(s.requests[0].1.starts_with("POST /see-other") && s.requests[0].1.ends_with("{}"));
        let second = &s.requests[1].1;
        assert!(second.starts_with("GET /final "), "{second}");
        assert!(!second.contains("content-length"), "{second}");
    }
    // 307 keeps the method and the body.
    let g = send(&pool, &base, "PUT", "/temporary", &[], Some(b"keep")).await;
    assert_eq!(g.response().status, 200);
    {
        let s = seen.lock().unwrap();
        let last = &s.requests.last().unwrap().1;
        assert!(
            last.starts_with("PUT /final ") && last.ends_with("keep"),
            "{last}"
        );
    }
    // Another origin: the credentials stay behind.
    let g = send(
        &pool,
        &base,
        "GET",
        "/away",
        &[("authorization", "Bearer secret")],
        None,
    )
    .await;
    assert_eq!(g.body, b"elsewhere");
    let there = other_seen.lock().unwrap().requests[0].1.clone();
    assert!(there.starts_with("GET /there "), "{there}");
    assert!(!there.contains("secret"), "{there}");

    // A loop: the first request and 10 redirects, then the error.
    let before = seen.lock().unwrap().requests.len();
    let g = send(&pool, &base, "GET", "/loop", &[], None).await;
    assert_eq!(class(&g), ErrorClass::Redirect);
    assert_eq!(seen.lock().unwrap().requests.len() - before, 11);

    // To a URL with credentials: they go as basic authentication (percent-decoded, as
    // reqwest sends them), never in the request line.
    let g = send(&pool, &base, "GET", "/secure", &[], None).await;
    assert_eq!(g.body, b"elsewhere");
    let there = other_seen
        .lock()
        .unwrap()
        .requests
        .last()
        .unwrap()
        .1
        .clone();
    assert!(
        there.starts_with("GET /with-credentials HTTP/1.1\r\n"),
        "{there}"
    );
    assert!(
        there.contains("\r\nauthorization: Basic dXNlcjpwQHNz\r\n"),
        "{there}"
    );
    // To neither http nor https: an error, nothing sent.
    let before = seen.lock().unwrap().requests.len();
    let g = send(&pool, &base, "GET", "/ftp", &[], None).await;
    assert_eq!(class(&g), ErrorClass::Protocol);
    assert_eq!(seen.lock().unwrap().requests.len() - before, 1);
}

#[tokio::test]
async fn broken_responses_are_sorted_into_classes() {
    let (base, _) = server(|_, head| {
        let path = head.split(' ').nth(1).unwrap().to_string();
        let mut v = match &*path {
            "/garbage" => b"SSH-2.0-OpenSSH_9.6 this is not HTTP\r\n\r\n".to_vec(),
            "/bad-header" => {
                b"HTTP/1.1 200 OK\r\nthis header has no colon\r\ncontent-length: 2\r\n\r\nok"
                    .to_vec()
            }
            "/short" => b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this".to_vec(),
            "/bad-chunk" => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            "/two-lengths" => {
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok".to_vec()
            }
            _ => b"".to_vec(),
        };
        v.extend_from_slice(CLOSE);
        v
    })
    .await;
    let pool = Pool::new(8);
    for (path, want) in [
        ("/garbage", ErrorClass::Protocol),
        ("/bad-header", ErrorClass::Protocol),
        ("/short", ErrorClass::Reset),
        ("/bad-chunk", ErrorClass::Protocol),
        ("/two-lengths", ErrorClass::Protocol),
        ("/nothing", ErrorClass::Reset),
    ] {
        let g = send(&pool, &base, "POST", path, &[], Some(b"x")).await;
        assert_eq!(class(&g), want, "{path}: {:?}", g.result);
    }
    // The head and the 9 bytes before the close are counted.
    let g = send(&pool, &base, "POST", "/short", &[], Some(b"x")).await;
    assert_eq!(
        g.progress.received,
        17 + ("content-length".len() + 3 + 4) as u64 + 2 + 9
    );

    let dead = dead_port_url();
    let g = send(&pool, &dead, "GET", "/", &[], None).await;
    assert_eq!(class(&g), ErrorClass::Connect);
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_body_cap() {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(kaizen_loadtest::engine::http::message::MAX_BODY >> 20) + 2 {
        gz.write_all(&zeros).unwrap();
    }
    let packed = gz.finish().unwrap();
    let (base, _) = server(move |_, _| {
        let mut v =
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\nconnection: close\r\n\r\n".to_vec();
        v.extend_from_slice(&packed);
        v.extend_from_slice(CLOSE);
        v
    })
    .await;
    let pool = Pool::new(8);
    let g = send(&pool, &base, "GET", "/bomb", &[], None).await;
    assert_eq!(class(&g), ErrorClass::BodyTooLarge);
    assert!(g.body.len() <= kaizen_loadtest::engine::http::message::MAX_BODY);
}

fn tls_pool() -> Pool {
    Pool::with_tls(
        8,
        kaizen_loadtest::engine::http::tls::ClientOptions {
            insecure_skip_tls_verify: true,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn https_goes_over_tls_timed_and_kept_alive() {
    let (base, seen) = tls_server(&[b"http/1.1"], |_, _| ok("secure")).await;
    let pool = tls_pool();
    let first = send(&pool, &base, "GET", "/a", &[], None).await;
    assert_eq!(first.response().status, 200);
    assert_eq!(first.body, b"secure");
    let t = first.progress.timings;
    let (connect, tls) = (t.connect.unwrap(), t.tls.unwrap());
    // The handshake follows the connect, and the connection is in hand when it is done.
    assert!(connect.1 <= tls.0 && tls.0 < tls.1, "{t:?}");
    assert_eq!(t.got_conn, Some(tls.1));
    assert!(t.wrote.unwrap() >= tls.1 && t.first_byte.unwrap() >= t.wrote.unwrap());
    // The second request reuses the connection (a TLS 1.3 session ticket that arrived while it
    // was idle does not make it look closed): no connect, no handshake.
    let second = send(&pool, &base, "GET", "/b", &[], None).await;
    assert_eq!(second.body, b"secure");
    assert_eq!(
        (second.progress.timings.connect, second.progress.timings.tls),
        (None, None)
    );
    assert_eq!(seen.lock().unwrap().connections, 1);
    let origin = Target::from_url(&reqwest::Url::parse(&base).unwrap())
        .unwrap()
        .origin;
    assert_eq!(pool.idle_http2(&origin), (false, 1));
}

#[tokio::test]
async fn tls_streams_end_like_tcp_ones_without_close_notify() {
    let (base, _) = tls_server(&[b"http/1.1"], |_, head| {
        let mut v = if head.starts_with("GET /whole") {
            // Framed by the close: the body is whole when the connection ends.
            b"HTTP/1.0 200 OK\r\n\r\nthe whole body".to_vec()
        } else {
            // Four bytes of ten: cut short.
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nfour".to_vec()
        };
        v.extend_from_slice(CUT);
        v
    })
    .await;
    let pool = tls_pool();
    let g = send(&pool, &base, "GET", "/whole", &[], None).await;
    assert_eq!(g.response().status, 200);
    assert_eq!(g.body, b"the whole body");
    let g = send(&pool, &base, "GET", "/short", &[], None).await;
    assert_eq!(class(&g), ErrorClass::Reset);
}

#[tokio::test]
async fn a_server_that_picks_http2_is_spoken_to_in_http2_timed_at_the_socket() {
    let server = TlsServer::start(true);
    let pool = tls_pool();
    let origin = Target::from_url(&reqwest::Url::parse(&server.url).unwrap())
        .unwrap()
        .origin;
    // Credentials in the URL: basic authentication; the authority is the URL's host and port.
    let with_user = server.url.replace("https://", "https://bob:pw@");
    let g = send(&pool, &with_user, "GET", "/whoami", &[], None).await;
    let authority = server.url.trim_start_matches("https://");
    assert_eq!(
        String::from_utf8_lossy(&g.body),
        format!("GET /whoami {authority} Basic Ym9iOnB3 0")
    );
    let r = g.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.cookies, vec![("session".to_string(), "abc".to_string())]);
    assert!(r.headers.as_ref().unwrap().contains_key("set-cookie"));
    // Timed at the socket as HTTP/1.1 is: connect, handshake, in hand, written, first byte.
    let t = g.progress.timings;
    let (connect, tls) = (t.connect.unwrap(), t.tls.unwrap());
    assert!(connect.1 <= tls.0 && tls.0 < tls.1, "{t:?}");
    assert_eq!(t.got_conn, Some(tls.1));
    let (wrote, first) = (t.wrote.unwrap(), t.first_byte.unwrap());
    assert!(tls.1 < wrote && wrote <= first, "{t:?}");
    assert!(g.progress.received > 17 + 2 + "GET /whoami".len() as u64);
    // Back in the pool, and used again: a body goes along, a gzip body is decoded; no other
    // connection is made.
    assert_eq!(pool.idle_http2(&origin), (true, 1));
    let body = vec![b'x'; 100_000];
    let g = send(&pool, &server.url, "POST", "/whoami", &[], Some(&body)).await;
    assert_eq!(
        String::from_utf8_lossy(&g.body),
        format!("POST /whoami {authority} - 100000")
    );
    let t = g.progress.timings;
    assert_eq!((t.connect, t.tls), (None, None));
    assert!(t.wrote.unwrap() <= t.first_byte.unwrap());
    let g = send(&pool, &server.url, "GET", "/gzip", &[], None).await;
    assert_eq!(g.body, b"zipped");
    // A 307 on the same connection keeps the body.
    let g = send(&pool, &server.url, "PUT", "/redirect", &[], Some(b"again")).await;
    assert_eq!((g.response().status, &g.body[..]), (200, &b"again"[..]));
    use std::sync::atomic::Ordering;
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(server.h2_connections.load(Ordering::SeqCst), 1);
    // A plan's own authorization header wins over the URL's credentials.
    let g = send(
        &pool,
        &with_user,
        "GET",
        "/whoami",
        &[("authorization", "Bearer t")],
        None,
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&g.body),
        format!("GET /whoami {authority} Bearer t 0")
    );
    // The server pings every 5 ms while it holds `/slow` for 60 ms: the client's acknowledgements
    // are the connection's writes, not the request's, so sending stays short and waiting holds
    // the 60 ms.
    let g = send(&pool, &server.url, "GET", "/slow", &[], None).await;
    assert_eq!(g.body, b"ok");
    let t = g.progress.timings;
    let (got, wrote, first) = (t.got_conn.unwrap(), t.wrote.unwrap(), t.first_byte.unwrap());
    assert!(
        wrote - got < Duration::from_millis(30),
        "sending {:?}",
        wrote - got
    );
    assert!(
        first - wrote >= Duration::from_millis(55),
        "waiting {:?}",
        first - wrote
    );
    // `connection: close` (a plan measuring a handshake per request): the connection is let go
    // after the request, as over HTTP/1.1, so the next request makes a new one.
    let close = [("connection", "close")];
    let g = send(&pool, &server.url, "GET", "/", &close, None).await;
    assert_eq!((&g.body[..], g.progress.timings.tls), (&b"ok"[..], None));
    let g = send(&pool, &server.url, "GET", "/", &close, None).await;
    assert!(g.progress.timings.tls.is_some());
    let g = send(&pool, &server.url, "GET", "/", &[], None).await;
    assert!(g.progress.timings.tls.is_some());
    assert_eq!(server.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_redirect_to_https_stays_in_this_client() {
    let (secure, secure_seen) = tls_server(&[b"http/1.1"], |_, _| ok("landed")).await;
    let (plain, _) = server(move |_, _| {
        format!("HTTP/1.1 302 Found\r\nlocation: {secure}/there\r\ncontent-length: 0\r\n\r\n")
            .into_bytes()
    })
    .await;
    let pool = tls_pool();
    let g = send(&pool, &plain, "GET", "/here", &[], None).await;
    assert_eq!(g.response().status, 200);
    assert_eq!(g.body, b"landed");
    let seen = secure_seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 1);
    assert!(
        seen.requests[0].1.starts_with("GET /there HTTP/1.1\r\n"),
        "{:?}",
        seen.requests
    );
}
