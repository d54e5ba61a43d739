//! The memory service (`memoryd`): the episodic store of sessions,
//! messages and tool calls.

use std::sync::Arc;

use tonic::transport::Channel;

use crate::convert::{
    event_in, event_out, message_in, message_out, session_in, session_out, stored_call_in,
    stored_call_out,
};
use crate::domain::{Event, SessionInfo, StoredMessage, StoredToolCall};
use crate::principal::principal_of;
use crate::wire;
use crate::{ApiError, Principal};

/// What `memoryd` implements. Every write is durable before it returns.
#[tonic::async_trait]
pub trait MemoryApi: Send + Sync + 'static {
    /// Insert or update a session record.
    async fn put_session(&self, who: Principal, s: SessionInfo) -> Result<(), ApiError>;
    /// One session.
    async fn get_session(&self, who: Principal, id: String) -> Result<SessionInfo, ApiError>;
    /// Sessions of `uid` (`None` = the caller's), newest first.
    async fn list_sessions(
        &self,
        who: Principal,
        uid: Option<u32>,
        limit: u32,
    ) -> Result<Vec<SessionInfo>, ApiError>;
    /// Append a message; returns its row id.
    async fn append_message(&self, who: Principal, m: StoredMessage) -> Result<i64, ApiError>;
    /// Messages of a session in order (`limit` 0 = all; otherwise the last `limit`).
    async fn get_messages(
        &self,
        who: Principal,
        session_id: String,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, ApiError>;
    /// Record a finished tool call; returns its row id.
    async fn record_tool_call(&self, who: Principal, c: StoredToolCall) -> Result<i64, ApiError>;
    /// One recorded tool call of a session, with its full result; `None`
    /// when the session has no call `call_id`.
    async fn get_tool_call(
        &self,
        who: Principal,
        session_id: String,
        call_id: String,
    ) -> Result<Option<StoredToolCall>, ApiError>;
    /// Append events (in seq order) to their sessions' logs, durably;
    /// returns how many were new (a retried event is a no-op).
    async fn append_events(&self, who: Principal, events: Vec<Event>) -> Result<u64, ApiError>;
    /// Events of a session with seq greater than `after_seq`, in order: at
    /// most `limit` (0 = all), the oldest or (`newest`) the newest of them.
    async fn get_events(
        &self,
        who: Principal,
        session_id: String,
        after_seq: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<Event>, ApiError>;
}

/// Decode events from the wire; one of a kind this build does not know
/// cannot be stored faithfully, so it is refused.
fn events_in(events: Vec<wire::SessionEvent>) -> Result<Vec<Event>, ApiError> {
    events
        .into_iter()
        .map(|e| {
            let seq = e.seq;
            event_in(e)?.ok_or_else(|| {
                ApiError::invalid(format!(
                    "event {seq} has a kind this memoryd does not know; upgrade memoryd"
                ))
            })
        })
        .collect()
}

pub(crate) struct Adapter(pub(crate) Arc<dyn MemoryApi>);

type Resp<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl wire::memory_server::Memory for Adapter {
    async fn put_session(&self, req: tonic::Request<wire::SessionInfo>) -> Resp<wire::MemoryAck> {
        let who = principal_of(&req)?;
        self.0
            .put_session(who, session_in(req.into_inner()))
            .await?;
        Ok(tonic::Response::new(wire::MemoryAck { id: 0 }))
    }

    async fn get_session(
        &self,
        req: tonic::Request<wire::GetSessionRequest>,
    ) -> Resp<wire::SessionInfo> {
        let who = principal_of(&req)?;
        let s = self.0.get_session(who, req.into_inner().session_id).await?;
        Ok(tonic::Response::new(session_out(s)))
    }

    async fn list_sessions(
        &self,
        req: tonic::Request<wire::ListStoredSessionsRequest>,
    ) -> Resp<wire::ListSessionsReply> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let uid = (r.uid != 0).then_some(r.uid);
        let list = self.0.list_sessions(who, uid, r.limit).await?;
        Ok(tonic::Response::new(wire::ListSessionsReply {
            sessions: list.into_iter().map(session_out).collect(),
        }))
    }

    async fn append_message(
        &self,
        req: tonic::Request<wire::StoredMessage>,
    ) -> Resp<wire::MemoryAck> {
        let who = principal_of(&req)?;
        let id = self
            .0
            .append_message(who, message_in(req.into_inner())?)
            .await?;
        Ok(tonic::Response::new(wire::MemoryAck { id }))
    }

    async fn get_messages(
        &self,
        req: tonic::Request<wire::GetMessagesRequest>,
    ) -> Resp<wire::GetMessagesReply> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let list = self.0.get_messages(who, r.session_id, r.limit).await?;
        Ok(tonic::Response::new(wire::GetMessagesReply {
            messages: list.into_iter().map(message_out).collect(),
        }))
    }

    async fn get_tool_call(
        &self,
        req: tonic::Request<wire::GetToolCallRequest>,
    ) -> Resp<wire::GetToolCallReply> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let call = self.0.get_tool_call(who, r.session_id, r.call_id).await?;
        Ok(tonic::Response::new(wire::GetToolCallReply {
            call: call.map(stored_call_out),
        }))
    }

    async fn record_tool_call(
        &self,
        req: tonic::Request<wire::StoredToolCall>,
    ) -> Resp<wire::MemoryAck> {
        let who = principal_of(&req)?;
        let id = self
            .0
            .record_tool_call(who, stored_call_in(req.into_inner())?)
            .await?;
        Ok(tonic::Response::new(wire::MemoryAck { id }))
    }

    async fn append_events(
        &self,
        req: tonic::Request<wire::AppendEventsRequest>,
    ) -> Resp<wire::MemoryAck> {
        let who = principal_of(&req)?;
        let events = events_in(req.into_inner().events)?;
        let added = self.0.append_events(who, events).await?;
        Ok(tonic::Response::new(wire::MemoryAck {
            id: i64::try_from(added).unwrap_or(i64::MAX),
        }))
    }

    async fn get_events(
        &self,
        req: tonic::Request<wire::GetEventsRequest>,
    ) -> Resp<wire::GetEventsReply> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let events = self
            .0
            .get_events(who, r.session_id, r.after_seq, r.limit, r.newest)
            .await?;
        Ok(tonic::Response::new(wire::GetEventsReply {
            events: events.into_iter().map(event_out).collect(),
        }))
    }
}

