//! The session service (`aiosd`): create and list sessions, and the
//! bidirectional stream of operations and events (DESIGN.md §3).

use std::sync::Arc;

use futures::StreamExt;
use tonic::transport::Channel;

use crate::convert::{
    create_in, create_out, event_in, event_out, op_in, op_out, session_in, session_out,
};
use crate::domain::{CreateSession, Event, Op, SessionInfo};
use crate::principal::principal_of;
use crate::wire;
use crate::{ApiError, BoxStream, Principal};

/// What `aiosd` implements.
#[tonic::async_trait]
pub trait SessionApi: Send + Sync + 'static {
    /// Create a session owned by `who`.
    async fn create(&self, who: Principal, req: CreateSession) -> Result<SessionInfo, ApiError>;
    /// Sessions visible to `who`.
    async fn list(&self, who: Principal) -> Result<Vec<SessionInfo>, ApiError>;
    /// Serve one client connection: `ops` starts with `Attach`.
    async fn stream(
        &self,
        who: Principal,
        ops: BoxStream<Op>,
    ) -> Result<BoxStream<Event>, ApiError>;
}

pub(crate) struct Adapter(pub(crate) Arc<dyn SessionApi>);

#[tonic::async_trait]
impl wire::session_server::Session for Adapter {
    async fn create(
        &self,
        req: tonic::Request<wire::CreateSessionRequest>,
    ) -> Result<tonic::Response<wire::SessionInfo>, tonic::Status> {
        let who = principal_of(&req)?;
        let info = self.0.create(who, create_in(req.into_inner())).await?;
        Ok(tonic::Response::new(session_out(info)))
    }

    async fn list(
        &self,
        req: tonic::Request<wire::ListSessionsRequest>,
    ) -> Result<tonic::Response<wire::ListSessionsReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let sessions = self.0.list(who).await?;
        Ok(tonic::Response::new(wire::ListSessionsReply {
            sessions: sessions.into_iter().map(session_out).collect(),
        }))
    }

    type StreamStream = BoxStream<wire::SessionEvent, tonic::Status>;

    async fn stream(
        &self,
        req: tonic::Request<tonic::Streaming<wire::ClientOp>>,
    ) -> Result<tonic::Response<Self::StreamStream>, tonic::Status> {
        let who = principal_of(&req)?;
        let ops = req
            .into_inner()
            .map(|r| r.map_err(ApiError::from).and_then(op_in))
            .boxed();
        let events = self.0.stream(who, ops).await?;
        Ok(tonic::Response::new(
            events
                .map(|r| r.map(event_out).map_err(tonic::Status::from))
                .boxed(),
        ))
    }
}

/// Client of the session service.
#[derive(Clone)]
pub struct SessionClient {
    inner: wire::session_client::SessionClient<Channel>,
}

impl SessionClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        SessionClient {
            inner: wire::session_client::SessionClient::new(channel)
                .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::MAX_MESSAGE_BYTES),
        }
    }

    /// Create a session.
    pub async fn create(&mut self, req: CreateSession) -> Result<SessionInfo, ApiError> {
        let r = self
            .inner
            .create(crate::unary(create_out(req)))
            .await?
            .into_inner();
        Ok(session_in(r))
    }

    /// List the caller's sessions.
    pub async fn list(&mut self) -> Result<Vec<SessionInfo>, ApiError> {
        let r = self
            .inner
            .list(crate::unary(wire::ListSessionsRequest {}))
            .await?
            .into_inner();
        Ok(r.sessions.into_iter().map(session_in).collect())
    }

    /// Open the event stream; the first op must be [`Op::Attach`].
    pub async fn stream(
        &mut self,
        ops: impl futures::Stream<Item = Op> + Send + 'static,
    ) -> Result<BoxStream<Event>, ApiError> {
        let r = self.inner.stream(ops.map(op_out)).await?.into_inner();
        // Events of kinds this build does not know are skipped, never an
        // error (docs/EVENTS.md: consumers ignore types they do not know).
        Ok(r.filter_map(|r| {
            futures::future::ready(match r {
                Ok(e) => event_in(e).transpose(),
                Err(status) => Some(Err(ApiError::from(status))),
            })
        })
        .boxed())
    }
}
