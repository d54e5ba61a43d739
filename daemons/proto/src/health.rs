//! The health service every daemon serves, and its client.

use std::time::Instant;

use tonic::transport::Channel;

use crate::ApiError;
use crate::domain::PingReply;
use crate::principal::principal_of;
use crate::wire;

pub(crate) struct Health {
    pub(crate) daemon: &'static str,
    pub(crate) started: Instant,
}

#[tonic::async_trait]
impl wire::health_server::Health for Health {
    async fn ping(
        &self,
        req: tonic::Request<wire::PingRequest>,
    ) -> Result<tonic::Response<wire::PingReply>, tonic::Status> {
        let who = principal_of(&req)?;
        Ok(tonic::Response::new(wire::PingReply {
            daemon: self.daemon.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            caller_uid: who.uid,
            caller_admin: who.admin,
        }))
    }
}

/// Client of any daemon's health service.
#[derive(Clone)]
pub struct HealthClient {
    inner: wire::health_client::HealthClient<Channel>,
}

impl HealthClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        HealthClient {
            inner: wire::health_client::HealthClient::new(channel),
        }
    }

    /// Ask the daemon who it is.
    pub async fn ping(&mut self) -> Result<PingReply, ApiError> {
        let mut req = tonic::Request::new(wire::PingRequest {});
        req.set_timeout(std::time::Duration::from_secs(3));
        let r = self.inner.ping(req).await?.into_inner();
        Ok(PingReply {
            daemon: r.daemon,
            version: r.version,
            pid: r.pid,
            uptime_ms: r.uptime_ms,
            caller_uid: r.caller_uid,
            caller_admin: r.caller_admin,
        })
    }
}
