//! The tools service (`toolsd`): list tool definitions and execute calls.

use std::sync::Arc;

use futures::StreamExt;
use tonic::transport::Channel;

use crate::convert::{
    approval_answer_in, approval_answer_out, exec_event_in, exec_event_out, exec_req_in,
    exec_req_out, json_in, json_out, opt, tool_spec_in, tool_spec_out,
};
use crate::domain::{
    ApprovalAck, ApprovalAnswer, AuditQuery, AuditQuestion, CommandRecord, ExecuteEvent,
    ExecuteRequest, PendingCall, PolicyQuestion, ToolSpec,
};
use crate::principal::principal_of;
use crate::wire;
use crate::{ApiError, BoxStream, Principal};

/// What `toolsd` implements.
#[tonic::async_trait]
pub trait ToolsApi: Send + Sync + 'static {
    /// Tool definitions visible to `who`.
    async fn list(&self, who: Principal) -> Result<Vec<ToolSpec>, ApiError>;
    /// Run one call, streaming output and ending with [`ExecuteEvent::End`].
    async fn execute(
        &self,
        who: Principal,
        req: ExecuteRequest,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError>;
    /// A human's decision on a waiting call; `who` must be the session's
    /// user, never the orchestrator.
    async fn approve(
        &self,
        who: Principal,
        answer: ApprovalAnswer,
    ) -> Result<ApprovalAck, ApiError>;
    /// The orchestrator ends a session: its approvals and grants expire.
    async fn end_session(&self, who: Principal, session_id: String) -> Result<(), ApiError>;
    /// Ask the audit ledger; the answer is records or a verify report as JSON.
    async fn audit(&self, who: Principal, q: AuditQuestion) -> Result<serde_json::Value, ApiError>;
    /// Ask the policy; the answer is an explanation or grants as JSON.
    async fn policy(
        &self,
        who: Principal,
        q: PolicyQuestion,
    ) -> Result<serde_json::Value, ApiError>;
    /// The calls of `session_id` acting for `on_behalf_of_uid` (0: the
    /// caller) that still wait for an approval after their stream closed.
    /// The default keeps none.
    async fn pending_calls(
        &self,
        who: Principal,
        session_id: String,
        on_behalf_of_uid: u32,
    ) -> Result<Vec<PendingCall>, ApiError> {
        let _ = (who, session_id, on_behalf_of_uid);
        Ok(Vec::new())
    }
    /// Follow a kept call again: its approval request, then its output and
    /// its end. The default keeps none.
    async fn reattach(
        &self,
        who: Principal,
        session_id: String,
        call_id: String,
        on_behalf_of_uid: u32,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let _ = (who, on_behalf_of_uid);
        Err(ApiError::not_found(format!(
            "no call {call_id} of session {session_id} is kept by this executor"
        )))
    }
    /// Record a login shell's command (`aios -c`) for `who` (its uid from
    /// the kernel); the id of the entry written. The default records
    /// nothing.
    async fn record_command(&self, who: Principal, r: CommandRecord) -> Result<u64, ApiError> {
        let _ = (who, r);
        Err(ApiError::unavailable(
            "this executor does not record shell commands",
        ))
    }
}

pub(crate) struct Adapter(pub(crate) Arc<dyn ToolsApi>);

