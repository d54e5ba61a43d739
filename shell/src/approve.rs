//! Answering approval requests. The card is printed with the other events
//! ([`crate::render`]); this module asks the user (or applies
//! `--approve=all`) and sends the decision **straight to toolsd** on the
//! user's own connection, where the kernel vouches for who is answering.
//! aiosd only relays the question; it cannot approve.
//!
//! `a` (always) first asks toolsd for the exact `[[rule]]` it would save
//! ([`GrantShown`]) and prints it with the file it goes to; only a
//! confirmation saves it, and toolsd saves that same rule. When a
//! configured `ask` or `deny` would still decide, the user is told so and
//! offered a one-time approval instead: a saved approval never silently
//! overrides a configured rule.

use std::path::PathBuf;

use aios_proto::{ApprovalAnswer, ApprovalNeeded, Decision, PolicyQuestion, Risk, ToolsClient};
use serde_json::Value;

use crate::cli::ApproveMode;
use crate::exit::{Exit, Failure};
use crate::input::{Line, Lines};
use crate::printer::{self, say};

/// What the user typed at the approval prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// `y`: this exact call, once.
    Once,
    /// `s`: calls like it, for the rest of the session.
    Session,
    /// `a`: save a rule to the user's policy file.
    Always,
    /// `n` (optionally followed by a note for the model).
    Reject(Option<String>),
    /// `e`: edit the arguments.
    Edit,
    /// Anything else: ask again.
    Unknown,
}

/// Parse one answer line. `n because …` carries a note.
pub fn parse_choice(line: &str) -> Choice {
    let t = line.trim();
    let (head, rest) = match t.split_once(char::is_whitespace) {
        Some((h, r)) => (h, Some(r.trim()).filter(|r| !r.is_empty())),
        None => (t, None),
    };
    match head.to_ascii_lowercase().as_str() {
        "y" | "yes" => Choice::Once,
        "s" | "session" => Choice::Session,
        "a" | "always" => Choice::Always,
        "n" | "no" => Choice::Reject(rest.map(str::to_string)),
        "e" | "edit" => Choice::Edit,
        _ => Choice::Unknown,
    }
}

/// Answers approval requests for one session.
pub(crate) struct Desk {
    mode: ApproveMode,
    socket: PathBuf,
    session_id: String,
    client: Option<ToolsClient>,
}

impl Desk {
    /// A desk for `session_id`, answering toolsd at `socket`.
    pub(crate) fn new(mode: ApproveMode, socket: PathBuf, session_id: String) -> Desk {
        Desk {
            mode,
            socket,
            session_id,
            client: None,
        }
    }

    /// Decide on `a` (asking on `lines` when the mode is to ask) and send
    /// the decision to toolsd.
    pub(crate) async fn answer(
        &mut self,
        a: &ApprovalNeeded,
        lines: Option<&mut Lines>,
    ) -> Result<(), Failure> {
        let (decision, confirm) = match (self.mode, lines) {
            (ApproveMode::All, _) => {
                say(&format!(
                    "approved by --approve=all: {} (recorded in the audit ledger)",
                    a.tool
                ));
                (Decision::Approve, a.confirm.clone())
            }
            (ApproveMode::Ask, Some(lines)) => ask(self, a, lines).await?,
            _ => (
                Decision::Reject {
                    note: Some(
                        "no terminal to ask the user on; rerun interactively, with --approve=all, or add a policy rule"
                            .into(),
                    ),
                },
                None,
            ),
        };
        let answer = ApprovalAnswer {
            session_id: self.session_id.clone(),
            call_id: a.call_id.clone(),
            call_hash: a.call_hash.clone(),
            decision,
            confirm,
            automatic: self.mode == ApproveMode::All,
        };
        let automatic = answer.automatic;
        let session_id = self.session_id.clone();
        let client = self.client().await?;
        match client.approve(answer).await {
            Err(e) if automatic => {
                // E.g. --approve=all from someone who is not an
                // administrator: reject, so the call ends now instead of
                // waiting for an answer nobody will give.
                say(&format!("--approve=all was refused: {}", e.message));
                let reject = ApprovalAnswer {
                    session_id,
                    call_id: a.call_id.clone(),
                    call_hash: a.call_hash.clone(),
                    decision: Decision::Reject {
                        note: Some(format!("--approve=all was refused: {}", e.message)),
                    },
                    confirm: None,
                    automatic: false,
                };
                if let Err(e) = client.approve(reject).await {
                    say(&format!(
                        "toolsd did not accept the rejection: {}",
                        e.message
                    ));
                }
                Ok(())
            }
            Ok(ack) => {
                if let Some(rule) = ack.rule_written {
                    let mut err = printer::stderr();
                    let _ = writeln!(err, "  saved rule:");
                    for l in rule.lines() {
                        let _ = writeln!(err, "    {}", crate::sanitize::sanitize(l));
                    }
                }
                say(&ack.message);
                Ok(())
            }
            Err(e) => {
                say(&format!(
                    "toolsd did not accept the decision: {}",
                    e.message
                ));
                Ok(())
            }
        }
    }

