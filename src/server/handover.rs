//! Hands a long-lived response body over from hyper to the bare socket once the response head is out.
//!
//! hyper keeps an 8 KiB read buffer and an 8 KiB write buffer for as long as a connection lives; an SSE
//! stream lives for hours and writes a few bytes now and then, so those buffers were most of what an
//! idle session cost. A handler wraps such a response with [`Handover::detach_body`]: hyper writes the
//! head, and when hyper has flushed it the connection task drops hyper's connection (buffers and all)
//! and writes the body itself (`chunked`). Only HTTP/1.1 requests get a [`Handover`] (the body goes out
//! chunked, as hyper would have sent it).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use axum::body::{Body, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Request extension: lets a handler detach its response body from hyper's connection.
#[derive(Clone)]
pub struct Handover {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the connection task once the socket is free for the body.
    detached: Notify,
}

#[derive(Default)]
struct State {
    /// Set on the wrapped body's first poll, i.e. after hyper has queued the head.
    body: Option<Body>,
    /// Set by the socket wrapper once hyper has flushed everything it queued.
    stream: Option<TcpStream>,
}

impl Handover {
    pub(super) fn new() -> Self {
        Handover {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                detached: Notify::new(),
            }),
        }
    }

    /// The same response, whose body the connection task writes once hyper has sent the head.
    pub fn detach_body(&self, response: axum::response::Response) -> axum::response::Response {
        let (parts, body) = response.into_parts();
        let handover = self.clone();
        // hyper polls a response body only after it has queued the head; the first poll parks the real
        // body and the stand-in stays pending until hyper's connection is dropped.
        let stand_in = futures::stream::once(async move {
            handover.lock().body = Some(body);
            std::future::pending::<Result<Bytes, io::Error>>().await
        });
        axum::response::Response::from_parts(parts, Body::from_stream(stand_in))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves once a body has been handed over and its socket set free.
    pub(super) async fn detached(&self) {
        self.shared.detached.notified().await;
    }

    /// The socket and the body to write on it, when a handler detached its body.
    pub(super) fn take(&self) -> Option<(TcpStream, Body)> {
        let mut state = self.lock();
        match (state.stream.take(), state.body.take()) {
            (Some(stream), Some(body)) => Some((stream, body)),
            _ => None,
        }
    }

    fn wants_stream(&self) -> bool {
        let state = self.lock();
        state.body.is_some() && state.stream.is_none()
    }

    fn park_stream(&self, stream: TcpStream) {
        self.lock().stream = Some(stream);
        self.shared.detached.notify_one();
    }
}

/// The connection's socket as hyper sees it: gives the socket up at the first flush after a handler
/// detached its body (hyper flushes only after writing out all it had queued, the head included).
pub(super) struct HandoverIo {
    stream: Option<TcpStream>,
    handover: Handover,
}

impl HandoverIo {
    pub(super) fn new(stream: TcpStream, handover: Handover) -> Self {
        HandoverIo {
            stream: Some(stream),
            handover,
        }
    }

    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        match &mut self.stream {
            Some(s) => Ok(Pin::new(s)),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "socket handed over to a detached response body",
            )),
        }
    }
}

impl AsyncRead for HandoverIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().stream()?.poll_read(cx, buf)
    }
}

impl AsyncWrite for HandoverIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.stream()?.poll_flush(cx))?;
        if this.handover.wants_stream()
            && let Some(stream) = this.stream.take()
        {
            this.handover.park_stream(stream);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}
