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
async fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = tokio::time::timeout(WRITE_DEADLINE, stream.write(bytes))
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