    /// Send a decision made on the TUI's approval card (by the user, or by
    /// `--approve=all` when that is the desk's mode) straight to toolsd.
    /// Returns toolsd's message (with any rule it wrote), or why it did
    /// not accept; prints nothing, so it is safe under the TUI.
    pub(crate) async fn send(
        &mut self,
        a: &ApprovalNeeded,
        decision: Decision,
        confirm: Option<String>,
    ) -> Result<String, String> {
        let answer = ApprovalAnswer {
            session_id: self.session_id.clone(),
            call_id: a.call_id.clone(),
            call_hash: a.call_hash.clone(),
            decision,
            confirm,
            automatic: self.mode == ApproveMode::All,
        };
        let client = self.client().await.map_err(|f| f.message)?;
        let ack = client.approve(answer).await.map_err(|e| e.message)?;
        Ok(match ack.rule_written {
            Some(rule) => format!("{}\nsaved rule:\n{rule}", ack.message),
            None => ack.message,
        })
    }

    /// The exact rule an `a` (always) answer to `a` would save, as toolsd
    /// computes it (and will save it, if the user confirms).
    pub(crate) async fn grant_preview(&mut self, a: &ApprovalNeeded) -> Result<GrantShown, String> {
        let question = PolicyQuestion::GrantPreview {
            session_id: self.session_id.clone(),
            call_id: a.call_id.clone(),
            call_hash: a.call_hash.clone(),
        };
        let client = self.client().await.map_err(|e| e.message)?;
        let v = client.policy(question).await.map_err(|e| e.message)?;
        GrantShown::from_json(&v)
    }

    async fn client(&mut self) -> Result<&mut ToolsClient, Failure> {
        if self.client.is_none() {
            let channel = aios_proto::connect(&self.socket)
                .await
                .map_err(|e| Failure::daemon(format!("toolsd is not reachable to approve: {e}")))?;
            self.client = Some(ToolsClient::new(channel));
        }
        self.client
            .as_mut()
            .ok_or_else(|| Failure::new(Exit::Failed, "no toolsd client"))
    }
}

/// What "always" would save, as toolsd previewed it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantShown {
    /// The `[[rule]]` block, exactly as it would be written.
    pub rule: String,
    /// The policy file it would be appended to.
    pub file: String,
    /// Whether saving it would stop the question for calls like this.
    pub takes_effect: bool,
    /// When it would not: why (the configured rule that still asks or
    /// denies).
    pub blocked_by: Option<String>,
}

