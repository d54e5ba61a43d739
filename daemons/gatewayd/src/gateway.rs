//! The [`Gateway`]: every provider instance built from the configuration,
//! routing of requests along the fallback chain (with circuit breakers and
//! budgets), cost accounting, and the [`ModelApi`] the daemon serves.
//!
//! Fallback happens only before any output reached the user: a failure
//! before the first event of a stream moves to the next instance; a
//! failure after it is final. The `usage` event says which instance and
//! model answered and why (the route reason), what the call cost and what
//! the session and the day have spent.
//!
//! Rights: anyone local may list providers (`aios doctor`); only another
//! aiOS daemon (same uid) or root may ask for completions, since they
//! spend the owner's API budget.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aios_config::{Config, Instance, ProviderKind, Settings};
use aios_proto::{
    ApiError, ApiErrorKind, BoxStream, CompletionEvent, CompletionRequest, ModelApi, ModelTool,
    Principal, ProviderStatus, Right, TokenCounts,
};
use futures::StreamExt;

use crate::anthropic::AnthropicProvider;
use crate::breaker::{Breaker, BreakerState};
use crate::error::{GatewayError, ProviderError};
use crate::local::LocalProvider;
use crate::names::intern;
use crate::openai::OpenAiProvider;
use crate::provider::Provider;
use crate::route::{self, RouteInput};
use crate::scripted::ScriptedProvider;
use crate::spend::{self, Budget, Charge, Spend};

/// API keys handed to the cloud providers: `Ok(None)` when there is none,
/// `Err(why)` when the key file could not be used.
pub type KeyResult = Result<Option<String>, String>;

/// One registered instance.
struct Entry {
    provider: Arc<dyn Provider>,
    /// `None` for providers registered directly ([`Gateway::with_providers`]).
    instance: Option<Instance>,
}

/// What requests share: breakers and spending.
struct State {
    breakers: HashMap<&'static str, Breaker>,
    spend: Spend,
}

