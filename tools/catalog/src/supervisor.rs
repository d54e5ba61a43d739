//! The service manager as the `service.*` tools see it: a narrow trait the
//! executor implements over its transport (aiOS `initd`'s control API), so
//! this crate asks about services without knowing gRPC or sockets.

use futures::future::BoxFuture;

use aios_domain::ServiceState;

/// Asks aiOS's supervisor about services.
pub trait Supervisor: Send + Sync + std::fmt::Debug {
    /// The state of `name`. `Ok(None)` when no supervisor answers or it does
    /// not manage that service (another manager may know it); `Err` is a
    /// supervisor that answered with a failure, in words for the user.
    fn status<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ServiceState>, String>>;
}