impl GrantShown {
    /// From toolsd's answer to `PolicyQuestion::GrantPreview`.
    pub fn from_json(v: &Value) -> Result<GrantShown, String> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let rule = text("rule").ok_or("toolsd sent no rule to show")?;
        Ok(GrantShown {
            rule,
            file: text("file").unwrap_or_else(|| "your policy file".into()),
            takes_effect: v.get("takes_effect").and_then(Value::as_bool) == Some(true),
            blocked_by: v
                .get("blocked_by")
                .and_then(|b| b.get("reason"))
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// What the user reads before confirming: the rule, line by line
    /// (sanitised: it holds the call's paths and names), and the file; or,
    /// when a configured rule would still decide, that nothing would be
    /// gained by saving it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.takes_effect {
            out.push_str(&format!(
                "  \"always\" appends this rule to {}:\n",
                crate::sanitize::sanitize(&self.file)
            ));
        } else {
            out.push_str(&format!(
                "  \"always\" would not stop the question, so no rule will be saved: {}\n                   (a saved approval never overrides a configured ask or deny). The rule would have been:\n",
                crate::sanitize::sanitize(
                    self.blocked_by
                        .as_deref()
                        .unwrap_or("a configured rule still decides")
                )
            ));
        }
        for line in self.rule.lines() {
            out.push_str("    ");
            out.push_str(&crate::sanitize::sanitize(line));
            out.push('\n');
        }
        out
    }
}

/// What was typed at one of the approval prompts.
enum Typed {
    Text(String),
    /// Input ended (or could not be read).
    Ended,
    /// Ctrl-C at the line editor's prompt.
    Interrupted,
}

/// Ask `prompt` and read the answer.
async fn typed(lines: &mut Lines, prompt: &str) -> Typed {
    lines.prompt_question(prompt);
    match lines.recv().await {
        Line::Text(t) => Typed::Text(t),
        Line::Eof | Line::Error(_) => Typed::Ended,
        Line::Interrupt => Typed::Interrupted,
    }
}

/// Ctrl-C at an approval prompt: the call is rejected and the turn
/// interrupted, as Ctrl-C does to a turn (the line editor reads the key
/// itself, so the shell's SIGINT handler is told).
fn interrupted() -> (Decision, Option<String>) {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT);
    (
        Decision::Reject {
            note: Some("the user pressed Ctrl-C".into()),
        },
        None,
    )
}

/// Prompt until the user gives a valid answer.
async fn ask(
    desk: &mut Desk,
    a: &ApprovalNeeded,
    lines: &mut Lines,
) -> Result<(Decision, Option<String>), Failure> {
    loop {
        let text = match typed(
            lines,
            "  allow? [y]es once · [s]ession · [a]lways · [n]o (n <note>) · [e]dit: ",
        )
        .await
        {
            Typed::Text(t) => t,
            Typed::Ended => {
                return Ok((
                    Decision::Reject {
                        note: Some("the user closed the input".into()),
                    },
                    None,
                ));
            }
            Typed::Interrupted => return Ok(interrupted()),
        };
        let decision = match parse_choice(&text) {
            Choice::Once => Decision::Approve,
            Choice::Session => Decision::Session,
            Choice::Always => {
                let shown = match desk.grant_preview(a).await {
                    Ok(s) => s,
                    Err(e) => {
                        say(&format!(
                            "cannot show the rule \"always\" would save ({e}); nothing is saved unseen: answer y, s, n or e"
                        ));
                        continue;
                    }
                };
                let _ = write!(printer::stderr(), "{}", shown.text());
                let (question, yes) = if shown.takes_effect {
                    (
                        "  save this rule and run the call? [y/N]: ",
                        Decision::Always,
                    )
                } else {
                    ("  run it once instead? [y/N]: ", Decision::Approve)
                };
                match typed(lines, question).await {
                    Typed::Text(t) if parse_choice(&t) == Choice::Once => yes,
                    Typed::Interrupted => return Ok(interrupted()),
                    _ => continue,
                }
            }
            Choice::Reject(note) => return Ok((Decision::Reject { note }, None)),
            Choice::Edit => {
                say(&format!("current arguments: {}", a.args));
                let t = match typed(lines, "  new arguments (JSON object): ").await {
                    Typed::Text(t) => t,
                    Typed::Interrupted => return Ok(interrupted()),
                    Typed::Ended => continue,
                };
                match serde_json::from_str::<Value>(t.trim()) {
                    Ok(v @ Value::Object(_)) => {
                        // The edited call is checked again by toolsd;
                        // a destructive one still needs its name typed.
                        let confirm = confirm_name(a, lines).await?;
                        return Ok((Decision::Edit { args: v }, confirm));
                    }
                    Ok(_) => {
                        say("the arguments must be a JSON object, e.g. {\"path\": \"/tmp/x\"}");
                        continue;
                    }
                    Err(e) => {
                        say(&format!("that is not valid JSON: {e}"));
                        continue;
                    }
                }
            }
            Choice::Unknown => {
                say("answer y, s, a, n or e");
                continue;
            }
        };
        let confirm = confirm_name(a, lines).await?;
        if a.confirm.is_some() && confirm != a.confirm {
            say("the name did not match; nothing was approved");
            continue;
        }
        return Ok((decision, confirm));
    }
}