/// The model gateway.
pub struct Gateway {
    providers: BTreeMap<&'static str, Entry>,
    default: String,
    default_model: Option<String>,
    fallback: Vec<String>,
    budget: Budget,
    budget_target: String,
    /// Prices (`[prices]`) and kinds' rules; the default when built from
    /// explicit providers.
    config: Config,
    breaker_failures: u32,
    breaker_cooldown: Duration,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // State stays consistent across a panic (each update is one step).
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Gateway {
    /// Build every instance from `config`, reading each one's API key from
    /// its variable (`api_key_env`, or the kind's) or the key file
    /// (`~/.config/aios/keys.toml`, under the instance name, then the kind
    /// name). This is the only place keys are read. Day totals of spending
    /// are kept in the state directory.
    pub fn from_config(config: &Config) -> Result<Gateway, GatewayError> {
        let file = aios_config::keys::default_key_file();
        let gateway = Gateway::with_key_lookup(config, |i| {
            let mut entries = vec![i.name.as_str()];
            if matches!(i.kind, ProviderKind::Openai | ProviderKind::Anthropic) {
                entries.push(i.kind.as_str());
            }
            aios_config::keys::instance_key(&entries, i.key_env.as_deref(), file.as_deref())
                .map_err(|e| e.to_string())
        })?;
        let dir = aios_config::Paths::resolve(config).gateway_state();
        Ok(gateway.with_spend_file(&dir.join("spend.json")))
    }

    /// Build every instance from `config` with explicit keys for the
    /// `openai` and `anthropic` kinds (tests and in-process use; nothing is
    /// read from the environment). Spending is kept in memory.
    pub fn with_keys(
        config: &Config,
        openai: KeyResult,
        anthropic: KeyResult,
    ) -> Result<Gateway, GatewayError> {
        Gateway::with_key_lookup(config, |i| match i.kind {
            ProviderKind::Openai => openai.clone(),
            ProviderKind::Anthropic => anthropic.clone(),
            _ => Ok(None),
        })
    }

    /// Build every instance from `config`, asking `key` for each one's key.
    pub fn with_key_lookup(
        config: &Config,
        key: impl Fn(&Instance) -> KeyResult,
    ) -> Result<Gateway, GatewayError> {
        let instances = config.instances().map_err(|e| GatewayError::Config {
            detail: e.to_string(),
        })?;
        let mut providers = BTreeMap::new();
        for inst in instances {
            let name = intern(&inst.name);
            let provider: Arc<dyn Provider> = match &inst.settings {
                Settings::OpenAi(c) => {
                    let k = key(&inst);
                    if let Err(why) = &k {
                        tracing::warn!(provider = name, "API key unusable: {why}");
                    }
                    Arc::new(OpenAiProvider::new(c, k)?.named(name, key_env(&inst)))
                }
                Settings::Anthropic(c) => {
                    let k = key(&inst);
                    if let Err(why) = &k {
                        tracing::warn!(provider = name, "API key unusable: {why}");
                    }
                    Arc::new(AnthropicProvider::new(c, k)?.named(name, key_env(&inst)))
                }
                Settings::Local(c) => Arc::new(LocalProvider::new(c).with_socket(
                    aios_config::Paths::resolve(config).socket(aios_config::Daemon::Runtimed),
                )),
                Settings::Scripted(c) => Arc::new(ScriptedProvider::from_config(c)),
            };
            providers.insert(
                name,
                Entry {
                    provider,
                    instance: Some(inst),
                },
            );
        }
        let mut g = Gateway::empty(config.clone());
        g.providers = providers;
        g.default = config.model.provider.clone();
        g.default_model = config.model.model.clone();
        g.fallback = config.model.fallback.clone();
        g.budget = Budget {
            session_usd: config.budget.session_usd,
            day_usd: config.budget.day_usd,
        };
        g.budget_target = config.budget.fallback.clone();
        g.breaker_failures = config.model.breaker_failures;
        g.breaker_cooldown = Duration::from_secs(config.model.breaker_cooldown_secs);
        Ok(g)
    }

    fn empty(config: Config) -> Gateway {
        Gateway {
            providers: BTreeMap::new(),
            default: String::new(),
            default_model: None,
            fallback: Vec::new(),
            budget: Budget::default(),
            budget_target: config.budget.fallback.clone(),
            breaker_failures: config.model.breaker_failures,
            breaker_cooldown: Duration::from_secs(config.model.breaker_cooldown_secs),
            config,
            state: Arc::new(Mutex::new(State {
                breakers: HashMap::new(),
                spend: Spend::in_memory(&spend::today()),
            })),
        }
    }

    /// A gateway over an explicit set of providers. `default` names the
    /// provider used when a request names none; `default_model` overrides
    /// that provider's own default model. No fallback, no prices.
    pub fn with_providers(
        default: impl Into<String>,
        default_model: Option<String>,
        providers: Vec<Arc<dyn Provider>>,
    ) -> Gateway {
        let mut g = Gateway::empty(Config::default());
        g.providers = providers
            .into_iter()
            .map(|p| {
                (
                    p.name(),
                    Entry {
                        provider: p,
                        instance: None,
                    },
                )
            })
            .collect();
        g.default = default.into();
        g.default_model = default_model;
        g
    }

    /// Keep the day's spending in `file` (read now, rewritten after each
    /// call), so budgets survive a restart.
    pub fn with_spend_file(self, file: &Path) -> Gateway {
        *lock(&self.state) = State {
            breakers: HashMap::new(),
            spend: Spend::open(file, &spend::today()),
        };
        self
    }

    /// Names of the registered instances, sorted.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers.keys().copied().collect()
    }

