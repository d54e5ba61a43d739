//! `fs.read`: read part of a text file, capped, refusing binary files.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.read`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsRead;

/// Arguments of `fs.read`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsReadArgs {
    /// File to read (absolute, or starting with ~).
    pub path: String,
    /// Most bytes to return (default 65536, at most 1048576).
    pub max_bytes: Option<u64>,
    /// Byte offset to start at (default 0); use next_offset from a truncated read to continue.
    pub offset: Option<u64>,
}

const DEFAULT_MAX: u64 = 64 * 1024;
const MAX_MAX: u64 = 1024 * 1024;

/// What was read.
#[derive(Debug, Clone, Serialize)]
pub struct ReadResult {
    /// One line: `/etc/hostname: 12 B of 12 B` (with where to continue when cut).
    pub summary: String,
    /// The file, canonical.
    pub path: PathBuf,
    /// File size in bytes (0 for many /proc files, which are still read).
    pub size: u64,
    /// Where the content starts.
    pub offset: u64,
    /// Bytes of content returned.
    pub bytes: u64,
    /// Whether the file goes on past the returned content.
    pub truncated: bool,
    /// Offset to continue from when truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
    /// The text.
    pub content: String,
}

/// Whether `buf` looks binary: a NUL byte, or bytes that are not UTF-8
/// other than a character cut at the very end.
pub(crate) fn looks_binary(buf: &[u8]) -> bool {
    if buf.contains(&0) {
        return true;
    }
    match std::str::from_utf8(buf) {
        Ok(_) => false,
        Err(e) => e.error_len().is_some(),
    }
}

fn read(ctx: &ToolCtx, args: FsReadArgs) -> Result<ReadResult, ToolError> {
    let max = args.max_bytes.unwrap_or(DEFAULT_MAX);
    if max == 0 || max > MAX_MAX {
        return Err(ToolError::invalid(format!(
            "fs.read: field `max_bytes` must be 1..={MAX_MAX}, got {max}"
        )));
    }
    let offset = args.offset.unwrap_or(0);
    let access = ctx.access();
    let pinned = super::paths::pin(ctx, &args.path, "read")?;
    let mut f = pinned.open_file(access, "fs.read", "use fs.list to list it")?;
    let (path, meta) = (pinned.path, pinned.meta);
    if offset > 0 {
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| access.io_error(&path, "seek in", &e))?;
    }
    // Read one byte past the cap to learn whether the file goes on.
    let mut buf = Vec::new();
    (&mut f)
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| access.io_error(&path, "read", &e))?;
    let more = buf.len() as u64 > max;
    buf.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    if looks_binary(&buf) {
        return Err(ToolError::invalid(format!(
            "{} is a binary file ({} bytes); fs.read returns text only",
            path.display(),
            meta.len()
        )));
    }
    // A multi-byte character cut by the cap is left for the next read.
    let valid = match std::str::from_utf8(&buf) {
        Ok(_) => buf.len(),
        Err(e) => e.valid_up_to(),
    };
    let cut = valid < buf.len();
    buf.truncate(valid);
    let truncated = more || cut;
    let content = String::from_utf8_lossy(&buf).into_owned();
    let bytes = buf.len() as u64;
    let more = if truncated {
        format!(", truncated: continue at offset {}", offset + bytes)
    } else {
        String::new()
    };
    Ok(ReadResult {
        summary: format!(
            "{}: {} from offset {offset} of {}{more}",
            path.display(),
            crate::util::human_bytes(bytes),
            crate::util::human_bytes(meta.len())
        ),
        path,
        size: meta.len(),
        offset,
        bytes,
        truncated,
        next_offset: truncated.then_some(offset + bytes),
        content,
    })
}

impl Tool for FsRead {
    type Args = FsReadArgs;

