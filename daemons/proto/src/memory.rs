//! The memory service (`memoryd`): the episodic store of sessions,
//! messages and tool calls.

use std::sync::Arc;

use tonic::transport::Channel;

use crate::convert::{
    message_in, message_out, session_in, session_out, stored_call_in, stored_call_out,
};
use crate::domain::{SessionInfo, StoredMessage, StoredToolCall};
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
}
