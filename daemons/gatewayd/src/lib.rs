//! # aios-gatewayd: the model gateway
//!
//! Every model provider sits behind one streaming trait, [`Provider`], and
//! the [`Gateway`] routes [`aios_proto::CompletionRequest`]s to them and
//! serves [`aios_proto::ModelApi`]. This is the only process that reads API
//! keys (DESIGN.md §2); they never appear in logs or error messages.
//!
//! Providers are named instances of a kind (`aios_config::KINDS`,
//! `docs/PROVIDERS.md`):
//!
//! | kind | module | wire |
//! |---|---|---|
//! | `openai`, `openai-compatible` | [`openai`] | Chat Completions over SSE (also Ollama, llama-server, llama-cpp-python, vLLM) |
//! | `anthropic` | [`anthropic`] | Messages API over SSE |
//! | `scripted` | [`scripted`], [`demo`] | a JSON script, or the embedded demo model |
//! | `local` | [`local`], [`select`] | runtimed's runtime service over its Unix socket, tools narrowed first |
//!
//! Routing ([`route`], [`breaker`], [`spend`]): the default instance, then
//! the `[model] fallback` chain, tried only before any output reached the
//! user; a per-instance circuit breaker; budgets that route to `local`
//! when spent; every `usage` event names the instance, the model, the
//! route reason and the cost.
//!
//! Design decisions:
//! - **Pure decoders.** Each cloud wire format is a [`http::Decoder`] fed
//!   parsed SSE events ([`sse`]); all I/O (retries, timeouts, dropped
//!   connections) lives in [`http`], shared by both.
//! - **Retries only before the stream.** 429/5xx/connection failures are
//!   retried with jittered exponential backoff (honouring `retry-after`)
//!   until a response is accepted; after that a failure is final, because
//!   the user may already have seen part of the answer.
//! - **Reversible tool names.** Dotted `namespace.verb` names are mapped to
//!   the `[a-zA-Z0-9_-]{1,64}` wire form by a bijection ([`names`]).
//! - **Malformed tool arguments are data**, reported as
//!   [`aios_proto::CompletionEvent::MalformedToolCall`], never a failure of
//!   the stream, so the orchestrator can tell the model what was wrong.
#![deny(missing_docs)]

pub mod anthropic;
pub mod breaker;
mod clarify;
pub mod count;
pub mod demo;
mod error;
mod gateway;
pub mod http;
pub mod local;
pub mod names;
pub mod openai;
mod provider;
pub mod route;
pub mod scripted;
pub mod select;
pub mod semantic;
pub mod spend;
pub mod sse;

pub use anthropic::AnthropicProvider;
pub use error::{GatewayError, ProviderError};
pub use gateway::{Gateway, KeyResult};
pub use http::RetryPolicy;
pub use local::LocalProvider;
pub use openai::OpenAiProvider;
pub use provider::{
    MAX_TOOL_CALL_BYTES, MAX_TOOL_CALLS_PER_REPLY, Provider, ProviderStream, assemble_tool_call,
    request_chars, rough_tokens,
};
pub use scripted::{Script, ScriptToolCall, ScriptTurn, ScriptedProvider};
pub use select::{KeywordSelector, RouterSelector, ToolSelector};
