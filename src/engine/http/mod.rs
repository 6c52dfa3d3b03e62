//! The engine's HTTP client for `http://` and `https://` targets, timed at the socket: HTTP/1.1
//! of its own ([`http1`]), and HTTP/2 (hyper's, [`http2`]) when a server picks it in the TLS
//! handshake (ALPN `h2, http/1.1`, as k6 offers). [`message`] holds what both share (the target,
//! the request head, the response, the body decoder, the timings, the errors), [`pool`] the
//! connections and the sending of a request with its redirects, [`tls`] the TLS configuration,
//! [`reason`] why a request failed, in words from a fixed list.
//!
//! The engine sends every request through [`pool::send`]. It replaced `reqwest` on the hot path:
//! per request, `reqwest` parses the URL twice, clones the client and the headers, boxes its
//! futures, and hands the request to a connection task through channels; on a 2-core runner that
//! cost three times what the kernel spends on the exchange itself. Here a request is one write of
//! bytes built once per request spec (or rendered into a reused buffer), one read, a header
//! parse with `httparse`, and no task but the VU's own (HTTP/2 adds hyper's connection task).
//!
//! What it does, as `reqwest` would:
//! - keep-alive connections in a pool shared by all VUs (a VU holds a connection only while its
//!   request is in flight, HTTP/2 ones included), at most the `max_idle` given to [`pool::Pool::with_tls`]
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

pub mod http1;
pub mod http2;
pub mod message;
pub mod pool;
pub mod reason;
pub mod tls;