    fn entry(&self, name: &str) -> Result<(&'static str, &Entry), ApiError> {
        self.providers
            .get_key_value(name)
            .map(|(k, e)| (*k, e))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "unknown provider {name:?}; valid providers are: {}",
                    self.provider_names().join(", ")
                ))
            })
    }

    /// The provider a request names (`None` or empty: the default).
    pub fn route(&self, name: Option<&str>) -> Result<&Arc<dyn Provider>, ApiError> {
        let name = name.filter(|n| !n.is_empty()).unwrap_or(&self.default);
        self.entry(name).map(|(_, e)| &e.provider)
    }

    /// The model a request uses on instance `name`: the request's (only on
    /// the instance it named or defaulted to), else the configured
    /// override (default instance only), else the instance's default.
    fn model_for(&self, name: &str, provider: &dyn Provider, requested: Option<&str>) -> String {
        if let Some(m) = requested.filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        if let (Some(m), true) = (&self.default_model, name == self.default) {
            return m.clone();
        }
        provider.default_model()
    }

    /// Whether calls to `name` cost money (budgets apply).
    fn is_paid(&self, name: &str) -> bool {
        let Some(Entry {
            instance: Some(inst),
            ..
        }) = self.providers.get(name)
        else {
            return false;
        };
        match inst.price {
            Some(p) => p.input_per_mtok > 0.0 || p.output_per_mtok > 0.0,
            None => inst.kind.spec().paid,
        }
    }

    /// Status of every instance, probed concurrently when `probe` is set.
    pub async fn statuses(&self, probe: bool) -> Vec<ProviderStatus> {
        let breakers: HashMap<&'static str, BreakerState> = lock(&self.state)
            .breakers
            .iter()
            .map(|(k, b)| (*k, b.state()))
            .collect();
        let futures = self.providers.iter().map(|(name, e)| {
            let open = matches!(
                breakers.get(name),
                Some(BreakerState::Open { .. } | BreakerState::HalfOpen)
            );
            async move {
                let p = &e.provider;
                let mut s = p.status();
                s.name = name.to_string();
                s.is_default = *name == self.default;
                s.model = self.model_for(name, p.as_ref(), None);
                if probe {
                    match p.probe().await {
                        Ok(detail) => {
                            s.reachable = true;
                            // Probes of local providers repeat their status.
                            if s.detail.is_empty() {
                                s.detail = detail;
                            } else if !s.detail.contains(&detail) {
                                s.detail = format!("{}; {detail}", s.detail);
                            }
                        }
                        Err(e) => {
                            s.reachable = false;
                            s.detail = e.to_string();
                        }
                    }
                }
                // A custom instance says what kind it is.
                if let Some(inst) = &e.instance
                    && inst.kind.as_str() != *name
                {
                    s.detail = format!("{}: {}", inst.kind.as_str(), s.detail);
                }
                if open {
                    s.detail = format!("circuit open after repeated failures; {}", s.detail);
                }
                s
            }
        });
        futures::future::join_all(futures).await
    }

    /// Route and start one completion, without a rights check (in-process
    /// callers that already hold the right).
    pub async fn start(
        &self,
        req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        let session = req.session.clone();
        let today = spend::today();
        let budget_spent =
            lock(&self.state)
                .spend
                .exhausted(&self.budget, session.as_deref(), &today);
        let candidates = route::plan(
            &RouteInput {
                requested: req.provider.as_deref(),
                default: &self.default,
                fallback: &self.fallback,
                budget_spent,
                budget_target: &self.budget_target,
            },
            |n| self.is_paid(n),
        )
        .map_err(|why| ApiError {
            kind: ApiErrorKind::ResourceExhausted,
            message: why,
        })?;
        let mut before: Vec<String> = Vec::new();
        let mut errors: Vec<(&'static str, ProviderError)> = Vec::new();
        for (i, cand) in candidates.iter().enumerate() {
            let (name, entry) = self.entry(&cand.name)?;
            if !self.acquire(name) {
                before.push(format!("{name}'s circuit open"));
                continue;
            }
            let requested_model = if i == 0 { req.model.as_deref() } else { None };
            let model = self.model_for(name, entry.provider.as_ref(), requested_model);
            let mut r = req.clone();
            r.provider = Some(name.to_string());
            r.model = Some(model.clone());
            match self.try_one(name, entry, r).await {
                Ok((first, rest)) => {
                    self.verdict(name, None);
                    let reason = route::final_reason(cand, i == 0, &before);
                    if !before.is_empty() {
                        tracing::info!(provider = name, %model, "{reason}");
                    }
                    return Ok(self.wrap(name, reason, session, first, rest));
                }
                Err(e) => {
                    tracing::warn!(provider = name, %model, "completion failed before streaming: {e}");
                    self.verdict(name, Some(&e));
                    before.push(format!("{} from {name}", route::short(&e)));
                    let stop = !route::falls_back(&e);
                    errors.push((name, e));
                    if stop {
                        break;
                    }
                }
            }
        }
        Err(all_failed(errors, &before))
    }

    /// Start a call and wait for its first event, so a failure before any
    /// output can still fall back.
    async fn try_one(
        &self,
        name: &'static str,
        entry: &Entry,
        req: CompletionRequest,
    ) -> Result<(CompletionEvent, crate::provider::ProviderStream), ProviderError> {
        let mut stream = entry.provider.complete(req).await?;
        match stream.next().await {
            Some(Ok(first)) => Ok((first, stream)),
            Some(Err(e)) => Err(e),
            None => Err(ProviderError::BadResponse {
                provider: name,
                detail: "the stream ended before any event".into(),
            }),
        }
    }

    fn acquire(&self, name: &'static str) -> bool {
        let (n, cd) = (self.breaker_failures, self.breaker_cooldown);
        lock(&self.state)
            .breakers
            .entry(name)
            .or_insert_with(|| Breaker::new(n, cd))
            .try_acquire(Instant::now())
    }

    fn verdict(&self, name: &'static str, e: Option<&ProviderError>) {
        verdict(&self.state, name, e);
    }

    /// The stream handed to the caller: the first event, then the rest,
    /// with usage completed (instance, route reason, cost, totals) and
    /// mid-stream failures counted against the instance.
    fn wrap(
        &self,
        name: &'static str,
        reason: String,
        session: Option<String>,
        first: CompletionEvent,
        rest: crate::provider::ProviderStream,
    ) -> BoxStream<CompletionEvent> {
        let state = self.state.clone();
        let price_of = {
            let config = self.config.clone();
            let inst = self.providers.get(name).and_then(|e| e.instance.clone());
            move |model: &str| inst.as_ref().and_then(|i| config.price(i, model))
        };
        futures::stream::once(async move { Ok(first) })
            .chain(rest)
            .map(move |item| match item {
                Ok(CompletionEvent::Usage(mut u)) => {
                    u.provider = name.to_string();
                    u.route_reason = reason.clone();
                    u.cost_usd =
                        price_of(&u.model).map(|p| p.cost(u.input_tokens, u.output_tokens));
                    let (s, d) = lock(&state).spend.record(
                        session.as_deref(),
                        Charge {
                            input_tokens: u.input_tokens,
                            output_tokens: u.output_tokens,
                            cost_usd: u.cost_usd,
                        },
                        &spend::today(),
                    );
                    u.session_cost_usd = s;
                    u.day_cost_usd = Some(d);
                    Ok(CompletionEvent::Usage(u))
                }
                Ok(ev) => Ok(ev),
                Err(e) => {
                    tracing::warn!(provider = name, "completion failed mid-stream: {e}");
                    verdict(&state, name, Some(&e));
                    Err(ApiError::from(e))
                }
            })
            .boxed()
    }
}