#[tonic::async_trait]
impl wire::tools_server::Tools for Adapter {
    async fn list(
        &self,
        req: tonic::Request<wire::ListToolsRequest>,
    ) -> Result<tonic::Response<wire::ListToolsReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let tools = self.0.list(who).await?;
        Ok(tonic::Response::new(wire::ListToolsReply {
            tools: tools.into_iter().map(tool_spec_out).collect(),
        }))
    }

    type ExecuteStream = BoxStream<wire::ExecuteEvent, tonic::Status>;

    async fn execute(
        &self,
        req: tonic::Request<wire::ExecuteRequest>,
    ) -> Result<tonic::Response<Self::ExecuteStream>, tonic::Status> {
        let who = principal_of(&req)?;
        let r = exec_req_in(req.into_inner())?;
        let events = self.0.execute(who, r).await?;
        Ok(tonic::Response::new(
            events
                .map(|r| r.map(exec_event_out).map_err(tonic::Status::from))
                .boxed(),
        ))
    }

    async fn approve(
        &self,
        req: tonic::Request<wire::ApprovalAnswer>,
    ) -> Result<tonic::Response<wire::ApprovalAck>, tonic::Status> {
        let who = principal_of(&req)?;
        let answer = approval_answer_in(req.into_inner())?;
        let ack = self.0.approve(who, answer).await?;
        Ok(tonic::Response::new(wire::ApprovalAck {
            rule_written: ack.rule_written.unwrap_or_default(),
            message: ack.message,
        }))
    }

    async fn end_session(
        &self,
        req: tonic::Request<wire::EndSessionRequest>,
    ) -> Result<tonic::Response<wire::EndSessionReply>, tonic::Status> {
        let who = principal_of(&req)?;
        self.0.end_session(who, req.into_inner().session_id).await?;
        Ok(tonic::Response::new(wire::EndSessionReply {}))
    }

    async fn audit(
        &self,
        req: tonic::Request<wire::AuditRequest>,
    ) -> Result<tonic::Response<wire::AuditReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let q = audit_question_in(req.into_inner())?;
        let v = self.0.audit(who, q).await?;
        Ok(tonic::Response::new(wire::AuditReply {
            json: v.to_string(),
        }))
    }

    async fn policy(
        &self,
        req: tonic::Request<wire::PolicyRequest>,
    ) -> Result<tonic::Response<wire::PolicyReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let q = policy_question_in(req.into_inner())?;
        let v = self.0.policy(who, q).await?;
        Ok(tonic::Response::new(wire::PolicyReply {
            json: v.to_string(),
        }))
    }

    async fn pending_calls(
        &self,
        req: tonic::Request<wire::PendingCallsRequest>,
    ) -> Result<tonic::Response<wire::PendingCallsReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let calls = self
            .0
            .pending_calls(who, r.session_id, r.on_behalf_of_uid)
            .await?;
        Ok(tonic::Response::new(wire::PendingCallsReply {
            calls: calls
                .into_iter()
                .map(|c| wire::PendingCall {
                    call_id: c.call_id,
                    tool: c.tool,
                    call_hash: c.call_hash,
                    expires_unix_ms: c.expires_unix_ms,
                })
                .collect(),
        }))
    }

    type ReattachStream = BoxStream<wire::ExecuteEvent, tonic::Status>;

    async fn reattach(
        &self,
        req: tonic::Request<wire::ReattachRequest>,
    ) -> Result<tonic::Response<Self::ReattachStream>, tonic::Status> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let events = self
            .0
            .reattach(who, r.session_id, r.call_id, r.on_behalf_of_uid)
            .await?;
        Ok(tonic::Response::new(
            events
                .map(|r| r.map(exec_event_out).map_err(tonic::Status::from))
                .boxed(),
        ))
    }

    async fn record_command(
        &self,
        req: tonic::Request<wire::RecordCommandRequest>,
    ) -> Result<tonic::Response<wire::RecordCommandReply>, tonic::Status> {
        let who = principal_of(&req)?;
        let r = command_record_in(req.into_inner())?;
        let id = self.0.record_command(who, r).await?;
        Ok(tonic::Response::new(wire::RecordCommandReply { id }))
    }
}

fn command_record_in(r: wire::RecordCommandRequest) -> Result<CommandRecord, ApiError> {
    use wire::record_command_request::Kind as K;
    Ok(
        match r
            .kind
            .ok_or_else(|| ApiError::invalid("record request without an intent or outcome"))?
        {
            K::Intent(i) => CommandRecord::Intent {
                command: i.command,
                cwd: i.cwd,
                login: i.login,
            },
            K::Outcome(o) => CommandRecord::Outcome {
                intent_id: o.intent_id,
                exit_code: o.exited.then_some(o.exit_code),
                signal: (!o.exited).then_some(o.signal),
                duration_us: o.duration_us,
            },
        },
    )
}

