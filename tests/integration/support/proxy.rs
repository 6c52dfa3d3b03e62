//! A TCP relay that counts every byte each way: the wire's own account of `data_sent` and
//! `data_received`, whatever the protocol above it (HTTP/1.1, TLS, HTTP/2).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::serve::{serve_on_thread, ServerThread};

pub struct CountingProxy {
    /// `127.0.0.1:port`, to put in a URL in place of the upstream's address.
    pub addr: String,
    /// Bytes from the client to the upstream.
    pub up: Arc<AtomicU64>,
    /// Bytes from the upstream to the client.
    pub down: Arc<AtomicU64>,
    _thread: ServerThread,
}

impl CountingProxy {
    /// Relays every connection to `upstream` (`127.0.0.1:port`).
    pub fn start(upstream: &str) -> CountingProxy {
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let (u, d, upstream) = (up.clone(), down.clone(), upstream.to_string());
        let (port, thread) = serve_on_thread(move |client| {
            let (u, d, upstream) = (u.clone(), d.clone(), upstream.clone());
            async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(pipe(cr, sw, u), pipe(sr, cw, d));
            }
        });
        CountingProxy {
            addr: format!("127.0.0.1:{port}"),
            up,
            down,
            _thread: thread,
        }
    }

    pub fn counts(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::SeqCst),
            self.down.load(Ordering::SeqCst),
        )
    }
}

/// Copies one direction until it ends, counting; then passes the end on.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::SeqCst);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
