//! The model service (`gatewayd`): provider status and streamed completions.
//!
//! A completion's text deltas that are already waiting when the stream is
//! read are sent on as one ([`coalesce_text`]), on both sides of the wire:
//! a fast server's answer arrives in a few large reads holding hundreds of
//! tokens, and one message per token cost the gateway, aiosd, the
//! session journal and the shell a hop each (2,000 of them for a
//! 2,000-token answer). Nothing waits for more text: what is not there yet
//! goes on in the next message, so merging never delays a byte.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
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
        let events = coalesce_text(self.0.complete(who, r).await?);
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
        Ok(coalesce_text(
            r.map(|r| r.map_err(ApiError::from).and_then(completion_event_in))
                .boxed(),
        ))
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

/// Most bytes of text merged into one delta, so a message stays small
/// whatever the provider's reads hold.
pub const COALESCE_MAX_BYTES: usize = 16 * 1024;

/// `events` with each run of text deltas that are ready together merged
/// into one delta (up to about [`COALESCE_MAX_BYTES`]). Only what the
/// stream yields without waiting is merged: the first delta is never held
/// back for a later one. Every other event, and the order, are unchanged.
pub fn coalesce_text(events: BoxStream<CompletionEvent>) -> BoxStream<CompletionEvent> {
    Box::pin(Coalesce {
        inner: events,
        held: None,
        ended: false,
    })
}

struct Coalesce {
    inner: BoxStream<CompletionEvent>,
    /// An event read while merging text, to yield next.
    held: Option<Result<CompletionEvent, ApiError>>,
    /// `inner` returned its end: it must not be polled again.
    ended: bool,
}

impl Stream for Coalesce {
    type Item = Result<CompletionEvent, ApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let first = match this.held.take() {
            Some(item) => item,
            None if this.ended => return Poll::Ready(None),
            None => match this.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            },
        };
        let Ok(CompletionEvent::TextDelta(mut text)) = first else {
            return Poll::Ready(Some(first));
        };
        while !this.ended && text.len() < COALESCE_MAX_BYTES {
            match this.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(CompletionEvent::TextDelta(more)))) => text.push_str(&more),
                Poll::Ready(Some(other)) => {
                    this.held = Some(other);
                    break;
                }
                Poll::Ready(None) => this.ended = true,
                // `inner` will wake this task when more comes.
                Poll::Pending => break,
            }
        }
        Poll::Ready(Some(Ok(CompletionEvent::TextDelta(text))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::mpsc;
    use futures::{FutureExt as _, SinkExt as _};

    fn text(t: &str) -> Result<CompletionEvent, ApiError> {
        Ok(CompletionEvent::TextDelta(t.into()))
    }

    fn done() -> Result<CompletionEvent, ApiError> {
        Ok(CompletionEvent::Done {
            stop_reason: "end_turn".into(),
        })
    }

    /// What `items`, all ready at once, come out as.
    fn merged(items: Vec<Result<CompletionEvent, ApiError>>) -> Vec<String> {
        let s = coalesce_text(futures::stream::iter(items).boxed());
        let out: Vec<_> = s.collect::<Vec<_>>().now_or_never().unwrap_or_default();
        out.into_iter()
            .map(|r| match r {
                Ok(CompletionEvent::TextDelta(t)) => format!("text {t:?}"),
                Ok(CompletionEvent::Done { .. }) => "done".into(),
                Ok(other) => format!("{other:?}"),
                Err(e) => format!("error {}", e.message),
            })
            .collect()
    }

    #[test]
    fn text_that_is_ready_together_goes_as_one_delta_and_the_rest_keeps_its_order() {
        assert_eq!(
            merged(vec![text("The "), text("disk "), text("is full."), done()]),
            ["text \"The disk is full.\"", "done"]
        );
        assert_eq!(
            merged(vec![
                text("a"),
                Ok(CompletionEvent::Done {
                    stop_reason: "tool_use".into()
                }),
                text("b"),
                text("c"),
                Err(ApiError::internal("broke")),
                text("d"),
            ]),
            [
                "text \"a\"",
                "done",
                "text \"bc\"",
                "error broke",
                "text \"d\""
            ]
        );
        assert_eq!(merged(vec![]), Vec::<String>::new());
    }

    #[test]
    fn a_delta_is_never_held_for_one_not_yet_there() {
        let (mut tx, rx) = mpsc::unbounded();
        let mut s = coalesce_text(rx.boxed());
        futures::executor::block_on(async {
            tx.send(text("first ")).await.ok();
            tx.send(text("part")).await.ok();
            // Both were waiting: one delta, at once, without the third.
            assert_eq!(s.next().await.and_then(Result::ok), text("first part").ok());
            assert!(s.next().now_or_never().is_none(), "nothing is ready");
            tx.send(text("later")).await.ok();
            drop(tx);
            assert_eq!(s.next().await.and_then(Result::ok), text("later").ok());
            assert!(s.next().await.is_none());
            // Polled again after its end: still the end.
            assert!(s.next().await.is_none());
        });
    }

    #[test]
    fn merged_text_stops_near_the_bound() {
        let piece = "x".repeat(1000);
        let items = (0..40).map(|_| text(&piece)).collect();
        let out = merged(items);
        assert_eq!(out.len(), 3, "40,000 bytes in deltas of about 16 KiB");
    }
}