/// Client of the memory service.
#[derive(Clone)]
pub struct MemoryClient {
    inner: wire::memory_client::MemoryClient<Channel>,
}

impl MemoryClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        MemoryClient {
            inner: wire::memory_client::MemoryClient::new(channel)
                .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::MAX_MESSAGE_BYTES),
        }
    }

    /// Insert or update a session.
    pub async fn put_session(&mut self, s: SessionInfo) -> Result<(), ApiError> {
        self.inner.put_session(crate::unary(session_out(s))).await?;
        Ok(())
    }

    /// One session.
    pub async fn get_session(&mut self, id: &str) -> Result<SessionInfo, ApiError> {
        let r = self
            .inner
            .get_session(crate::unary(wire::GetSessionRequest {
                session_id: id.to_string(),
            }))
            .await?;
        Ok(session_in(r.into_inner()))
    }

    /// Sessions of `uid` (`None` = the caller's).
    pub async fn list_sessions(
        &mut self,
        uid: Option<u32>,
        limit: u32,
    ) -> Result<Vec<SessionInfo>, ApiError> {
        let r = self
            .inner
            .list_sessions(crate::unary(wire::ListStoredSessionsRequest {
                uid: uid.unwrap_or(0),
                limit,
            }))
            .await?;
        Ok(r.into_inner()
            .sessions
            .into_iter()
            .map(session_in)
            .collect())
    }

    /// Append a message durably.
    pub async fn append_message(&mut self, m: StoredMessage) -> Result<i64, ApiError> {
        let r = self
            .inner
            .append_message(crate::unary(message_out(m)))
            .await?;
        Ok(r.into_inner().id)
    }

    /// Messages of a session, in order.
    pub async fn get_messages(
        &mut self,
        session_id: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, ApiError> {
        let r = self
            .inner
            .get_messages(crate::unary(wire::GetMessagesRequest {
                session_id: session_id.to_string(),
                limit,
            }))
            .await?;
        r.into_inner()
            .messages
            .into_iter()
            .map(message_in)
            .collect()
    }

    /// Record a finished tool call durably.
    pub async fn record_tool_call(&mut self, c: StoredToolCall) -> Result<i64, ApiError> {
        let r = self
            .inner
            .record_tool_call(crate::unary(stored_call_out(c)))
            .await?;
        Ok(r.into_inner().id)
    }

    /// One recorded tool call of a session with its full result; `None`
    /// when the session has no such call.
    pub async fn get_tool_call(
        &mut self,
        session_id: &str,
        call_id: &str,
    ) -> Result<Option<StoredToolCall>, ApiError> {
        let r = self
            .inner
            .get_tool_call(crate::unary(wire::GetToolCallRequest {
                session_id: session_id.to_string(),
                call_id: call_id.to_string(),
            }))
            .await?;
        r.into_inner().call.map(stored_call_in).transpose()
    }

    /// Append events to their sessions' logs, durably; how many were new.
    pub async fn append_events(&mut self, events: Vec<Event>) -> Result<u64, ApiError> {
        let r = self
            .inner
            .append_events(crate::unary(wire::AppendEventsRequest {
                events: events.into_iter().map(event_out).collect(),
            }))
            .await?;
        Ok(u64::try_from(r.into_inner().id).unwrap_or(0))
    }

    /// Events of a session after `after_seq`, in order (see
    /// [`MemoryApi::get_events`]).
    pub async fn get_events(
        &mut self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<Event>, ApiError> {
        let r = self
            .inner
            .get_events(crate::unary(wire::GetEventsRequest {
                session_id: session_id.to_string(),
                after_seq,
                limit,
                newest,
            }))
            .await?;
        events_in(r.into_inner().events)
    }
}
