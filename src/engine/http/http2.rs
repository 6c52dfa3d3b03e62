//! HTTP/2 connections of the engine's client (the pool opens them, [`super::pool`]), timed at the socket.
//!
//! When a server picks `h2` in the TLS handshake (ALPN `h2, http/1.1`), the client keeps that
//! TLS stream and runs hyper's HTTP/2 connection over it (`hyper::client::conn::http2`). A
//! connection is checked out of the pool by one request at a time, as an HTTP/1.1 one is, so
//! that N busy VUs use N connections as k6's per-VU connections do, and so that what is written
//! on the connection while a request is in flight is that request's or the connection's own:
//! the stream is wrapped in [`Stamped`], which follows the frames written and notes when the
//! last frame of a request (HEADERS, CONTINUATION, DATA) reached the socket, leaving out the
//! connection's own (SETTINGS and PING acknowledgements, WINDOW_UPDATE). That instant is the
//! request's "written" (`http_req_sending` ends there, `http_req_waiting` starts there), as Go's
//! `WroteRequest` is for k6.
//!
//! The request arrives as the HTTP/1.1 bytes the engine builds for every request; they are
//! parsed back (`httparse`) into method, path, headers and body, with the connection-specific
//! headers HTTP/2 forbids left out and `host` turned into the `:authority`.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::message::{self, io_error, Error, Request, Response};
use super::reason::{rustls_reason, why};

type TlsStream = tokio_rustls::client::TlsStream<message::Counted>;

/// When the last request frame on a connection reached the socket: nanoseconds after `base`,
/// plus one (0: nothing written since [`WriteClock::reset`]); and why TLS failed under it, if it did
/// (hyper's HTTP/2 errors carry an I/O error's kind and text, not the TLS error itself).
#[derive(Debug)]
struct WriteClock {
    base: Instant,
    last: AtomicU64,
    /// Why TLS failed under the connection, when it did.
    tls_failed: std::sync::OnceLock<&'static str>,
}

impl WriteClock {
    fn stamp(&self, at: Instant) {
        let ns = at.saturating_duration_since(self.base).as_nanos() as u64;
        self.last.store(ns.saturating_add(1), Ordering::Release);
    }

    fn reset(&self) {
        self.last.store(0, Ordering::Release);
    }

    fn last(&self) -> Option<Instant> {
        match self.last.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.base + std::time::Duration::from_nanos(ns - 1)),
        }
    }
}

/// Follows the HTTP/2 frames a client writes (after its 24-byte preface), to tell a request's
/// frames (HEADERS, CONTINUATION, DATA) from the connection's own.
#[derive(Debug)]
struct FrameScan {
    preface_left: usize,
    head: [u8; 9],
    head_len: usize,
    payload_left: usize,
    /// The frame whose payload is being written is a request's.
    in_request: bool,
}

impl FrameScan {
    fn new() -> FrameScan {
        FrameScan {
            preface_left: 24,
            head: [0; 9],
            head_len: 0,
            payload_left: 0,
            in_request: false,
        }
    }

    /// Scans written bytes: whether any belong to a request's frame.
    fn scan(&mut self, mut b: &[u8]) -> bool {
        let mut request = false;
        while !b.is_empty() {
            if self.preface_left > 0 {
                let k = self.preface_left.min(b.len());
                self.preface_left -= k;
                b = &b[k..];
            } else if self.payload_left > 0 {
                let k = self.payload_left.min(b.len());
                self.payload_left -= k;
                b = &b[k..];
                request |= self.in_request;
            } else {
                let k = (9 - self.head_len).min(b.len());
                self.head[self.head_len..self.head_len + k].copy_from_slice(&b[..k]);
                self.head_len += k;
                b = &b[k..];
                if self.head_len == 9 {
                    self.head_len = 0;
                    let [a, b2, c, kind, ..] = self.head;
                    self.payload_left = u32::from_be_bytes([0, a, b2, c]) as usize;
                    // DATA, HEADERS, CONTINUATION.
                    self.in_request = matches!(kind, 0x0 | 0x1 | 0x9);
                    request |= self.in_request;
                }
            }
        }
        request
    }
}

/// The TLS stream under an HTTP/2 connection, noting when a request's frames reached the
/// socket: the clock read before the flush after they were written (TLS records leave on the
/// flush).
struct Stamped {
    inner: TlsStream,
    clock: Arc<WriteClock>,
    frames: FrameScan,
    /// A request's frame was written since the last flush.
    dirty: bool,
}

