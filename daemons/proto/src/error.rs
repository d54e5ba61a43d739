//! The error type every service API returns, and its mapping to gRPC status.

use std::fmt;

/// Why a call failed, in terms a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// The request was malformed.
    InvalidArgument,
    /// The thing asked for does not exist.
    NotFound,
    /// The caller is not allowed to do this.
    PermissionDenied,
    /// A dependency (another daemon, a provider) is unreachable.
    Unavailable,
    /// Too many requests; try later.
    ResourceExhausted,
    /// The deadline passed.
    DeadlineExceeded,
    /// The call was cancelled.
    Cancelled,
    /// The server is in a state that does not allow this.
    FailedPrecondition,
    /// A bug or an unexpected failure.
    Internal,
    /// The peer daemon could not be reached, or the connection to it broke
    /// (as opposed to a daemon that answered with an error).
    Transport,
}

/// An error crossing a process boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ApiError {
    /// Category.
    pub kind: ApiErrorKind,
    /// Human-readable, actionable message.
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

macro_rules! ctor {
    ($($name:ident => $kind:ident),* $(,)?) => {
        impl ApiError {
            $(
                #[doc = concat!("An error of kind `", stringify!($kind), "`.")]
                pub fn $name(message: impl Into<String>) -> Self {
                    ApiError { kind: ApiErrorKind::$kind, message: message.into() }
                }
            )*
        }
    };
}

ctor! {
    invalid => InvalidArgument,
    not_found => NotFound,
    denied => PermissionDenied,
    unavailable => Unavailable,
    exhausted => ResourceExhausted,
    deadline => DeadlineExceeded,
    cancelled => Cancelled,
    precondition => FailedPrecondition,
    internal => Internal,
    transport => Transport,
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        use tonic::Code;
        let code = match e.kind {
            ApiErrorKind::InvalidArgument => Code::InvalidArgument,
            ApiErrorKind::NotFound => Code::NotFound,
            ApiErrorKind::PermissionDenied => Code::PermissionDenied,
            ApiErrorKind::Unavailable => Code::Unavailable,
            ApiErrorKind::ResourceExhausted => Code::ResourceExhausted,
            ApiErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
            ApiErrorKind::Cancelled => Code::Cancelled,
            ApiErrorKind::FailedPrecondition => Code::FailedPrecondition,
            ApiErrorKind::Internal => Code::Internal,
            ApiErrorKind::Transport => Code::Unavailable,
        };
        tonic::Status::new(code, e.message)
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        use tonic::Code;
        // Statuses synthesized from a transport failure carry the failure as
        // their source; statuses a server sent never do.
        if let Some(mut cause) = std::error::Error::source(&s) {
            while let Some(deeper) = cause.source() {
                cause = deeper;
            }
            return ApiError {
                kind: ApiErrorKind::Transport,
                message: format!("{}: {cause}", s.message()),
            };
        }
        let kind = match s.code() {
            Code::InvalidArgument | Code::OutOfRange => ApiErrorKind::InvalidArgument,
            Code::NotFound => ApiErrorKind::NotFound,
            Code::PermissionDenied | Code::Unauthenticated => ApiErrorKind::PermissionDenied,
            // A transport failure (daemon gone, socket closed) shows up as
            // Unavailable or Unknown with a transport message.
            Code::Unavailable | Code::Unknown | Code::Aborted => ApiErrorKind::Unavailable,
            Code::ResourceExhausted => ApiErrorKind::ResourceExhausted,
            Code::DeadlineExceeded => ApiErrorKind::DeadlineExceeded,
            Code::Cancelled => ApiErrorKind::Cancelled,
            Code::FailedPrecondition | Code::AlreadyExists => ApiErrorKind::FailedPrecondition,
            _ => ApiErrorKind::Internal,
        };
        ApiError {
            kind,
            message: s.message().to_string(),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::invalid(format!("invalid JSON: {e}"))
    }
}

impl From<crate::domain::Denied> for ApiError {
    fn from(e: crate::domain::Denied) -> Self {
        ApiError::denied(e.to_string())
    }
}
