//! A conversation turn with candidate tools on a loaded model: the pure
//! pieces of [`crate::tools`] (prompt, grammar, parse) run through
//! [`Runtime::generate`].

use crate::catalog;
use crate::steer::CallSteer;
use crate::tools::{self, Reply, ReplyStream, ToolDef, Turn};
use crate::{Cancel, GenOptions, Generated, KeptPrompt, Runtime, RuntimeError};

/// One request: the conversation so far and the candidate tools.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// The fixed instructions ([`tools::SYSTEM`] unless the caller has its
    /// own); first in the prompt, so their KV cache is reused.
    pub system: &'a str,
    /// The candidate tools (already narrowed to a few); none = plain text.
    /// The reply's grammar allows only these.
    pub tools: &'a [ToolDef],
    /// Every tool the caller has, in a stable order, or none. Once the
    /// runtime holds their prompt in its KV cache ([`crate::KeptPrompt`]),
    /// the prompt lists all of them instead of only `tools`: the model sees
    /// the whole catalogue at no cost per request, and may still call only
    /// one of `tools`.
    pub catalog: &'a [ToolDef],
    /// The conversation, oldest first; normally ends with a user turn or a
    /// tool result.
    pub turns: &'a [Turn],
    /// Upper bound on generated tokens.
    pub max_tokens: u32,
    /// Accept only a tool call, not a text answer (when the caller knows a
    /// tool is needed and wants the model to choose which and fill it).
    pub require_tool: bool,
}

/// What [`Runtime::chat`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResult {
    /// The reply: text, or one call to one of the candidates.
    pub reply: Reply,
    /// Token counts, timings and why generation ended.
    pub generated: Generated,
}

/// Chat-template stop marker, in case a model emits it as text rather than
/// as its end-of-turn token.
const IM_END: &str = "<|im_end|>";

impl Runtime {
    /// Keep the prompt prefix that lists all of `catalog` under `system`
    /// now (see [`Runtime::keep`]), so that the first [`Runtime::chat`]
    /// with the same system text and catalogue already reuses it. Returns
    /// whether it fits.
    pub fn keep_catalog(&self, system: &str, catalog: &[ToolDef]) -> Result<bool, RuntimeError> {
        let examples = self.listing_with_examples(system, catalog)?;
        let messages = catalog::catalog_messages(system, catalog, &[], &[], examples);
        let rendered = self.chat_template_apply(&messages)?;
        match tools::tools_prefix(&rendered) {
            Some(prefix) => self.keep(prefix),
            None => Ok(false),
        }
    }

    /// Evaluate and save, while idle, the fixed part of the prompt of a
    /// request listing each of `lists` under `system` (see
    /// [`Runtime::warm`]): a later [`Runtime::chat`] offering exactly one
    /// of these lists as its tools loads that part instead of evaluating
    /// it. Returns how many prefixes were queued.
    pub fn warm_tool_lists(
        &self,
        system: &str,
        lists: &[Vec<ToolDef>],
    ) -> Result<usize, RuntimeError> {
        let mut prefixes = Vec::with_capacity(lists.len());
        for tools in lists.iter().filter(|l| !l.is_empty()) {
            let rendered = self.chat_template_apply(&tools::messages(system, tools, &[]))?;
            if let Some(prefix) = tools::tools_prefix(&rendered) {
                prefixes.push(prefix.to_string());
            }
        }
        let n = prefixes.len();
        self.warm(prefixes)?;
        Ok(n)
    }

    /// Whether the catalogue is listed with each tool's example: only when
    /// that listing's prefix can still be kept beside requests in this
    /// context (a tokenizer that spends more tokens on the same text gets
    /// the shorter listing). The same for every request with the same
    /// catalogue, so the kept prefix is reused.
    fn listing_with_examples(
        &self,
        system: &str,
        catalog: &[ToolDef],
    ) -> Result<bool, RuntimeError> {
        let messages = catalog::catalog_messages(system, catalog, &[], &[], true);
        let rendered = self.chat_template_apply(&messages)?;
        let Some(prefix) = tools::tools_prefix(&rendered) else {
            return Ok(false);
        };
        let len = self.token_count(prefix)? as usize;
        Ok(crate::engine::keepable(len, self.info().n_ctx as usize))
    }

    /// Answer `req`: text is streamed to `on_text` as it is generated; a
    /// tool call is not streamed and arrives whole in the result.
    /// Cancellation is checked before every token.
    pub fn chat(
        &self,
        req: &ChatRequest<'_>,
        cancel: &Cancel,
        mut on_text: impl FnMut(&str),
    ) -> Result<ChatResult, RuntimeError> {
        let messages = tools::messages(req.system, req.tools, req.turns);
        let prompt = self.chat_template_apply(&messages)?;
        let kept = if req.catalog.is_empty() || req.tools.is_empty() {
            None
        } else {
            let examples = self.listing_with_examples(req.system, req.catalog)?;
            let full =
                catalog::catalog_messages(req.system, req.catalog, req.tools, req.turns, examples);
            let full = self.chat_template_apply(&full)?;
            tools::tools_prefix(&full).map(|prefix| KeptPrompt {
                prefix: prefix.to_string(),
                prompt: full.clone(),
            })
        };
        let opts = GenOptions {
            max_tokens: req.max_tokens,
            grammar: tools::reply_grammar(req.tools, req.require_tool)?,
            stop: vec![IM_END.to_string()],
            kept,
            steer: (!req.tools.is_empty()).then(|| {
                CallSteer::new(req.tools.iter().map(|t| t.name.as_str()), req.require_tool)
            }),
            // The instructions and the tool list are the same for every
            // request that lists the same tools (a tool group): their KV
            // cache is saved once and loaded after that.
            save_prefix: tools::tools_prefix(&prompt).map(str::to_string),
        };
        let mut stream = ReplyStream::default();
        let generated = self.generate(&prompt, &opts, cancel, |piece| {
            if let Some(shown) = stream.push(piece) {
                on_text(&shown);
            }
        })?;
        let reply = tools::parse_reply(&generated.text, req.tools)?;
        Ok(ChatResult { reply, generated })
    }
}
