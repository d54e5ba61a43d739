//! The tools service (`toolsd`): list tool definitions and execute calls.

use std::sync::Arc;

use futures::StreamExt;
use tonic::transport::Channel;

use crate::convert::{
    exec_event_in, exec_event_out, exec_req_in, exec_req_out, tool_spec_in, tool_spec_out,
};
use crate::domain::{ExecuteEvent, ExecuteRequest, ToolSpec};
use crate::principal::principal_of;
use crate::wire;
use crate::{ApiError, BoxStream, Principal};

/// What `toolsd` implements.
#[tonic::async_trait]
pub trait ToolsApi: Send + Sync + 'static {
    /// Tool definitions visible to `who`.
    async fn list(&self, who: Principal) -> Result<Vec<ToolSpec>, ApiError>;
    /// Run one call, streaming output and ending with [`ExecuteEvent::End`].
    async fn execute(
        &self,
        who: Principal,
        req: ExecuteRequest,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError>;
}

pub(crate) struct Adapter(pub(crate) Arc<dyn ToolsApi>);

#[tonic::async_trait]
impl wire::tools_server::Tools for Adapter {
    async fn list(
        &self,
        req: tonic::Request<wire::ListToolsRequest>,
    ) -> Result<tonic::Response<wire::ListToolsReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let tools = self.0.list(who).await?;
        Ok(tonic::Response::new(wire::ListToolsReply {
            tools: tools.into_iter().map(tool_spec_out).collect(),
        }))
    }

    type ExecuteStream = BoxStream<wire::ExecuteEvent, tonic::Status>;

    async fn execute(
        &self,
        req: tonic::Request<wire::ExecuteRequest>,
    ) -> Result<tonic::Response<Self::ExecuteStream>, tonic::Status> {
        let who = principal_of(&req)?;
        let r = exec_req_in(req.into_inner())?;
        let events = self.0.execute(who, r).await?;
        Ok(tonic::Response::new(
            events
                .map(|r| r.map(exec_event_out).map_err(tonic::Status::from))
                .boxed(),
        ))
    }
}

/// Client of the tools service.
#[derive(Clone)]
pub struct ToolsClient {
    inner: wire::tools_client::ToolsClient<Channel>,
}

impl ToolsClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        ToolsClient {
            inner: wire::tools_client::ToolsClient::new(channel)
                .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::MAX_MESSAGE_BYTES),
        }
    }

    /// List tool definitions.
    pub async fn list(&mut self) -> Result<Vec<ToolSpec>, ApiError> {
        let r = self
            .inner
            .list(crate::unary(wire::ListToolsRequest {}))
            .await?
            .into_inner();
        r.tools.into_iter().map(tool_spec_in).collect()
    }

    /// Execute one call. The caller bounds the whole stream's duration.
    pub async fn execute(
        &mut self,
        req: ExecuteRequest,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let r = self
            .inner
            .execute(tonic::Request::new(exec_req_out(req)))
            .await?
            .into_inner();
        Ok(r.map(|r| r.map_err(ApiError::from).and_then(exec_event_in))
            .boxed())
    }
}