impl Stamped {
    fn wrote(&mut self, bytes: &[u8]) {
        if self.frames.scan(bytes) {
            self.dirty = true;
        }
    }

    fn note<T>(&self, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(e)) = &r {
            if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                let _ = self.clock.tls_failed.set(rustls_reason(tls));
            }
        }
        r
    }
}

impl AsyncRead for Stamped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.note(r)
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.wrote(&buf[..n]);
        }
        this.note(r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = r {
            for b in bufs {
                let k = n.min(b.len());
                this.wrote(&b[..k]);
                n -= k;
                if n == 0 {
                    break;
                }
            }
        }
        this.note(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Read before the flush that sends a request's records: the server cannot have them
        // earlier, so the wait measured from here is never shorter than its hold.
        let before = this.dirty.then(Instant::now);
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        if let (Poll::Ready(Ok(())), Some(at)) = (&r, before) {
            this.dirty = false;
            this.clock.stamp(at);
        }
        this.note(r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An HTTP/2 connection: hyper's handle to send on it (its connection task runs beside), and
/// the clock of its writes.
pub struct H2 {
    send: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    clock: Arc<WriteClock>,
    /// The bytes of the connection's socket (its task reads and writes them).
    wire: Arc<message::WireCount>,
}

impl H2 {
    /// Starts HTTP/2 on a TLS stream whose handshake chose `h2` (writes the preface; does not
    /// wait for the server's settings).
    pub(crate) async fn handshake(tls: TlsStream) -> Result<H2, Error> {
        let wire = tls.get_ref().0.count.clone();
        let clock = Arc::new(WriteClock {
            base: Instant::now(),
            last: AtomicU64::new(0),
            tls_failed: std::sync::OnceLock::new(),
        });
        let io = hyper_util::rt::TokioIo::new(Stamped {
            inner: tls,
            clock: clock.clone(),
            frames: FrameScan::new(),
            dirty: false,
        });
        let (send, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                // As the HTTP/1.1 client reads response heads up to 256 KiB.
                .max_header_list_size(message::MAX_HEAD as u32)
                .handshake(io)
                .await
                .map_err(|e| error(e, &clock))?;
        // Ends when the connection closes or the last `SendRequest` is dropped (the pool let
        // it go): its error is the next request's.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(H2 { send, clock, wire })
    }

    /// The bytes this connection's socket read and wrote.
    pub(crate) fn wire(&self) -> &Arc<message::WireCount> {
        &self.wire
    }

    /// Whether the connection can take a request (not closed by a GOAWAY, an error or the
    /// server).
    pub fn usable(&self) -> bool {
        self.send.is_ready()
    }

    /// Sends `req` and reads its response, timing it into `progress` as the HTTP/1.1 exchange
    /// does: written (the request's last frame on the socket), first byte (the response head),
    /// and the body, decoded and counted, into `body`. Also says whether the connection may be
    /// used again (not when the request asked for `connection: close`: k6's HTTP/2 transport
    /// then gives it a connection of its own).
    pub async fn round_trip(
        &mut self,
        req: &Request<'_>,
        progress: &mut message::Progress,
        body: &mut Vec<u8>,
    ) -> Result<(Response, bool), Error> {
        let (request, close) = to_http2(req)?;
        let clock = &self.clock;
        let error = |e| error(e, clock);
        self.send.ready().await.map_err(error)?;
        self.clock.reset();
        let submitted = Instant::now();
        let head = self.send.send_request(request).await.map_err(error)?;
        let first_byte = Instant::now();
        progress.timings.first_byte = Some(first_byte);
        progress.timings.wrote = Some(
            self.clock
                .last()
                .map_or(submitted, |w| w.clamp(submitted, first_byte)),
        );
        let (parts, mut incoming) = head.into_parts();
        let mut resp = Response {
            status: parts.status.as_u16(),
            ..Response::default()
        };
        let redirect = message::is_redirect(resp.status);
        let mut coding = message::Coding::Identity;
        for (name, value) in &parts.headers {
            match name.as_str() {
                "content-encoding" => coding = message::Coding::of(value.as_bytes()),
                "location" if redirect => resp.location = value.to_str().ok().map(str::to_string),
                "set-cookie" => resp.note_cookie(value.as_bytes()),
                _ => {}
            }
        }
        if req.keep_headers {
            resp.headers = Some(parts.headers);
        }
        let mut decode = message::Decode::new(progress, body, req.keep_body, coding);
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(error)?;
            if let Some(data) = frame.data_ref() {
                decode.feed(data)?;
            }
        }
        decode.finish()?;
        Ok((resp, !close))
    }
}

/// The request of HTTP/1.1 bytes (head and body), for an HTTP/2 connection, and whether it
/// asked for `connection: close`.
fn to_http2(req: &Request<'_>) -> Result<(hyper::Request<Full<Bytes>>, bool), Error> {
    // Room for every line of the head (the body is not scanned).
    let head_end = req
        .bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(req.bytes.len(), |i| i + 4);
    let lines = req.bytes[..head_end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let mut headers = vec![httparse::EMPTY_HEADER; lines];
    let mut r = httparse::Request::new(&mut headers);
    let len = match r.parse(req.bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(Error::Protocol("request not valid for HTTP/2")),
    };
    let (Some(method), Some(path)) = (r.method, r.path) else {
        return Err(Error::Protocol("request not valid for HTTP/2"));
    };
    let mut authority: &[u8] = req.target.host_header.as_bytes();
    let mut b = hyper::Request::builder()
        .method(method)
        .version(hyper::Version::HTTP_2);
    let mut close = false;
    for h in r.headers.iter() {
        let is = |n: &str| h.name.eq_ignore_ascii_case(n);
        if is("host") {
            // It becomes the `:authority`.
            authority = h.value;
            continue;
        }
        if is("connection") {
            close |= h
                .value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
        // Headers HTTP/2 does not carry (RFC 9113 §8.2.2).
        if is("connection")
            || is("keep-alive")
            || is("proxy-connection")
            || is("transfer-encoding")
            || is("upgrade")
            || (is("te") && h.value != b"trailers")
        {
            continue;
        }
        // Lower-cased by `HeaderName`, as HTTP/2 wants them.
        b = b.header(h.name, h.value);
    }
    let mut uri = Vec::with_capacity(8 + authority.len() + path.len());
    uri.extend_from_slice(b"https://");
    uri.extend_from_slice(authority);
    uri.extend_from_slice(path.as_bytes());
    let request = b
        .uri(uri)
        .body(Full::new(Bytes::copy_from_slice(&req.bytes[len..])))
        .map_err(|_| Error::Protocol("request not valid for HTTP/2"))?;
    Ok((request, close))
}

/// hyper's error, in the engine's classes: TLS when TLS failed under the connection, the socket's
/// own error when there is one, a stream or connection the server refused or ended (REFUSED_STREAM,
/// a GOAWAY, a reset) as `reset` (a request nothing was received for may be sent again), and
/// broken HTTP/2 (a frame or header block that does not parse, a flow-control breach) as
/// `protocol`.
fn error(e: hyper::Error, clock: &WriteClock) -> Error {
    if let Some(reason) = clock.tls_failed.get() {
        return Error::Tls(why(io::ErrorKind::Other, reason));
    }
    let reset = |reason| Error::Reset(why(io::ErrorKind::ConnectionReset, reason));
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return io_error(io::Error::new(io.kind(), e.to_string()));
        }
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            if let Some(io) = h2.get_io() {
                return io_error(io::Error::new(io.kind(), e.to_string()));
            }
            if h2.is_library() {
                return Error::Protocol("HTTP/2 protocol error");
            }
            return match h2.reason() {
                Some(h2::Reason::REFUSED_STREAM) => reset("HTTP/2 stream refused"),
                Some(h2::Reason::CANCEL) => reset("HTTP/2 stream cancelled by the server"),
                Some(h2::Reason::INTERNAL_ERROR) => reset("HTTP/2 internal error of the server"),
                Some(h2::Reason::ENHANCE_YOUR_CALM) => reset("HTTP/2 server asked to calm down"),
                Some(h2::Reason::NO_ERROR) | None => reset("HTTP/2 stream ended by the server"),
                Some(_) => Error::Protocol("HTTP/2 stream refused as malformed"),
            };
        }
        source = s.source();
    }
    if e.is_parse() || e.is_user() {
        Error::Protocol("malformed HTTP/2 exchange")
    } else {
        reset("HTTP/2 connection closed")
    }
}