    fn name(&self) -> &'static str {
        "fs.read"
    }

    fn description(&self) -> &'static str {
        "Read a text file (configuration, logs, scripts). Returns at most max_bytes (default 64 KiB) from offset, \
         says whether the file was truncated and where to continue. Refuses binary files."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "show me /etc/hostname",
                args: r#"{"path": "/etc/hostname"}"#,
            },
            Example {
                request: "what does my .bashrc say",
                args: r#"{"path": "~/.bashrc"}"#,
            },
            Example {
                request: "read the first kilobyte of /etc/ssh/sshd_config",
                args: r#"{"path": "/etc/ssh/sshd_config", "max_bytes": 1024}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsReadArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsReadArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsReadArgs) -> String {
        format!("read the file {}", args.path)
    }

    async fn run(&self, ctx: ToolCtx, args: FsReadArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| super::to_value(&read(&ctx, args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, Identity, OutputSink, Registry, ToolErrorKind};

    async fn call_as(ctx: ToolCtx, args: Value) -> Result<Value, ToolError> {
        Registry::builtin().prepare("fs.read", args)?.run(ctx).await
    }

    async fn call(args: Value) -> Result<Value, ToolError> {
        call_as(ToolCtx::local(), args).await
    }

    #[tokio::test]
    async fn reads_text_whole_and_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.txt");
        std::fs::write(&f, "line one\nline two\n").unwrap();
        let v = call(serde_json::json!({"path": &f})).await.unwrap();
        assert_eq!(v["content"], "line one\nline two\n");
        assert_eq!(v["truncated"], false);
        assert_eq!(v["size"], 18);
        let v = call(serde_json::json!({"path": &f, "max_bytes": 5}))
            .await
            .unwrap();
        assert_eq!(v["content"], "line ");
        assert_eq!(v["truncated"], true);
        assert_eq!(v["next_offset"], 5);
        let v = call(serde_json::json!({"path": &f, "offset": 5, "max_bytes": 100}))
            .await
            .unwrap();
        assert_eq!(v["content"], "one\nline two\n");
        assert_eq!(v["truncated"], false);
    }

    #[tokio::test]
    async fn default_cap_is_64k() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big.txt");
        std::fs::write(&f, "a".repeat(100_000)).unwrap();
        let v = call(serde_json::json!({"path": &f})).await.unwrap();
        assert_eq!(v["bytes"], 65536);
        assert_eq!(v["truncated"], true);
    }

    #[tokio::test]
    async fn cut_multibyte_char_is_left_for_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("u.txt");
        std::fs::write(&f, "aé").unwrap(); // 'é' is 2 bytes
        let v = call(serde_json::json!({"path": &f, "max_bytes": 2}))
            .await
            .unwrap();
        assert_eq!(v["content"], "a");
        assert_eq!(v["next_offset"], 1);
    }

    #[tokio::test]
    async fn refuses_binary_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.bin");
        std::fs::write(&f, [0x7f, b'E', b'L', b'F', 0, 1, 2]).unwrap();
        let e = call(serde_json::json!({"path": &f})).await.unwrap_err();
        assert!(e.message().contains("binary"), "{e}");
        let e = call(serde_json::json!({"path": dir.path()}))
            .await
            .unwrap_err();
        assert!(e.message().contains("fs.list"), "{e}");
        let e = call(serde_json::json!({})).await.unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::InvalidArgs);
        assert!(e.message().contains("`path`"), "{e}");
        let e = call(serde_json::json!({"path": &f, "max_bytes": -1}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`max_bytes`"), "{e}");
    }

    #[tokio::test]
    async fn mode_0000_file_is_denied_to_non_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "s3cret").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
        let r = call(serde_json::json!({"path": &f})).await;
        if nix::unistd::geteuid().is_root() {
            assert_eq!(r.unwrap()["content"], "s3cret");
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::PermissionDenied);
            assert!(e.message().contains("secret"), "{e}");
        }
    }

    #[tokio::test]
    async fn on_behalf_of_another_uid_the_files_mode_is_enforced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = dir.path().join("private.txt");
        std::fs::write(&f, "mine").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let stranger = Identity {
            uid: me.wrapping_add(31_337),
            gid: 31_337_000,
            groups: vec![],
            name: Some("stranger".into()),
            home: None,
        };
        let ctx = ToolCtx::new(
            Default::default(),
            OutputSink::discard(),
            Access::as_user(stranger),
        );
        let e = call_as(ctx, serde_json::json!({"path": &f}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("stranger"), "{e}");
    }
}