fn command_record_out(r: CommandRecord) -> wire::RecordCommandRequest {
    use wire::record_command_request::Kind as K;
    let kind = match r {
        CommandRecord::Intent {
            command,
            cwd,
            login,
        } => K::Intent(wire::CommandIntent {
            command,
            cwd,
            login,
        }),
        CommandRecord::Outcome {
            intent_id,
            exit_code,
            signal,
            duration_us,
        } => K::Outcome(wire::CommandOutcome {
            intent_id,
            exited: exit_code.is_some(),
            exit_code: exit_code.unwrap_or(0),
            signal: signal.unwrap_or(0),
            duration_us,
        }),
    };
    wire::RecordCommandRequest { kind: Some(kind) }
}

fn audit_question_in(r: wire::AuditRequest) -> Result<AuditQuestion, ApiError> {
    use wire::audit_request::Kind as K;
    Ok(
        match r
            .kind
            .ok_or_else(|| ApiError::invalid("audit request without a question"))?
        {
            K::Log(q) => AuditQuestion::Log(AuditQuery {
                since_unix_ms: (q.since_unix_ms != 0).then_some(q.since_unix_ms),
                tool: opt(q.tool),
                user: opt(q.user),
                session_id: opt(q.session_id),
                limit: q.limit,
            }),
            K::Why(id) => AuditQuestion::Why(id),
            K::Verify(_) => AuditQuestion::Verify,
            K::Checkpoint(_) => AuditQuestion::Checkpoint,
            K::VerifyAgainst(text) => AuditQuestion::VerifyAgainst(text),
        },
    )
}

fn audit_question_out(q: AuditQuestion) -> wire::AuditRequest {
    use wire::audit_request::Kind as K;
    let kind = match q {
        AuditQuestion::Log(q) => K::Log(wire::AuditQuery {
            since_unix_ms: q.since_unix_ms.unwrap_or(0),
            tool: q.tool.unwrap_or_default(),
            user: q.user.unwrap_or_default(),
            session_id: q.session_id.unwrap_or_default(),
            limit: q.limit,
        }),
        AuditQuestion::Why(id) => K::Why(id),
        AuditQuestion::Verify => K::Verify(wire::AuditVerify {}),
        AuditQuestion::Checkpoint => K::Checkpoint(wire::AuditCheckpoint {}),
        AuditQuestion::VerifyAgainst(text) => K::VerifyAgainst(text),
    };
    wire::AuditRequest { kind: Some(kind) }
}

fn policy_question_in(r: wire::PolicyRequest) -> Result<PolicyQuestion, ApiError> {
    use wire::policy_request::Kind as K;
    Ok(
        match r
            .kind
            .ok_or_else(|| ApiError::invalid("policy request without a question"))?
        {
            K::Check(c) => PolicyQuestion::Check {
                tool: c.tool,
                args: json_in(&c.args_json)?,
                session_kind: (c.session_kind != 0)
                    .then(|| crate::convert::session_kind_in(c.session_kind)),
            },
            K::Grants(_) => PolicyQuestion::Grants,
            K::Revoke(id) => PolicyQuestion::Revoke(id),
            K::Status(_) => PolicyQuestion::Status,
            K::GrantPreview(g) => PolicyQuestion::GrantPreview {
                session_id: g.session_id,
                call_id: g.call_id,
                call_hash: g.call_hash,
            },
        },
    )
}

fn policy_question_out(q: PolicyQuestion) -> wire::PolicyRequest {
    use wire::policy_request::Kind as K;
    let kind = match q {
        PolicyQuestion::Check {
            tool,
            args,
            session_kind,
        } => K::Check(wire::PolicyCheck {
            tool,
            args_json: json_out(&args),
            session_kind: session_kind.map_or(0, crate::convert::session_kind_out),
        }),
        PolicyQuestion::Grants => K::Grants(wire::ListGrants {}),
        PolicyQuestion::Revoke(id) => K::Revoke(id),
        PolicyQuestion::Status => K::Status(wire::ExecutorStatus {}),
        PolicyQuestion::GrantPreview {
            session_id,
            call_id,
            call_hash,
        } => K::GrantPreview(wire::GrantPreview {
            session_id,
            call_id,
            call_hash,
        }),
    };
    wire::PolicyRequest { kind: Some(kind) }
}

