//! The runtime service (`runtimed`): the local model, generation with
//! candidate tools, and embeddings.

use std::sync::Arc;

use futures::StreamExt;
use tonic::transport::Channel;

use crate::convert::{
    generate_event_in, generate_event_out, generate_req_in, generate_req_out, model_tool_in,
    model_tool_out, runtime_info_in, runtime_info_out,
};
use crate::domain::{GenerateEvent, GenerateRequest, ModelTool, RuntimeInfo};
use crate::principal::principal_of;
use crate::wire;
use crate::{ApiError, BoxStream, Principal};

/// What `runtimed` implements.
#[tonic::async_trait]
pub trait RuntimeApi: Send + Sync + 'static {
    /// What is loaded (waits for a load in progress).
    async fn info(&self, who: Principal) -> Result<RuntimeInfo, ApiError>;
    /// Stream one generation. Dropping the stream cancels it; errors after
    /// the stream started arrive as an `Err` item.
    async fn generate(
        &self,
        who: Principal,
        req: GenerateRequest,
    ) -> Result<BoxStream<GenerateEvent>, ApiError>;
    /// Embeddings of `texts`, one vector each, in order.
    async fn embed(&self, who: Principal, texts: Vec<String>) -> Result<Vec<Vec<f32>>, ApiError>;
    /// Keep the prompt prefix that lists `catalog` under `system` (empty =
    /// the runtime's own) in the KV cache, filled while idle. Returns what
    /// is loaded and kept; `kept_target` is 0 when the prefix is too long.
    async fn keep(
        &self,
        who: Principal,
        system: String,
        catalog: Vec<ModelTool>,
    ) -> Result<RuntimeInfo, ApiError>;
    /// Evaluate and save, while idle, the prompt prefix of each of `lists`
    /// under `system` (empty = the runtime's own), so requests listing one
    /// of them load it. Returns what is loaded; `warm_pending` counts the
    /// lists still to do.
    async fn warm(
        &self,
        who: Principal,
        system: String,
        lists: Vec<Vec<ModelTool>>,
    ) -> Result<RuntimeInfo, ApiError>;
    /// Tokens of each of `texts` as it appears inside a prompt (no BOS),
    /// in order.
    async fn count_tokens(&self, who: Principal, texts: Vec<String>) -> Result<Vec<u32>, ApiError>;
}

pub(crate) struct Adapter(pub(crate) Arc<dyn RuntimeApi>);

type Resp<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl wire::runtime_server::Runtime for Adapter {
    async fn info(&self, req: tonic::Request<wire::RuntimeInfoRequest>) -> Resp<wire::RuntimeInfo> {
        let who = principal_of(&req)?;
        let info = self.0.info(who).await?;
        Ok(tonic::Response::new(runtime_info_out(info)))
    }

    type GenerateStream = BoxStream<wire::GenerateEvent, tonic::Status>;

    async fn generate(
        &self,
        req: tonic::Request<wire::GenerateRequest>,
    ) -> Resp<Self::GenerateStream> {
        let who = principal_of(&req)?;
        let r = generate_req_in(req.into_inner())?;
        let events = self.0.generate(who, r).await?;
        Ok(tonic::Response::new(
            events
                .map(|r| r.map(generate_event_out).map_err(tonic::Status::from))
                .boxed(),
        ))
    }

    async fn embed(&self, req: tonic::Request<wire::EmbedRequest>) -> Resp<wire::EmbedReply> {
        let who = principal_of(&req)?;
        let vectors = self.0.embed(who, req.into_inner().texts).await?;
        Ok(tonic::Response::new(wire::EmbedReply {
            vectors: vectors
                .into_iter()
                .map(|values| wire::Embedding { values })
                .collect(),
        }))
    }

    async fn keep(&self, req: tonic::Request<wire::KeepRequest>) -> Resp<wire::RuntimeInfo> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let catalog = r
            .catalog
            .into_iter()
            .map(model_tool_in)
            .collect::<Result<_, _>>()?;
        let info = self.0.keep(who, r.system, catalog).await?;
        Ok(tonic::Response::new(runtime_info_out(info)))
    }

    async fn warm(&self, req: tonic::Request<wire::WarmRequest>) -> Resp<wire::RuntimeInfo> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let lists = r
            .lists
            .into_iter()
            .map(|l| l.tools.into_iter().map(model_tool_in).collect())
            .collect::<Result<_, _>>()?;
        let info = self.0.warm(who, r.system, lists).await?;
        Ok(tonic::Response::new(runtime_info_out(info)))
    }

    async fn count_tokens(
        &self,
        req: tonic::Request<wire::RuntimeCountRequest>,
    ) -> Resp<wire::RuntimeCountReply> {
        let who = principal_of(&req)?;
        let counts = self.0.count_tokens(who, req.into_inner().texts).await?;
        Ok(tonic::Response::new(wire::RuntimeCountReply { counts }))
    }
}

