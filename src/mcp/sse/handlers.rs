//! The two HTTP endpoints of the SSE transport: `GET /sse` opens a session and streams its replies,
//! `POST /message?sessionId=...` hands a request to the session here or relays it to its instance.

use std::convert::Infallible;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};
use rmcp::model::{ClientJsonRpcMessage, GetMeta, JsonRpcRequest, ServerJsonRpcMessage};
use serde::Deserialize;
use session_token::Claims;
use tokio_stream::wrappers::ReceiverStream;

use super::relay::RelayError;
use super::session_id::SessionId;
use super::sessions::Undelivered;
use super::{KEEP_ALIVE, SseTransport};
use crate::guard::scope;
use crate::mcp::jsonrpc;
use crate::server::Handover;
use crate::telemetry::TraceContext;

/// `GET /sse`: the `endpoint` event carries a relative reference, which resolves to `/message`
/// when called directly and to `/mcp/message` behind APIM's `/mcp` prefix.
/// Under the server's own accept loop the stream leaves hyper once its head is sent (see
/// `server::Handover`): an idle stream then costs a few hundred bytes instead of hyper's 16 KiB buffers.
pub async fn open_stream(
    State(sse): State<SseTransport>,
    claims: Option<Extension<Claims>>,
    handover: Option<Extension<Handover>>,
) -> Response {
    let client = claims.as_ref().map(|Extension(c)| c.cid.clone());
    let owner = claims.map(|Extension(c)| c.sub);
    // The session's tools are bound to the opener's namespace now: every later call on the
    // session, from this instance or relayed, runs there.
    let tools = match sse.tools.for_session(owner.as_deref(), client.as_deref()) {
        Ok(tools) => tools,
        Err(e) => return (StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
    };
    let (id, replies, guard) = match sse.sessions.open(owner, tools) {
        Ok(opened) => opened,
        Err(refused) => {
            tracing::info!(error = %refused, "SSE session refused");
            return (StatusCode::TOO_MANY_REQUESTS, refused.to_string()).into_response();
        }
    };
    tracing::debug!(session = %id, "SSE session opened");
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("message?sessionId={id}"));
    // The stream ends when the session does: at shutdown (its token is a child of the server's stop
    // token) or when it idled out.
    let ended = guard.ended();
    let messages = ReceiverStream::new(replies).map(move |message| {
        let _keep_session_while_streaming = &guard;
        message_event(&message)
    });
    let events = stream::once(async { endpoint })
        .chain(messages)
        .map(Ok::<_, Infallible>)
        .take_until(ended);
    let response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    match handover {
        Some(Extension(handover)) => handover.detach_body(response),
        None => response,
    }
}

fn message_event(message: &ServerJsonRpcMessage) -> Event {
    match serde_json::to_string(message) {
        Ok(json) => Event::default().event("message").data(json),
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a server message");
            Event::default().comment("unserialisable message dropped")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct MessageQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

/// `POST /message?sessionId=...`: 202 once the request is queued for the session; the reply goes to the stream.
pub async fn post_message(
    State(sse): State<SseTransport>,
    Query(query): Query<MessageQuery>,
    claims: Option<Extension<Claims>>,
    trace: Option<Extension<TraceContext>>,
    body: Bytes,
) -> Response {
    let Some(id) = query.session_id.filter(|s| !s.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "missing sessionId query parameter").into_response();
    };
    // A session id alone is not a credential: with tokens checked, only its opener may post to it.
    let caller = claims.as_ref().map(|Extension(c)| c.sub.as_str());
    let mut message = match jsonrpc::parse(&body) {
        Ok(m) => Box::new(m),
        Err(rejected) => return rejected.into_response(),
    };
    let audit = scope::Audit {
        telemetry: &sse.telemetry,
        request_span: trace.as_ref().map(|Extension(t)| t),
    };
    if let Some(refused) = scope::refusal(claims.as_ref().map(|Extension(c)| c), &message, audit) {
        return refused;
    }
    if sse.telemetry.is_enabled() {
        carry_trace_context(&mut message, trace.map(|Extension(t)| t));
    }
    match sse.sessions.deliver(&id, caller, message).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(Undelivered::NotYours) => unknown_session(),
        Err(Undelivered::NotHere(message)) => relay_elsewhere(&sse, &id, caller, *message).await,
    }
}

/// The request's tool call runs in the session's service (maybe on another instance, after the relay),
/// away from this HTTP request: its span travels in the message's `_meta.traceparent`, as MCP
/// 2026-07-28 clients send it themselves. A client's own value is kept.
fn carry_trace_context(message: &mut ClientJsonRpcMessage, http: Option<TraceContext>) {
    let (ClientJsonRpcMessage::Request(JsonRpcRequest { request, .. }), Some(http)) =
        (message, http)
    else {
        return;
    };
    let meta = request.get_meta_mut();
    if meta.get_traceparent().is_none() {
        meta.set_traceparent(http.traceparent());
    }
}

fn unknown_session() -> Response {
    (StatusCode::NOT_FOUND, "unknown or closed session").into_response()
}

/// A session that is not open here may be open on another instance: queue the request for it.
async fn relay_elsewhere(
    sse: &SseTransport,
    id: &str,
    caller: Option<&str>,
    message: ClientJsonRpcMessage,
) -> Response {
    let (Some(relay), Some(session)) = (&sse.relay, SessionId::parse(id)) else {
        return unknown_session();
    };
    match relay.forward(&session, caller, message).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(RelayError::UnknownSession) => unknown_session(),
        Err(e @ RelayError::Storage(_)) => {
            tracing::warn!(error = %e, "could not relay an SSE request");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "could not reach the session's instance",
            )
                .into_response()
        }
    }
}
