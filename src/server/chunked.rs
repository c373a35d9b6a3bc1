//! Writes a detached response body on the bare socket as HTTP/1.1 chunks (hyper sent the head with
//! `transfer-encoding: chunked`), and stops as soon as the client closes its side.

use std::io;
use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A client that takes no bytes for this long is gone or stuck; its stream is closed.
const WRITE_DEADLINE: Duration = Duration::from_secs(30);

/// Writes `body` until it ends (then the last chunk, and the connection closes) or the client leaves.
pub(super) async fn write_body(mut stream: TcpStream, body: Body) {
    let mut data = body.into_data_stream();
    loop {
        tokio::select! {
            frame = data.next() => match frame {
                Some(Ok(bytes)) if bytes.is_empty() => {}
                Some(Ok(bytes)) => {
                    if let Err(e) = write_chunk(&mut stream, &bytes).await {
                        tracing::trace!(error = %e, "detached body: client not reachable");
                        return;
                    }
                }
                // Like hyper on a body error: no last chunk, so the client sees a cut stream.
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "detached body failed");
                    return;
                }
                None => break,
            },
            () = client_closed(&stream) => return,
        }
    }
    if write_all(&mut stream, b"0\r\n\r\n").await.is_ok() {
        let _ = tokio::time::timeout(WRITE_DEADLINE, stream.shutdown()).await;
    }
}

async fn write_chunk(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    // One buffer per event, so a small event is one write; it lives only while it is written.
    let mut frame = Vec::with_capacity(bytes.len() + 12);
    frame.extend_from_slice(format!("{:X}\r\n", bytes.len()).as_bytes());
    frame.extend_from_slice(bytes);
    frame.extend_from_slice(b"\r\n");
    write_all(stream, &frame).await
}

/// Writes all of `bytes`, failing when the client takes none of them for `WRITE_DEADLINE`; a large
/// event to a slow but live client is not cut, however long it takes in total.
async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    write_all_within(stream, bytes, WRITE_DEADLINE).await
}

async fn write_all_within(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Duration,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = tokio::time::timeout(deadline, stream.write(bytes))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client took no bytes within the write deadline",
                )
            })??;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written..];
    }
    Ok(())
}

/// Resolves when the client has closed the connection (end of file or an error). Bytes a client sends
/// on a streaming connection have no meaning here (no second request is served on it) and are discarded.
async fn client_closed(stream: &TcpStream) {
    let mut discard = [0u8; 64];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut discard) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Real loopback sockets on a paused clock: the kernel's buffers fill for real, and the 30 s
    //! deadline passes in no time.

    use super::*;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use tokio::time::Instant;

    /// The client's receive buffer, fixed so the kernel's autotuning (up to `tcp_rmem`'s maximum,
    /// 32 MiB here) cannot swallow a whole test's bytes.
    const CLIENT_BUFFER: u32 = 256 << 10;
    /// Far more than the client's buffer and the server's send buffer hold, so a writer blocks.
    const MORE_THAN_BUFFERED: usize = 16 << 20;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(CLIENT_BUFFER).unwrap();
        let client = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_takes_no_bytes_is_cut_at_the_write_deadline() {
        let (mut server, _client) = pair().await; // open, never read
        let start = Instant::now();
        let bytes = vec![b'x'; MORE_THAN_BUFFERED];
        let write = write_all(&mut server, &bytes);
        let err = tokio::time::timeout(4 * WRITE_DEADLINE, write)
            .await
            .expect("the write ends at its deadline, not never")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            "client took no bytes within the write deadline"
        );
        let waited = start.elapsed();
        assert!(
            waited >= WRITE_DEADLINE && waited < 2 * WRITE_DEADLINE,
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_stream_ends_and_the_client_sees_it_closed() {
        let (server, mut client) = pair().await;
        // One event too large to be buffered, then nothing ever again: only the deadline ends it.
        let event = futures::stream::iter([Ok::<_, io::Error>(Bytes::from(vec![
            b'x';
            MORE_THAN_BUFFERED
        ]))]);
        let body = Body::from_stream(event.chain(futures::stream::pending()));
        let start = Instant::now();
        tokio::time::timeout(4 * WRITE_DEADLINE, write_body(server, body))
            .await
            .expect("a stuck stream ends at the write deadline, not never");
        assert!(start.elapsed() >= WRITE_DEADLINE, "{:?}", start.elapsed());
        // The socket is closed: the client reads what was buffered, then end of file.
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        assert!(!received.is_empty() && received.len() < MORE_THAN_BUFFERED);
        assert!(received.starts_with(format!("{MORE_THAN_BUFFERED:X}\r\n").as_bytes()));
    }

    /// On the real clock with a short deadline: on a paused clock the clock can jump to the deadline
    /// between the reader freeing buffer space and the writer hearing of it.
    #[tokio::test]
    async fn a_slow_but_live_client_is_not_cut() {
        const DEADLINE: Duration = Duration::from_secs(1);
        const PACE: Duration = Duration::from_millis(100);
        let (mut server, mut client) = pair().await;
        // Takes 1 MiB every 100 ms: no write waits near the deadline, the whole takes longer than it.
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                tokio::time::sleep(PACE).await;
                let mut taken = 0;
                while taken < buf.len() {
                    match client.read(&mut buf[taken..]).await.unwrap() {
                        0 => return total + taken,
                        n => taken += n,
                    }
                }
                total += taken;
            }
        });
        let start = Instant::now();
        write_all_within(&mut server, &vec![b'x'; MORE_THAN_BUFFERED], DEADLINE)
            .await
            .expect("a client that keeps taking bytes is not cut");
        assert!(start.elapsed() > DEADLINE, "{:?}", start.elapsed());
        drop(server);
        assert_eq!(reader.await.unwrap(), MORE_THAN_BUFFERED);
    }
}