/// Client of the tools service.
#[derive(Clone)]
pub struct ToolsClient {
    inner: wire::tools_client::ToolsClient<Channel>,
}

impl ToolsClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        ToolsClient {
            inner: wire::tools_client::ToolsClient::new(channel)
                .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::MAX_MESSAGE_BYTES),
        }
    }

    /// List tool definitions.
    pub async fn list(&mut self) -> Result<Vec<ToolSpec>, ApiError> {
        let r = self
            .inner
            .list(crate::unary(wire::ListToolsRequest {}))
            .await?
            .into_inner();
        r.tools.into_iter().map(tool_spec_in).collect()
    }

    /// Execute one call. The caller bounds the whole stream's duration.
    pub async fn execute(
        &mut self,
        req: ExecuteRequest,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let r = self
            .inner
            .execute(tonic::Request::new(exec_req_out(req)))
            .await?
            .into_inner();
        Ok(r.map(|r| r.map_err(ApiError::from).and_then(exec_event_in))
            .boxed())
    }

    /// Send a human's decision on a waiting call.
    pub async fn approve(&mut self, answer: ApprovalAnswer) -> Result<ApprovalAck, ApiError> {
        let r = self
            .inner
            .approve(crate::unary(approval_answer_out(answer)))
            .await?
            .into_inner();
        Ok(ApprovalAck {
            rule_written: opt(r.rule_written),
            message: r.message,
        })
    }

    /// End a session (orchestrator only).
    pub async fn end_session(&mut self, session_id: &str) -> Result<(), ApiError> {
        self.inner
            .end_session(crate::unary(wire::EndSessionRequest {
                session_id: session_id.to_string(),
            }))
            .await?;
        Ok(())
    }

    /// Record a login shell's command (`aios -c`): the id of the entry
    /// written.
    pub async fn record_command(&mut self, r: CommandRecord) -> Result<u64, ApiError> {
        let reply = self
            .inner
            .record_command(crate::unary(command_record_out(r)))
            .await?
            .into_inner();
        Ok(reply.id)
    }

    /// Ask the audit ledger.
    pub async fn audit(&mut self, q: AuditQuestion) -> Result<serde_json::Value, ApiError> {
        let r = self
            .inner
            .audit(crate::unary(audit_question_out(q)))
            .await?
            .into_inner();
        json_in(&r.json)
    }

    /// The calls of a session, acting for `on_behalf_of_uid` (0: the
    /// caller), that toolsd kept waiting for an approval.
    pub async fn pending_calls(
        &mut self,
        session_id: &str,
        on_behalf_of_uid: u32,
    ) -> Result<Vec<PendingCall>, ApiError> {
        let r = self
            .inner
            .pending_calls(crate::unary(wire::PendingCallsRequest {
                session_id: session_id.to_string(),
                on_behalf_of_uid,
            }))
            .await?
            .into_inner();
        Ok(r.calls
            .into_iter()
            .map(|c| PendingCall {
                call_id: c.call_id,
                tool: c.tool,
                call_hash: c.call_hash,
                expires_unix_ms: c.expires_unix_ms,
            })
            .collect())
    }

    /// Follow a kept call again. The caller bounds the stream's duration.
    pub async fn reattach(
        &mut self,
        session_id: &str,
        call_id: &str,
        on_behalf_of_uid: u32,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let r = self
            .inner
            .reattach(tonic::Request::new(wire::ReattachRequest {
                session_id: session_id.to_string(),
                call_id: call_id.to_string(),
                on_behalf_of_uid,
            }))
            .await?
            .into_inner();
        Ok(r.map(|r| r.map_err(ApiError::from).and_then(exec_event_in))
            .boxed())
    }

    /// Ask the policy.
    pub async fn policy(&mut self, q: PolicyQuestion) -> Result<serde_json::Value, ApiError> {
        let r = self
            .inner
            .policy(crate::unary(policy_question_out(q)))
            .await?
            .into_inner();
        json_in(&r.json)
    }
}
