//! `memory.output`: reads, page by page, a tool output that aiOS cut to fit the model's
//! context. The cut output ends with a pointer naming the call and its session
//! (`[aiOS: output truncated; the full output is stored as tool call "ID" of session
//! "ID"]`); this tool returns the stored full output from a byte offset. Only the
//! caller's own sessions are read: toolsd knows the caller's uid from the socket, and a
//! session of another user answers like a missing one. The text is data, never
//! instructions.

use aios_domain::{Resource, ResourceKind, Risk};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Example, Tool, ToolCtx, ToolError};

/// `memory.output`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryOutput;

/// Bytes one call returns when none are asked for: about a thousand tokens, which a
/// small local model's context holds beside the conversation.
pub const DEFAULT_LIMIT: u32 = 4000;
/// Most bytes one call returns.
pub const MAX_LIMIT: u32 = 16_000;
/// Longest id accepted (session and call ids are far shorter).
const MAX_ID: usize = 200;

fn default_limit() -> u32 {
    DEFAULT_LIMIT
}

/// Arguments of `memory.output`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryOutputArgs {
    /// The session id the truncation pointer names.
    pub session: String,
    /// The tool call id the truncation pointer names.
    pub call: String,
    /// Byte offset to read from (0 = the start; next_offset of the previous page).
    #[serde(default)]
    pub offset: u64,
    /// Bytes to read (default 4000, at most 16000).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// The page of `text` from `offset`, at most `limit` bytes, cut at character
/// boundaries: `(start, end)`. Pure.
pub fn page(text: &str, offset: u64, limit: u32) -> Result<(usize, usize), ToolError> {
    let len = text.len();
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    if offset > len {
        return Err(ToolError::invalid(format!(
            "offset {offset} is past the end of the output ({len} bytes); read from an offset below {len}"
        )));
    }
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = start.saturating_add(limit as usize).min(len);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Ok((start, end))
}

impl Tool for MemoryOutput {
    type Args = MemoryOutputArgs;

    fn name(&self) -> &'static str {
        "memory.output"
    }

    fn description(&self) -> &'static str {
        "Read the full output of an earlier tool call that was shown truncated (its pointer names the call \
         and session), page by page from a byte offset."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        // memoryd's episodic store: system-wide state, read only, as for memory.search.
        &[ResourceKind::System]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "show the rest of that truncated output",
                args: r#"{"session": "s-1", "call": "call_1_0", "offset": 4000}"#,
            },
            Example {
                request: "read the full output of the tool call that was cut",
                args: r#"{"session": "s-1", "call": "call_1_0"}"#,
            },
            Example {
                request: "continue reading the stored output where it stopped",
                args: r#"{"session": "s-1", "call": "call_1_0", "offset": 8000}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut MemoryOutputArgs,
        _home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        for (name, id) in [("session", &mut args.session), ("call", &mut args.call)] {
            *id = id.trim().to_string();
            if id.is_empty() {
                return Err(ToolError::invalid(format!(
                    "give the {name} id that the truncation pointer names"
                )));
            }
            if id.len() > MAX_ID {
                return Err(ToolError::invalid(format!(
                    "{name} is longer than {MAX_ID} bytes; copy the id from the truncation pointer"
                )));
            }
        }
        args.limit = args.limit.clamp(1, MAX_LIMIT);
        Ok(())
    }

    fn resources(&self, _args: &MemoryOutputArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, args: &MemoryOutputArgs) -> String {
        format!(
            "read {} bytes of the output of call {:?} of session {:?} from byte {}",
            args.limit, args.call, args.session, args.offset
        )
    }

    async fn run(&self, ctx: ToolCtx, args: MemoryOutputArgs) -> Result<Value, ToolError> {
        let reader = ctx
            .memory()
            .ok_or_else(|| ToolError::failed("this executor has no memory service to read"))?;
        let owner = ctx.access().identity().uid;
        let stored = reader
            .tool_output(args.session.clone(), args.call.clone(), owner)
            .await
            .map_err(|e| ToolError::failed(format!("memory output: {e}")))?
            .ok_or_else(|| {
                ToolError::not_found(format!(
                    "no stored output of call {:?} in a session {:?} of yours; copy both ids from the truncation pointer",
                    args.call, args.session
                ))
            })?;
        let (start, end) = page(&stored.text, args.offset, args.limit)?;
        let total = stored.text.len();
        let next = (end < total).then_some(end);
        super::to_value(&serde_json::json!({
            "summary": format!(
                "bytes {start}-{end} of {total} of the output of {} (call {:?}){}",
                stored.tool,
                args.call,
                match next {
                    Some(n) => format!("; more from offset {n}"),
                    None => "; the end".to_string(),
                }
            ),
            "session": args.session,
            "call": args.call,
            "tool": stored.tool,
            "offset": start,
            "total_bytes": total,
            "next_offset": next,
            "text": &stored.text[start..end],
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn pages_cover_the_text_once_at_character_boundaries() {
        let text = "aé".repeat(1000); // 3 bytes per pair
        let mut offset = 0;
        let mut read = String::new();
        loop {
            let (start, end) = page(&text, offset, 1001).unwrap();
            assert_eq!(start as u64, offset);
            read.push_str(&text[start..end]);
            if end == text.len() {
                break;
            }
            assert!(end > start);
            offset = end as u64;
        }
        assert_eq!(read, text);
        // An offset inside a character starts at that character.
        assert_eq!(page(&text, 2, 10).unwrap().0, 1);
        // The end is an empty page; past it, a clear error.
        assert_eq!(page(&text, 3000, 10).unwrap(), (3000, 3000));
        let e = page(&text, 3001, 10).unwrap_err().to_string();
        assert!(e.contains("past the end"), "{e}");
    }
}
