//! The orchestrator's view of the other daemons, behind a trait so the turn
//! loop can be tested without processes. [`GrpcBackends`] is the real one.

use std::path::{Path, PathBuf};

use futures::StreamExt;

use aios_config::{Daemon, Paths};
use aios_proto::{
    ApiError, ApiErrorKind, BoxStream, CompletionEvent, CompletionRequest, Event, ExecuteEvent,
    ExecuteRequest, MemoryClient, ModelClient, ModelTool, PendingCall, SearchClient,
    SearchDocument, SearchHit, SearchQuery, SessionInfo, StoredMessage, StoredToolCall,
    TokenCounts, ToolSpec, ToolsClient,
};

/// Everything the turn loop needs from outside `aiosd`.
#[async_trait::async_trait]
pub trait Backends: Send + Sync + 'static {
    /// Tool definitions from the executor.
    async fn list_tools(&self) -> Result<Vec<ToolSpec>, ApiError>;
    /// Stream one model completion from the gateway.
    async fn complete(
        &self,
        req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError>;
    /// Ask the executor to run one call.
    async fn execute(&self, req: ExecuteRequest) -> Result<BoxStream<ExecuteEvent>, ApiError>;
    /// Persist a session record.
    async fn put_session(&self, s: SessionInfo) -> Result<(), ApiError>;
    /// Persist one message, durably, before it is reported.
    async fn append_message(&self, m: StoredMessage) -> Result<(), ApiError>;
    /// Persist one finished tool call, durably, before it is reported.
    async fn record_tool_call(&self, c: StoredToolCall) -> Result<(), ApiError>;
    /// Stored sessions of `uid`.
    async fn list_sessions(&self, uid: u32) -> Result<Vec<SessionInfo>, ApiError>;
    /// Get the model ready for turns offering `tools` under `system` (the
    /// local runtime keeps their prompt cached). Returns what was done.
    /// The default does nothing (test backends).
    async fn prepare_model(
        &self,
        system: String,
        tools: Vec<ModelTool>,
    ) -> Result<String, ApiError> {
        let _ = (system, tools);
        Ok(String::new())
    }
    /// Each of `texts` in the tokens of the model `provider` (`None`: the
    /// default) uses, where it can count (see `crate::tokens`). The
    /// default counts nothing (test backends).
    async fn count_tokens(
        &self,
        provider: Option<String>,
        model: Option<String>,
        texts: Vec<String>,
    ) -> Result<TokenCounts, ApiError> {
        let _ = (provider, model, texts);
        Ok(TokenCounts::default())
    }
    /// The calls of `session_id` (acting for `uid`) that the executor kept
    /// waiting for their user's approval after aiosd's stream to them
    /// closed. The default keeps none (test backends).
    async fn pending_calls(
        &self,
        session_id: &str,
        uid: u32,
    ) -> Result<Vec<PendingCall>, ApiError> {
        let _ = (session_id, uid);
        Ok(Vec::new())
    }
    /// Follow a kept call again: its approval request, then its output and
    /// its end.
    async fn reattach(
        &self,
        session_id: &str,
        call_id: &str,
        uid: u32,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let _ = uid;
        Err(ApiError::not_found(format!(
            "no call {call_id} of session {session_id} is kept by the executor"
        )))
    }
    /// Tell the executor a session ended: its approvals and grants expire.
    async fn end_session(&self, session_id: &str) -> Result<(), ApiError> {
        let _ = session_id;
        Ok(())
    }
    /// Append events to their session's stored log, durably. The default
    /// stores nothing (test backends without a memory).
    async fn append_events(&self, events: Vec<Event>) -> Result<(), ApiError> {
        let _ = events;
        Ok(())
    }
    /// Stored events of a session after `after_seq`: at most `limit` (0 =
    /// all), the oldest or (`newest`) the newest, in seq order.
    async fn get_events(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<Event>, ApiError> {
        let _ = (after_seq, limit, newest);
        Err(ApiError::not_found(format!(
            "no stored events of session {session_id:?}"
        )))
    }
    /// One stored session.
    async fn get_session(&self, session_id: &str) -> Result<SessionInfo, ApiError> {
        Err(ApiError::not_found(format!(
            "no stored session {session_id:?}"
        )))
    }
    /// Ranked long-term memories (memoryd's hybrid search). The default
    /// finds nothing (test backends without a memory).
    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, ApiError> {
        let _ = query;
        Ok(Vec::new())
    }
    /// Upsert documents into a search collection (summaries go to
    /// `history`). The default stores nothing (test backends).
    async fn write_documents(
        &self,
        collection: &str,
        docs: Vec<SearchDocument>,
    ) -> Result<(), ApiError> {
        let _ = (collection, docs);
        Ok(())
    }
    /// Documents of a search collection by id, read from memoryd's store
    /// (not the index, which may lag). The default has none (test
    /// backends).
    async fn get_documents(
        &self,
        collection: &str,
        ids: Vec<String>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let _ = (collection, ids);
        Ok(Vec::new())
    }
    /// The last `limit` stored messages of a session, in order.
    async fn get_messages(
        &self,
        session_id: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, ApiError> {
        let _ = limit;
        Err(ApiError::not_found(format!(
            "no stored messages of session {session_id:?}"
        )))
    }
}

/// Backends reached over their Unix sockets. Channels connect lazily and
/// reconnect after a daemon restarts.
pub struct GrpcBackends {
    tools: ToolsClient,
    memory: MemoryClient,
    /// memoryd's search service, on the same socket as `memory`.
    search: SearchClient,
    model: ModelClient,
    sockets: [(Daemon, PathBuf); 3],
}

impl GrpcBackends {
    /// Channels to the daemons' sockets under `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self::with_sockets(
            &paths.socket(Daemon::Toolsd),
            &paths.socket(Daemon::Memoryd),
            &paths.socket(Daemon::Gatewayd),
        )
    }

    /// Channels to explicit socket paths (tests host daemons on temp sockets).
    pub fn with_sockets(tools: &Path, memory: &Path, model: &Path) -> Self {
        GrpcBackends {
            tools: ToolsClient::new(aios_proto::connect_lazy(tools)),
            memory: MemoryClient::new(aios_proto::connect_lazy(memory)),
            search: SearchClient::new(aios_proto::connect_lazy(memory)),
            model: ModelClient::new(aios_proto::connect_lazy(model)),
            sockets: [
                (Daemon::Toolsd, tools.to_path_buf()),
                (Daemon::Memoryd, memory.to_path_buf()),
                (Daemon::Gatewayd, model.to_path_buf()),
            ],
        }
    }

    /// Name the daemon in transport failures so the user knows what is down.
    fn ctx(&self, d: Daemon) -> impl Fn(ApiError) -> ApiError + '_ {
        move |e: ApiError| {
            if e.kind != ApiErrorKind::Transport {
                return e;
            }
            ApiError::transport(format!(
                "{} is not reachable at {}: {}",
                d.name(),
                self.socket_of(d),
                e.message
            ))
        }
    }

    /// Name the daemon when its connection breaks in the middle of a stream.
    fn name_stream_errors<T: Send + 'static>(
        &self,
        d: Daemon,
        stream: BoxStream<T>,
    ) -> BoxStream<T> {
        let path = self.socket_of(d);
        stream
            .map(move |item| {
                item.map_err(|e| match e.kind {
                    ApiErrorKind::Transport => ApiError::transport(format!(
                        "{} went away in the middle of a call ({path}): {}",
                        d.name(),
                        e.message
                    )),
                    _ => e,
                })
            })
            .boxed()
    }

    fn socket_of(&self, d: Daemon) -> String {
        self.sockets
            .iter()
            .find(|(x, _)| *x == d)
            .map(|(_, p)| p.display().to_string())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Backends for GrpcBackends {
    async fn list_tools(&self) -> Result<Vec<ToolSpec>, ApiError> {
        self.tools
            .clone()
            .list()
            .await
            .map_err(self.ctx(Daemon::Toolsd))
    }

    async fn prepare_model(
        &self,
        system: String,
        tools: Vec<ModelTool>,
    ) -> Result<String, ApiError> {
        self.model
            .clone()
            .prepare(system, tools)
            .await
            .map_err(self.ctx(Daemon::Gatewayd))
    }

    async fn count_tokens(
        &self,
        provider: Option<String>,
        model: Option<String>,
        texts: Vec<String>,
    ) -> Result<TokenCounts, ApiError> {
        self.model
            .clone()
            .count_tokens(provider, model, texts, crate::working::COUNT_TIMEOUT)
            .await
            .map_err(self.ctx(Daemon::Gatewayd))
    }

    async fn complete(
        &self,
        req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        let stream = self
            .model
            .clone()
            .complete(req)
            .await
            .map_err(self.ctx(Daemon::Gatewayd))?;
        Ok(self.name_stream_errors(Daemon::Gatewayd, stream))
    }

    async fn execute(&self, req: ExecuteRequest) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let stream = self
            .tools
            .clone()
            .execute(req)
            .await
            .map_err(self.ctx(Daemon::Toolsd))?;
        Ok(self.name_stream_errors(Daemon::Toolsd, stream))
    }

    async fn pending_calls(
        &self,
        session_id: &str,
        uid: u32,
    ) -> Result<Vec<PendingCall>, ApiError> {
        self.tools
            .clone()
            .pending_calls(session_id, uid)
            .await
            .map_err(self.ctx(Daemon::Toolsd))
    }

    async fn reattach(
        &self,
        session_id: &str,
        call_id: &str,
        uid: u32,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let stream = self
            .tools
            .clone()
            .reattach(session_id, call_id, uid)
            .await
            .map_err(self.ctx(Daemon::Toolsd))?;
        Ok(self.name_stream_errors(Daemon::Toolsd, stream))
    }

    async fn put_session(&self, s: SessionInfo) -> Result<(), ApiError> {
        self.memory
            .clone()
            .put_session(s)
            .await
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn append_message(&self, m: StoredMessage) -> Result<(), ApiError> {
        self.memory
            .clone()
            .append_message(m)
            .await
            .map(|_| ())
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn record_tool_call(&self, c: StoredToolCall) -> Result<(), ApiError> {
        self.memory
            .clone()
            .record_tool_call(c)
            .await
            .map(|_| ())
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn list_sessions(&self, uid: u32) -> Result<Vec<SessionInfo>, ApiError> {
        self.memory
            .clone()
            .list_sessions(Some(uid), 100)
            .await
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn end_session(&self, session_id: &str) -> Result<(), ApiError> {
        self.tools
            .clone()
            .end_session(session_id)
            .await
            .map_err(self.ctx(Daemon::Toolsd))
    }

    async fn append_events(&self, events: Vec<Event>) -> Result<(), ApiError> {
        self.memory
            .clone()
            .append_events(events)
            .await
            .map(|_| ())
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn get_events(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<Event>, ApiError> {
        self.memory
            .clone()
            .get_events(session_id, after_seq, limit, newest)
            .await
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn get_session(&self, session_id: &str) -> Result<SessionInfo, ApiError> {
        self.memory
            .clone()
            .get_session(session_id)
            .await
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn get_messages(
        &self,
        session_id: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, ApiError> {
        self.memory
            .clone()
            .get_messages(session_id, limit)
            .await
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, ApiError> {
        self.search
            .clone()
            .query(query)
            .await
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn get_documents(
        &self,
        collection: &str,
        ids: Vec<String>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        self.search
            .clone()
            .get(collection, ids)
            .await
            .map_err(self.ctx(Daemon::Memoryd))
    }

    async fn write_documents(
        &self,
        collection: &str,
        docs: Vec<SearchDocument>,
    ) -> Result<(), ApiError> {
        self.search
            .clone()
            .write(collection, true, docs)
            .await
            .map(|_| ())
            .map_err(self.ctx(Daemon::Memoryd))
    }
}
