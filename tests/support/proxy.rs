//! A TCP proxy on loopback in front of a real service: counts the connections it accepts, holds
//! back the service's first bytes on each new connection for a set time (a TLS handshake with a
//! busy endpoint, as the client sees it), and can cut every open connection at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct SlowStartProxy {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    cut: std::sync::Mutex<CancellationToken>,
}

impl SlowStartProxy {
    pub async fn start(upstream_port: u16, first_bytes_after: Duration) -> Arc<SlowStartProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(SlowStartProxy {
            port: listener.local_addr().unwrap().port(),
            accepted: Arc::new(AtomicUsize::new(0)),
            cut: std::sync::Mutex::new(CancellationToken::new()),
        });
        let this = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                this.accepted.fetch_add(1, Ordering::SeqCst);
                let cut = this.cut.lock().unwrap().clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = pipe(client, upstream_port, first_bytes_after) => {}
                        () = cut.cancelled() => {}
                    }
                });
            }
        });
        proxy
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every connection open now; later ones are served as before.
    pub fn cut_all(&self) {
        let mut cut = self.cut.lock().unwrap();
        cut.cancel();
        *cut = CancellationToken::new();
    }
}

async fn pipe(client: TcpStream, upstream_port: u16, first_bytes_after: Duration) {
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let to_upstream = tokio::io::copy(&mut client_read, &mut upstream_write);
    let to_client = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut first = true;
        loop {
            let n = upstream_read.read(&mut buf).await?;
            if n == 0 {
                return client_write.shutdown().await;
            }
            if first {
                tokio::time::sleep(first_bytes_after).await;
                first = false;
            }
            client_write.write_all(&buf[..n]).await?;
        }
    };
    let _ = tokio::join!(to_upstream, async {
        let _: std::io::Result<()> = to_client.await;
    });
}
