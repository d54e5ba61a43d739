//! Serving a daemon's set of services on one Unix socket.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UnixListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;

use crate::health::Health;
use crate::memory::MemoryApi;
use crate::model::ModelApi;
use crate::principal::PeerStream;
use crate::runtime::RuntimeApi;
use crate::search::SearchApi;
use crate::session::SessionApi;
use crate::supervisor::SupervisorApi;
use crate::tools::ToolsApi;
use crate::transport::{TransportError, error_chain};
use crate::{MAX_MESSAGE_BYTES, wire};

/// The services one daemon offers; health is always included.
pub struct Services {
    daemon: &'static str,
    session: Option<Arc<dyn SessionApi>>,
    tools: Option<Arc<dyn ToolsApi>>,
    memory: Option<Arc<dyn MemoryApi>>,
    search: Option<Arc<dyn SearchApi>>,
    model: Option<Arc<dyn ModelApi>>,
    runtime: Option<Arc<dyn RuntimeApi>>,
    supervisor: Option<Arc<dyn SupervisorApi>>,
}

impl Services {
    /// Start a set for the daemon called `daemon`.
    pub fn new(daemon: &'static str) -> Self {
        Services {
            daemon,
            session: None,
            tools: None,
            memory: None,
            search: None,
            model: None,
            runtime: None,
            supervisor: None,
        }
    }

    /// Add the session service.
    pub fn session(mut self, api: Arc<dyn SessionApi>) -> Self {
        self.session = Some(api);
        self
    }

    /// Add the tools service.
    pub fn tools(mut self, api: Arc<dyn ToolsApi>) -> Self {
        self.tools = Some(api);
        self
    }

    /// Add the memory service.
    pub fn memory(mut self, api: Arc<dyn MemoryApi>) -> Self {
        self.memory = Some(api);
        self
    }

    /// Add the search service.
    pub fn search(mut self, api: Arc<dyn SearchApi>) -> Self {
        self.search = Some(api);
        self
    }

    /// Add the model service.
    pub fn model(mut self, api: Arc<dyn ModelApi>) -> Self {
        self.model = Some(api);
        self
    }

    /// Add the runtime service.
    pub fn runtime(mut self, api: Arc<dyn RuntimeApi>) -> Self {
        self.runtime = Some(api);
        self
    }

    /// Add the supervisor service.
    pub fn supervisor(mut self, api: Arc<dyn SupervisorApi>) -> Self {
        self.supervisor = Some(api);
        self
    }

    /// Serve on `listener` until `shutdown` resolves. Each connection's
    /// peer credentials and groups are read once, when it is accepted; every
    /// request on it carries the resulting [`crate::Principal`].
    pub async fn serve(
        self,
        listener: UnixListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), TransportError> {
        macro_rules! svc {
            ($opt:expr, $m:ident :: $server:ident, $adapter:path) => {
                $opt.map(|api| {
                    wire::$m::$server::new($adapter(api))
                        .max_decoding_message_size(MAX_MESSAGE_BYTES)
                        .max_encoding_message_size(MAX_MESSAGE_BYTES)
                })
            };
        }
        let health = wire::health_server::HealthServer::new(Health {
            daemon: self.daemon,
            started: Instant::now(),
        });
        let router = tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(health)
            .add_optional_service(svc!(
                self.session,
                session_server::SessionServer,
                crate::session::Adapter
            ))
            .add_optional_service(svc!(
                self.tools,
                tools_server::ToolsServer,
                crate::tools::Adapter
            ))
            .add_optional_service(svc!(
                self.memory,
                memory_server::MemoryServer,
                crate::memory::Adapter
            ))
            .add_optional_service(svc!(
                self.search,
                search_server::SearchServer,
                crate::search::Adapter
            ))
            .add_optional_service(svc!(
                self.model,
                model_server::ModelServer,
                crate::model::Adapter
            ))
            .add_optional_service(svc!(
                self.runtime,
                runtime_server::RuntimeServer,
                crate::runtime::Adapter
            ))
            .add_optional_service(svc!(
                self.supervisor,
                supervisor_server::SupervisorServer,
                crate::supervisor::Adapter
            ));
        router
            .serve_with_incoming_shutdown(
                UnixListenerStream::new(listener).map(|conn| conn.map(PeerStream::new)),
                shutdown,
            )
            .await
            .map_err(|e| TransportError::Serve(error_chain(&e)))
    }
}
