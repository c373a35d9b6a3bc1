//! Runs the rmcp service of one SSE session: requests come in on one channel, replies go out on another.

use futures::{SinkExt, StreamExt, stream};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::{CancellationToken, PollSendError, PollSender};

use crate::tools::SnippetTools;

/// Serves one session, starting with the request that woke it, until the client or the server ends it.
pub(super) async fn serve_session(
    tools: SnippetTools,
    session: String,
    first: Box<ClientJsonRpcMessage>,
    rest: mpsc::Receiver<Box<ClientJsonRpcMessage>>,
    to_client: mpsc::Sender<Box<ServerJsonRpcMessage>>,
    cancel: CancellationToken,
) {
    let sink = PollSender::new(to_client)
        .with(|m| std::future::ready(Ok::<_, PollSendError<_>>(Box::new(m))));
    let requests = stream::once(std::future::ready(first))
        .chain(ReceiverStream::new(rest))
        .map(|m| *m);
    match tools
        .serve_with_ct((sink, Box::pin(requests)), cancel)
        .await
    {
        Ok(running) => {
            let _ = running.waiting().await;
        }
        Err(e) => tracing::debug!(session, error = %e, "SSE session ended before initialisation"),
    }
}
