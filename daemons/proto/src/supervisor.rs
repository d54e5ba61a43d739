//! The supervisor control API (`initd`): service lifecycle, logs, power.

use std::sync::Arc;

use tonic::transport::Channel;

use crate::convert::{service_state_in, service_state_out};
use crate::domain::{PowerAction, ServiceState};
use crate::principal::principal_of;
use crate::wire;
use crate::{ApiError, Principal};

/// A lifecycle verb on one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceVerb {
    /// Current state only.
    Status,
    /// Start it.
    Start,
    /// Stop it.
    Stop,
    /// Stop then start.
    Restart,
    /// Start at boot.
    Enable,
    /// Do not start at boot.
    Disable,
}

/// What the supervisor implements.
#[tonic::async_trait]
pub trait SupervisorApi: Send + Sync + 'static {
    /// All services.
    async fn list(&self, who: Principal) -> Result<Vec<ServiceState>, ApiError>;
    /// Apply a verb to one service and return its state after.
    async fn act(
        &self,
        who: Principal,
        name: String,
        verb: ServiceVerb,
    ) -> Result<ServiceState, ApiError>;
    /// The last `tail` lines of a service's captured log.
    async fn logs(&self, who: Principal, name: String, tail: u32) -> Result<Vec<String>, ApiError>;
    /// Power off or reboot the machine (or end a user-mode supervisor).
    async fn power(&self, who: Principal, action: PowerAction) -> Result<(), ApiError>;
}

pub(crate) struct Adapter(pub(crate) Arc<dyn SupervisorApi>);

type Resp<T> = Result<tonic::Response<T>, tonic::Status>;

impl Adapter {
    async fn verb(
        &self,
        req: tonic::Request<wire::ServiceName>,
        verb: ServiceVerb,
    ) -> Resp<wire::ServiceState> {
        let who = principal_of(&req)?;
        let s = self.0.act(who, req.into_inner().name, verb).await?;
        Ok(tonic::Response::new(service_state_out(s)))
    }
}

#[tonic::async_trait]
impl wire::supervisor_server::Supervisor for Adapter {
    async fn list(
        &self,
        req: tonic::Request<wire::ServiceListRequest>,
    ) -> Resp<wire::ServiceListReply> {
        let who = principal_of(&req)?;
        let list = self.0.list(who).await?;
        Ok(tonic::Response::new(wire::ServiceListReply {
            services: list.into_iter().map(service_state_out).collect(),
        }))
    }
    async fn status(&self, req: tonic::Request<wire::ServiceName>) -> Resp<wire::ServiceState> {
        self.verb(req, ServiceVerb::Status).await
    }
    async fn start(&self, req: tonic::Request<wire::ServiceName>) -> Resp<wire::ServiceState> {
        self.verb(req, ServiceVerb::Start).await
    }
    async fn stop(&self, req: tonic::Request<wire::ServiceName>) -> Resp<wire::ServiceState> {
        self.verb(req, ServiceVerb::Stop).await
    }
    async fn restart(&self, req: tonic::Request<wire::ServiceName>) -> Resp<wire::ServiceState> {
        self.verb(req, ServiceVerb::Restart).await
    }
    async fn enable(&self, req: tonic::Request<wire::ServiceName>) -> Resp<wire::ServiceState> {
        self.verb(req, ServiceVerb::Enable).await
    }
    async fn disable(&self, req: tonic::Request<wire::ServiceName>) -> Resp<wire::ServiceState> {
        self.verb(req, ServiceVerb::Disable).await
    }
    async fn logs(&self, req: tonic::Request<wire::LogsRequest>) -> Resp<wire::LogsReply> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let lines = self.0.logs(who, r.name, r.tail_lines).await?;
        Ok(tonic::Response::new(wire::LogsReply { lines }))
    }
    async fn power(&self, req: tonic::Request<wire::PowerRequest>) -> Resp<wire::PowerReply> {
        let who = principal_of(&req)?;
        let action = match wire::PowerAction::try_from(req.get_ref().action) {
            Ok(wire::PowerAction::Poweroff) => PowerAction::Poweroff,
            Ok(wire::PowerAction::Reboot) => PowerAction::Reboot,
            _ => return Err(tonic::Status::invalid_argument("unknown power action")),
        };
        self.0.power(who, action).await?;
        Ok(tonic::Response::new(wire::PowerReply {}))
    }
}

/// Client of the supervisor control API.
#[derive(Clone)]
pub struct SupervisorClient {
    inner: wire::supervisor_client::SupervisorClient<Channel>,
}

impl SupervisorClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        SupervisorClient {
            inner: wire::supervisor_client::SupervisorClient::new(channel),
        }
    }

    /// All services.
    pub async fn list(&mut self) -> Result<Vec<ServiceState>, ApiError> {
        let r = self
            .inner
            .list(crate::unary(wire::ServiceListRequest {}))
            .await?;
        Ok(r.into_inner()
            .services
            .into_iter()
            .map(service_state_in)
            .collect())
    }

    /// Apply a verb to one service.
    pub async fn act(&mut self, name: &str, verb: ServiceVerb) -> Result<ServiceState, ApiError> {
        // Stop and restart wait for grace periods; allow for them.
        let mut req = tonic::Request::new(wire::ServiceName {
            name: name.to_string(),
        });
        req.set_timeout(std::time::Duration::from_secs(60));
        let r = match verb {
            ServiceVerb::Status => self.inner.status(req).await?,
            ServiceVerb::Start => self.inner.start(req).await?,
            ServiceVerb::Stop => self.inner.stop(req).await?,
            ServiceVerb::Restart => self.inner.restart(req).await?,
            ServiceVerb::Enable => self.inner.enable(req).await?,
            ServiceVerb::Disable => self.inner.disable(req).await?,
        };
        Ok(service_state_in(r.into_inner()))
    }

    /// Tail of a service's log.
    pub async fn logs(&mut self, name: &str, tail: u32) -> Result<Vec<String>, ApiError> {
        let r = self
            .inner
            .logs(crate::unary(wire::LogsRequest {
                name: name.to_string(),
                tail_lines: tail,
            }))
            .await?;
        Ok(r.into_inner().lines)
    }

    /// Power off or reboot.
    pub async fn power(&mut self, action: PowerAction) -> Result<(), ApiError> {
        let action = match action {
            PowerAction::Poweroff => wire::PowerAction::Poweroff,
            PowerAction::Reboot => wire::PowerAction::Reboot,
        } as i32;
        self.inner
            .power(crate::unary(wire::PowerRequest { action }))
            .await?;
        Ok(())
    }
}