/// Client of the runtime service.
#[derive(Clone)]
pub struct RuntimeClient {
    inner: wire::runtime_client::RuntimeClient<Channel>,
}

impl RuntimeClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        RuntimeClient {
            inner: wire::runtime_client::RuntimeClient::new(channel)
                .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::MAX_MESSAGE_BYTES),
        }
    }

    /// What is loaded. Waits up to a minute: the first call may wait for
    /// the model to load.
    pub async fn info(&mut self) -> Result<RuntimeInfo, ApiError> {
        let mut req = tonic::Request::new(wire::RuntimeInfoRequest {});
        req.set_timeout(std::time::Duration::from_secs(60));
        let r = self.inner.info(req).await?;
        Ok(runtime_info_in(r.into_inner()))
    }

    /// Stream one generation; drop the stream to cancel it. The caller
    /// bounds its duration.
    pub async fn generate(
        &mut self,
        req: GenerateRequest,
    ) -> Result<BoxStream<GenerateEvent>, ApiError> {
        let r = self
            .inner
            .generate(tonic::Request::new(generate_req_out(req)))
            .await?
            .into_inner();
        Ok(
            r.map(|r| r.map_err(ApiError::from).and_then(generate_event_in))
                .boxed(),
        )
    }

    /// Embeddings of `texts`, one vector each.
    pub async fn embed(&mut self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, ApiError> {
        let mut req = tonic::Request::new(wire::EmbedRequest { texts });
        req.set_timeout(std::time::Duration::from_secs(120));
        let r = self.inner.embed(req).await?;
        Ok(r.into_inner()
            .vectors
            .into_iter()
            .map(|e| e.values)
            .collect())
    }

    /// Keep the prompt prefix listing `catalog` under `system` in the KV
    /// cache now; returns what is loaded and kept. Waits up to a minute (the
    /// model may still be loading).
    pub async fn keep(
        &mut self,
        system: String,
        catalog: Vec<ModelTool>,
    ) -> Result<RuntimeInfo, ApiError> {
        let mut req = tonic::Request::new(wire::KeepRequest {
            system,
            catalog: catalog.into_iter().map(model_tool_out).collect(),
        });
        req.set_timeout(std::time::Duration::from_secs(60));
        let r = self.inner.keep(req).await?;
        Ok(runtime_info_in(r.into_inner()))
    }

    /// Have the runtime evaluate and save the prompt prefix of each tool
    /// list while idle; returns at once with what is loaded. Waits up to a
    /// minute (the model may still be loading).
    pub async fn warm(
        &mut self,
        system: String,
        lists: Vec<Vec<ModelTool>>,
    ) -> Result<RuntimeInfo, ApiError> {
        let mut req = tonic::Request::new(wire::WarmRequest {
            system,
            lists: lists
                .into_iter()
                .map(|tools| wire::ToolList {
                    tools: tools.into_iter().map(model_tool_out).collect(),
                })
                .collect(),
        });
        req.set_timeout(std::time::Duration::from_secs(60));
        let r = self.inner.warm(req).await?;
        Ok(runtime_info_in(r.into_inner()))
    }

    /// Tokens of each of `texts` inside a prompt, in order. Waits up to
    /// `timeout` (the runtime counts between generations).
    pub async fn count_tokens(
        &mut self,
        texts: Vec<String>,
        timeout: std::time::Duration,
    ) -> Result<Vec<u32>, ApiError> {
        let n = texts.len();
        let mut req = tonic::Request::new(wire::RuntimeCountRequest { texts });
        req.set_timeout(timeout);
        let counts = self.inner.count_tokens(req).await?.into_inner().counts;
        if counts.len() != n {
            return Err(ApiError::internal(format!(
                "runtimed counted {} texts of {n}",
                counts.len()
            )));
        }
        Ok(counts)
    }
}
