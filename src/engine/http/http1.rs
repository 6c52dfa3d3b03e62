//! HTTP/1.1 of our own: one write of the request bytes, one read, a head parsed with `httparse`,
//! and the body read by its framing (`Content-Length`, chunked, or up to the close), with 1xx
//! interim responses skipped and HEAD/204/304 read without a body.

use std::io;
use std::time::Instant;

use std::sync::Arc;

use tokio::io::{AsyncRead as _, AsyncReadExt as _};

use super::message::{
    io_error, is_redirect, Coding, Counted, Decode, Error, Progress, Request, Response, WireCount,
    MAX_HEAD,
};

/// The most response headers.
const MAX_HEADERS: usize = 100;
const READ_BUF: usize = 16 * 1024;
const READ_BUF_LARGE: usize = 64 * 1024;

/// An HTTP/1.1 connection: its stream and the bytes read from it but not yet parsed.
pub(crate) struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

/// A connection's byte stream: plain TCP, or TLS over it; either way the TCP stream counts its
/// bytes.
pub(crate) enum Stream {
    Plain(Counted),
    Tls(Box<tokio_rustls::client::TlsStream<Counted>>),
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

impl Stream {
    /// Writes `bytes` whole (through TLS: until the socket took every record) and returns the
    /// clock read just before the write that put the last of them on the socket. The server
    /// cannot have the whole request before that instant, so the wait measured from it is never
    /// shorter than the server's hold, even when this thread is preempted right after the
    /// write (read after it, a 10 ms hold measured 7.3 ms on a busy machine). One clock
    /// reading per write attempt: one for a request that fits the socket's buffer.
    async fn write_stamped(&mut self, bytes: &[u8]) -> io::Result<Instant> {
        use std::pin::Pin;
        use std::task::Poll;
        use tokio::io::AsyncWrite;
        let mut off = 0;
        let mut last = None;
        std::future::poll_fn(|cx| loop {
            let before = Instant::now();
            if off < bytes.len() {
                match Pin::new(&mut *self).poll_write(cx, &bytes[off..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        off += n;
                        last = Some(before);
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            match self {
                Stream::Plain(_) => return Poll::Ready(Ok(last.unwrap_or(before))),
                // rustls takes the bytes into records and writes what the socket takes; the
                // rest goes out on the flush.
                Stream::Tls(s) if !s.get_ref().1.wants_write() => {
                    return Poll::Ready(Ok(last.unwrap_or(before)));
                }
                Stream::Tls(s) => match Pin::new(&mut **s).poll_flush(cx) {
                    Poll::Ready(Ok(())) => last = Some(before),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                },
            }
        })
        .await
    }
}

impl Conn {
    /// An idle connection is usable if nothing arrived on it: no FIN, no stray bytes. The
    /// reactor tracks readiness, so when nothing arrived this makes no system call.
    #[inline]
    pub(crate) fn still_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        match &mut self.stream {
            Stream::Plain(s) => {
                matches!(s.inner.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
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

    /// The bytes this connection's socket read and wrote.
    #[inline]
    pub(crate) fn wire(&self) -> &Arc<WireCount> {
        match &self.stream {
            Stream::Plain(s) => &s.count,
            Stream::Tls(s) => &s.get_ref().0.count,
        }
    }

    pub(crate) fn with(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
        }
    }

    /// Ready to lie idle: an empty buffer of the usual size.
    #[inline]
    pub(crate) fn idle(&mut self) {
        if self.buf.len() > READ_BUF {
            self.buf = vec![0; READ_BUF];
        }
        self.start = 0;
        self.end = 0;
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
    coding: Coding,
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
    let mut coding = Coding::Identity;
    let mut location = None;
    let redirect = is_redirect(status);
    if req.keep_headers {
        resp.headers = Some(reqwest::header::HeaderMap::with_capacity(r.headers.len()));
    }
    for h in r.headers.iter() {
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
                coding = Coding::of(h.value);
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
        coding,
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

/// Writes a request on an HTTP/1.1 connection and reads its response; returns whether the
/// connection may be kept alive.
pub(crate) async fn round_trip(
    conn: &mut Conn,
    req: &Request<'_>,
    progress: &mut Progress,
    body: &mut Vec<u8>,
) -> Result<(Response, bool), Error> {
    progress.timings.wrote = Some(
        conn.stream
            .write_stamped(req.bytes)
            .await
            .map_err(io_error)?,
    );
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
    let coding = match head.framing {
        Framing::None => Coding::Identity,
        _ => head.coding,
    };
    let mut decode = Decode::new(progress, body, req.keep_body, coding);
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