/// For a destructive call, have the user type its target's name.
async fn confirm_name(a: &ApprovalNeeded, lines: &mut Lines) -> Result<Option<String>, Failure> {
    let Some(name) = &a.confirm else {
        return Ok(None);
    };
    if a.effect != Risk::Destructive && name.is_empty() {
        return Ok(None);
    }
    let question = format!(
        "  this may lose data: type {} to confirm: ",
        crate::sanitize::sanitize(name)
    );
    Ok(match typed(lines, &question).await {
        Typed::Text(t) => Some(t.trim().to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_shows_the_exact_rule_or_says_why_it_would_not_help() {
        let rule = "[[rule]]\nid = \"grant-20261202-103000\"\naction = \"allow\"\ntools = [\"service.restart\"]\nservices = [\"nginx\"]\n";
        let v = serde_json::json!({
            "rule": rule,
            "id": "grant-20261202-103000",
            "file": "/home/alice/.config/aios/policy.toml",
            "takes_effect": true,
            "blocked_by": null,
        });
        let shown = GrantShown::from_json(&v).unwrap();
        let text = shown.text();
        assert!(
            text.contains("appends this rule to /home/alice/.config/aios/policy.toml"),
            "{text}"
        );
        for line in rule.lines() {
            assert!(
                text.contains(&format!("    {line}\n")),
                "{line} missing from {text}"
            );
        }
        let blocked = GrantShown::from_json(&serde_json::json!({
            "rule": rule,
            "file": "/home/alice/.config/aios/policy.toml",
            "takes_effect": false,
            "blocked_by": {"rule": "pkgs", "reason": "the system policy rule \"pkgs\" asks before pkg.install."},
        }))
        .unwrap();
        let text = blocked.text();
        assert!(text.contains("no rule will be saved"), "{text}");
        assert!(text.contains("rule \"pkgs\" asks"), "{text}");
        assert!(GrantShown::from_json(&serde_json::json!({})).is_err());
        // Control characters in a path never reach the terminal.
        let hostile = GrantShown {
            rule: "paths = [\"/tmp/\u{1b}[2Jx\"]".into(),
            ..shown
        };
        assert!(!hostile.text().contains('\u{1b}'));
    }

    #[test]
    fn choices_parse_with_notes() {
        assert_eq!(parse_choice("y\n"), Choice::Once);
        assert_eq!(parse_choice(" S "), Choice::Session);
        assert_eq!(parse_choice("always"), Choice::Always);
        assert_eq!(parse_choice("n"), Choice::Reject(None));
        assert_eq!(
            parse_choice("n not on a friday"),
            Choice::Reject(Some("not on a friday".into()))
        );
        assert_eq!(parse_choice("e"), Choice::Edit);
        assert_eq!(parse_choice("maybe"), Choice::Unknown);
        assert_eq!(parse_choice(""), Choice::Unknown);
    }
}
