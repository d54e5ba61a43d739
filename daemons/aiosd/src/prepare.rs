//! Getting the model ready before the first turn: once toolsd and gatewayd
//! answer, the tool catalogue is sent to the gateway, whose local provider
//! has runtimed keep its prompt in the KV cache while the machine is idle.
//! Without this, the first request after an install evaluates the
//! catalogue's prompt itself, and only later requests find it kept.

use std::sync::Arc;
use std::time::Duration;

use crate::Backends;
use crate::turn::{SYSTEM_PROMPT, model_tools};

/// How long to keep trying while the other daemons start.
const GIVE_UP_AFTER: Duration = Duration::from_secs(180);

/// Send the catalogue to the gateway once toolsd and gatewayd answer;
/// retried with backoff while they start, then given up (turns work
/// anyway: the catalogue is then kept after the first request). Returns
/// what the gateway did, or why nothing was done.
pub async fn prepare_model(backends: Arc<dyn Backends>) -> String {
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_millis(250);
    loop {
        let attempt = async {
            let specs = backends.list_tools().await?;
            backends
                .prepare_model(SYSTEM_PROMPT.to_string(), model_tools(&specs))
                .await
        };
        match attempt.await {
            Ok(detail) => {
                tracing::info!(detail, "model prepared for turns");
                return detail;
            }
            Err(e) if started.elapsed() + wait > GIVE_UP_AFTER => {
                tracing::info!("not preparing the model (turns still work): {e}");
                return format!("not prepared: {e}");
            }
            Err(e) => {
                tracing::debug!("preparing the model, retrying: {e}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}
