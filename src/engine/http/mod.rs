//! HTTP: what the engine's client ([`crate::engine::http::http1`], [`crate::engine::http::http2`]) shares: its options, its
//! TLS configuration, its defaults, and the URL helpers.

pub mod http1;
pub mod http2;
pub mod tls;

/// The `User-Agent` of every request the plan does not give one.
pub const USER_AGENT: &str = concat!("kaizen-loadtest/", env!("CARGO_PKG_VERSION"));

/// Largest response body read; past it the read stops and the request fails with
/// `body_too_large` (the bytes read still count in `data_received`).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
