//! The model service (`gatewayd`): provider status and streamed completions.

use std::sync::Arc;

use futures::StreamExt;
use tonic::transport::Channel;

use crate::convert::{
    completion_event_in, completion_event_out, completion_req_in, completion_req_out,
    model_tool_in, model_tool_out, provider_in, provider_out,
};
use crate::domain::{CompletionEvent, CompletionRequest, ModelTool, ProviderStatus, TokenCounts};
use crate::principal::principal_of;
use crate::wire;
use crate::{ApiError, BoxStream, Principal};

/// What the gateway implements.
#[tonic::async_trait]
pub trait ModelApi: Send + Sync + 'static {
    /// Configured providers, optionally probed for reachability.
    async fn providers(&self, who: Principal, probe: bool)
    -> Result<Vec<ProviderStatus>, ApiError>;
    /// Stream one completion. Errors after the stream started arrive as an
    /// `Err` item.
    async fn complete(
        &self,
        who: Principal,
        req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError>;
    /// Get the default provider ready for requests offering `tools` under
    /// `system` (the local runtime keeps their prompt cached). Returns what
    /// was done, for logs; empty when the provider needs nothing.
    async fn prepare(
        &self,
        who: Principal,
        system: String,
        tools: Vec<ModelTool>,
    ) -> Result<String, ApiError>;
    /// Count each of `texts` in the tokens of the model a request to
    /// `provider` (`None`: the default) and `model` would use. The default
    /// answers that nothing can be counted.
    async fn count_tokens(
        &self,
        _who: Principal,
        _provider: Option<String>,
        _model: Option<String>,
        _texts: Vec<String>,
    ) -> Result<TokenCounts, ApiError> {
        Ok(TokenCounts {
            counts: None,
            detail: "this gateway counts no tokens".into(),
        })
    }
}

pub(crate) struct Adapter(pub(crate) Arc<dyn ModelApi>);

#[tonic::async_trait]
impl wire::model_server::Model for Adapter {
    async fn providers(
        &self,
        req: tonic::Request<wire::ProvidersRequest>,
    ) -> Result<tonic::Response<wire::ProvidersReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let probe = req.get_ref().probe;
        let list = self.0.providers(who, probe).await?;
        Ok(tonic::Response::new(wire::ProvidersReply {
            providers: list.into_iter().map(provider_out).collect(),
        }))
    }

    type CompleteStream = BoxStream<wire::CompletionEvent, tonic::Status>;

    async fn complete(
        &self,
        req: tonic::Request<wire::CompletionRequest>,
    ) -> Result<tonic::Response<Self::CompleteStream>, tonic::Status> {
        let who = principal_of(&req)?;
        let r = completion_req_in(req.into_inner())?;
        let events = self.0.complete(who, r).await?;
        Ok(tonic::Response::new(
            events
                .map(|r| r.map(completion_event_out).map_err(tonic::Status::from))
                .boxed(),
        ))
    }

    async fn prepare(
        &self,
        req: tonic::Request<wire::PrepareRequest>,
    ) -> Result<tonic::Response<wire::PrepareReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let tools = r
            .tools
            .into_iter()
            .map(model_tool_in)
            .collect::<Result<_, _>>()?;
        let detail = self.0.prepare(who, r.system, tools).await?;
        Ok(tonic::Response::new(wire::PrepareReply { detail }))
    }

    async fn count_tokens(
        &self,
        req: tonic::Request<wire::CountTokensRequest>,
    ) -> Result<tonic::Response<wire::CountTokensReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let n = r.texts.len();
        let counted = self
            .0
            .count_tokens(
                who,
                Some(r.provider).filter(|p| !p.is_empty()),
                Some(r.model).filter(|m| !m.is_empty()),
                r.texts,
            )
            .await?;
        if counted.counts.as_ref().is_some_and(|c| c.len() != n) {
            return Err(ApiError::internal(format!(
                "the provider counted {} texts of {n}",
                counted.counts.as_ref().map_or(0, Vec::len)
            ))
            .into());
        }
        Ok(tonic::Response::new(wire::CountTokensReply {
            known: counted.counts.is_some(),
            counts: counted.counts.unwrap_or_default(),
            detail: counted.detail,
        }))
    }
}

/// Client of the model service.
#[derive(Clone)]
pub struct ModelClient {
    inner: wire::model_client::ModelClient<Channel>,
}

impl ModelClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        ModelClient {
            inner: wire::model_client::ModelClient::new(channel)
                .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::MAX_MESSAGE_BYTES),
        }
    }

    /// Provider status; `probe` checks reachability.
    pub async fn providers(&mut self, probe: bool) -> Result<Vec<ProviderStatus>, ApiError> {
        let mut req = tonic::Request::new(wire::ProvidersRequest { probe });
        req.set_timeout(std::time::Duration::from_secs(if probe { 30 } else { 10 }));
        let r = self.inner.providers(req).await?.into_inner();
        Ok(r.providers.into_iter().map(provider_in).collect())
    }

    /// Stream a completion. The caller bounds the stream's duration.
    pub async fn complete(
        &mut self,
        req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        let r = self
            .inner
            .complete(tonic::Request::new(completion_req_out(req)))
            .await?
            .into_inner();
        Ok(
            r.map(|r| r.map_err(ApiError::from).and_then(completion_event_in))
                .boxed(),
        )
    }

    /// Get the default provider ready for requests offering `tools` under
    /// `system`; returns what was done. Waits up to a minute (a local model
    /// may still be loading).
    pub async fn prepare(
        &mut self,
        system: String,
        tools: Vec<ModelTool>,
    ) -> Result<String, ApiError> {
        let mut req = tonic::Request::new(wire::PrepareRequest {
            system,
            tools: tools.into_iter().map(model_tool_out).collect(),
        });
        req.set_timeout(std::time::Duration::from_secs(60));
        Ok(self.inner.prepare(req).await?.into_inner().detail)
    }

    /// Count each of `texts` in the tokens of the model a request to
    /// `provider` (`None`: the default) would use; `counts` is `None` when
    /// that provider cannot count. Waits up to `timeout`.
    pub async fn count_tokens(
        &mut self,
        provider: Option<String>,
        model: Option<String>,
        texts: Vec<String>,
        timeout: std::time::Duration,
    ) -> Result<TokenCounts, ApiError> {
        let n = texts.len();
        let mut req = tonic::Request::new(wire::CountTokensRequest {
            provider: provider.unwrap_or_default(),
            model: model.unwrap_or_default(),
            texts,
        });
        req.set_timeout(timeout);
        let r = self.inner.count_tokens(req).await?.into_inner();
        if r.known && r.counts.len() != n {
            return Err(ApiError::internal(format!(
                "the gateway counted {} texts of {n}",
                r.counts.len()
            )));
        }
        Ok(TokenCounts {
            counts: r.known.then_some(r.counts),
            detail: r.detail,
        })
    }
}