/// Record a call's outcome on `name`'s breaker (`None`: success).
fn verdict(state: &Mutex<State>, name: &'static str, e: Option<&ProviderError>) {
    let mut st = lock(state);
    let Some(b) = st.breakers.get_mut(name) else {
        return;
    };
    match e {
        None => b.success(),
        Some(e) if route::counts_against_health(e) => b.failure(Instant::now()),
        Some(_) => b.release(),
    }
}

/// The error when no instance answered: the last failure, naming the
/// earlier ones.
fn all_failed(mut errors: Vec<(&'static str, ProviderError)>, before: &[String]) -> ApiError {
    let Some((_, last)) = errors.pop() else {
        return ApiError {
            kind: ApiErrorKind::Unavailable,
            message: format!(
                "no provider could take the request: {}; wait for the circuit to close or fix the providers (`aios doctor`)",
                before.join(", ")
            ),
        };
    };
    let mut e = ApiError::from(last);
    if !errors.is_empty() {
        let earlier: Vec<String> = errors.iter().map(|(n, e)| format!("{n}: {e}")).collect();
        e.message = format!(
            "{} (every provider of the fallback chain failed; before it: {})",
            e.message,
            earlier.join("; ")
        );
    }
    e
}

fn key_env(inst: &Instance) -> &'static str {
    match &inst.key_env {
        Some(v) => intern(v),
        None => intern(&format!("api_key_env of [providers.{}]", inst.name)),
    }
}

#[async_trait::async_trait]
impl ModelApi for Gateway {
    async fn providers(
        &self,
        who: Principal,
        probe: bool,
    ) -> Result<Vec<ProviderStatus>, ApiError> {
        who.require(Right::AnyUser)?;
        Ok(self.statuses(probe).await)
    }

    async fn complete(
        &self,
        who: Principal,
        req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        who.require(Right::Daemon)?;
        self.start(req).await
    }

    async fn prepare(
        &self,
        who: Principal,
        system: String,
        tools: Vec<ModelTool>,
    ) -> Result<String, ApiError> {
        who.require(Right::Daemon)?;
        // The default and its fallbacks: any of them may answer next.
        let mut names: Vec<&str> = vec![self.default.as_str()];
        for f in &self.fallback {
            if !names.contains(&f.as_str()) {
                names.push(f);
            }
        }
        let mut done = Vec::new();
        for name in names {
            let Ok((name, entry)) = self.entry(name) else {
                continue;
            };
            match entry.provider.prepare(&system, &tools).await {
                Ok(detail) if detail.is_empty() => {}
                Ok(detail) => done.push(format!("{name}: {detail}")),
                Err(e) => {
                    tracing::warn!(provider = name, "cannot prepare: {e}");
                    done.push(format!("{name}: not prepared: {e}"));
                }
            }
        }
        Ok(done.join("; "))
    }

    async fn count_tokens(
        &self,
        who: Principal,
        provider: Option<String>,
        _model: Option<String>,
        texts: Vec<String>,
    ) -> Result<TokenCounts, ApiError> {
        who.require(Right::Daemon)?;
        crate::count::count(self, provider.as_deref(), &texts).await
    }
}
