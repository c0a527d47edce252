//! The Test button: run the probes of a [`Depth`] against a key's provider.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use std::borrow::Cow;

use byok_keys::ApiKey;
use byok_keys::params::Params;
use tokio::time::Instant;

use crate::bulk::Pacer;
use crate::classify::{Classification, classify_at};
use crate::config::VerifierConfig;
use crate::credential::Credential;
use crate::error::VerifyError;
use crate::keyinfo::KeyInfo;
use crate::ratelimit::RateLimits;
use crate::report::{Depth, Probe, Report};
use crate::request::{Routes, free_probe, list_unreliable};
use crate::retry::{self, Jitter, Retried, Try};
use crate::verdict::{NetworkErrorKind, RestrictedReason, Verdict};

/// Largest response body read. Error bodies are small; a long model list is cut
/// here and judged by its start.
const BODY_LIMIT: usize = 256 * 1024;

/// Verifies keys against their provider over one shared HTTP client.
///
/// Cheap to clone (an `Arc`): build one per application and share it.
/// `Debug` shows the configuration, which never holds a key.
#[derive(Debug, Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    config: VerifierConfig,
    routes: Routes,
    jitter: Jitter,
}

/// One attempt's outcome: an answer, or no answer.
#[derive(Debug)]
enum Observed {
    /// The classified answer, and what a key-info probe's answer said.
    Answer(Box<(Classification, Option<KeyInfo>)>),
    Network(NetworkErrorKind),
}

impl Verifier {
    /// Build a verifier with its own HTTP client (rustls, connection pool).
    ///
    /// # Errors
    /// [`VerifyError`] if a base URL or model is invalid or TLS cannot be set up.
    pub fn new(config: VerifierConfig) -> Result<Verifier, VerifyError> {
        config.validate()?;
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            // A redirect could carry the auth header to another host: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| VerifyError::HttpClient(e.without_url().to_string()))?;
        Verifier::with_client(config, client)
    }

    /// Build a verifier on an existing client (to share its pool or proxy
    /// settings). The client should not follow redirects.
    ///
    /// # Errors
    /// [`VerifyError`] if a base URL or model is invalid.
    pub fn with_client(
        config: VerifierConfig,
        client: reqwest::Client,
    ) -> Result<Verifier, VerifyError> {
        config.validate()?;
        let routes = Routes::new(&config)?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                client,
                config,
                routes,
                jitter: Jitter::from_clock(),
            }),
        })
    }

    /// The HTTP client it sends with (shared by the call path: one pool).
    pub fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &VerifierConfig {
        &self.inner.config
    }

    /// Verify `key` to `depth`. Never fails: every outcome, including network
    /// trouble and answers byok does not recognise, is a [`Verdict`] in the report.
    ///
    /// The probes, per provider (its spec): first the free one — the key-info
    /// probe where the provider has one (OpenRouter, xAI, DeepSeek, Cohere:
    /// read into [`Report::key_info`]), else list models — then, at
    /// [`Depth::Billing`], the billable probe when the free probe says `valid`
    /// or `restricted (missing_scope)`; its verdict wins. A key-info answer can
    /// decide alone (a used-up key limit, a blocked key, no balance): then
    /// nothing is spent. Where the free list is unreliable (Fireworks' 5xx,
    /// Azure's retired deployments list) an inconclusive answer there falls
    /// through to the billable probe. Providers without a free probe
    /// (Perplexity, Bedrock) get only the billable probe, at either depth.
    /// Each probe is retried per the [`RetryPolicy`](crate::RetryPolicy); a
    /// no-credits answer never is. Admin keys get `restricted (admin_key)`
    /// without a request.
    ///
    /// A provider that needs parameters (Azure OpenAI, Bedrock) gets
    /// `restricted (missing_param)` without a request here: use
    /// [`verify_with`](Verifier::verify_with).
    pub async fn verify(&self, key: &ApiKey, depth: Depth) -> Report {
        self.verify_paced(&Credential::of(key), None, depth, None)
            .await
    }

    /// [`verify`](Verifier::verify) a key with the parameters stored with it
    /// (Azure OpenAI resource, deployment and API version; Bedrock region),
    /// which fill its provider's URL templates. Parameters checked for another
    /// provider than the key's count as none: fine for a provider that needs
    /// none, `restricted (missing_param)` without a request for Azure or Bedrock.
    ///
    /// ```no_run
    /// # async fn demo(verifier: byok_verify::Verifier, key: byok_keys::ApiKey) -> Result<(), byok_keys::params::ParamError> {
    /// use byok_keys::Provider;
    /// use byok_keys::params::Params;
    /// use byok_verify::Depth;
    ///
    /// let params = Params::new(Provider::AzureOpenAi, [("resource", "contoso"), ("deployment", "gpt-4o-mini")])?;
    /// let report = verifier.verify_with(&key, &params, Depth::Billing).await;
    /// println!("{} {}", report.verdict, report.remediation());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn verify_with(&self, key: &ApiKey, params: &Params, depth: Depth) -> Report {
        self.verify_paced(&Credential::of(key), Some(params), depth, None)
            .await
    }

    pub(crate) async fn verify_paced(
        &self,
        key: &Credential<'_>,
        params: Option<&Params>,
        depth: Depth,
        pacer: Option<&Pacer>,
    ) -> Report {
        let start = Instant::now();
        let deadline = start + self.inner.config.deadline;
        let mut report = Report {
            provider: key.provider,
            masked: key.masked.clone(),
            fingerprint: key.fingerprint,
            depth,
            verdict: Verdict::Restricted(RestrictedReason::AdminKey),
            probe: None,
            attempts: 0,
            elapsed: Duration::ZERO,
            waited: Duration::ZERO,
            retry_after: None,
            http_status: None,
            provider_code: None,
            provider_message: None,
            request_id: None,
            rate_limits: RateLimits::default(),
            key_info: None,
        };
        if key.admin {
            tracing::debug!(provider = %key.provider, key = %report.masked, "admin key refused without a request");
            return report;
        }
        // Parameters of another provider fill none of this provider's templates.
        let params = match params {
            Some(p) if p.provider() == key.provider => Some(Cow::Borrowed(p)),
            _ => Params::none(key.provider).ok().map(Cow::Owned),
        };
        let Some(params) = params else {
            // Never a request to a template URL.
            tracing::debug!(provider = %key.provider, key = %report.masked, "no parameters: not tested");
            report.verdict = Verdict::Restricted(RestrictedReason::MissingParam);
            return report;
        };
        let free = free_probe(key.provider.spec());
        let go_on = match free {
            Some(probe) => {
                self.run_probe(key, &params, probe, deadline, pacer, &mut report)
                    .await;
                let inconclusive_list = probe == Probe::ListModels
                    && list_unreliable(key.provider)
                    && matches!(report.verdict, Verdict::Indeterminate);
                depth == Depth::Billing
                    && (inconclusive_list
                        || matches!(
                            report.verdict,
                            Verdict::Valid | Verdict::Restricted(RestrictedReason::MissingScope)
                        ))
            }
            None => true,
        };
        if go_on {
            self.run_probe(key, &params, Probe::Billable, deadline, pacer, &mut report)
                .await;
        }
        report.elapsed = start.elapsed();
        tracing::debug!(
            provider = %report.provider, key = %report.masked, verdict = %report.verdict,
            attempts = report.attempts, elapsed_ms = report.elapsed.as_millis() as u64,
            "key verified"
        );
        report
    }

    /// Run one probe with retries and record its outcome in `report`.
    async fn run_probe(
        &self,
        key: &Credential<'_>,
        params: &Params,
        probe: Probe,
        deadline: Instant,
        pacer: Option<&Pacer>,
        report: &mut Report,
    ) {
        let inner = &self.inner;
        let Retried { value, attempts, waited } = retry::run(&inner.config.retry, deadline, &inner.jitter, |n| async move {
            if let Some(p) = pacer {
                p.wait().await;
            }
            let observed = self.attempt(key, params, probe, deadline).await;
            tracing::debug!(provider = %key.provider, ?probe, attempt = n, outcome = ?observed, "probe answered");
            match observed {
                Observed::Answer(c) => Try {
                    retryable: c.0.retryable,
                    server_wait: c.0.retry_after,
                    value: Observed::Answer(c),
                },
                // Network trouble is worth a few retries (the attempt cap applies).
                Observed::Network(k) => Try {
                    value: Observed::Network(k),
                    retryable: true,
                    server_wait: None,
                },
            }
        })
        .await;
        report.attempts += attempts;
        report.waited += waited;
        report.probe = Some(probe);
        match value {
            Observed::Answer(answered) => {
                let (c, key_info) = *answered;
                if probe == Probe::KeyInfo {
                    report.key_info = key_info;
                }
                report.retry_after = match c.verdict {
                    Verdict::RateLimited { .. } | Verdict::ProviderUnavailable => c.retry_after,
                    _ => None,
                };
                report.verdict = c.verdict;
                report.http_status = Some(c.status);
                // Scrubbed by the classifier, which knew the key (see `attempt`).
                report.provider_code = c.provider_code;
                report.provider_message = c.provider_message;
                report.request_id = c.request_id;
                if !c.rate_limits.is_empty() {
                    report.rate_limits = c.rate_limits;
                }
            }
            Observed::Network(kind) => {
                report.verdict = Verdict::NetworkError(kind);
                report.retry_after = None;
                report.http_status = None;
                report.provider_code = None;
                report.provider_message = None;
                report.request_id = None;
            }
        }
    }

    /// One HTTP request, bounded by the request timeout and the deadline.
    async fn attempt(
        &self,
        key: &Credential<'_>,
        params: &Params,
        probe: Probe,
        deadline: Instant,
    ) -> Observed {
        let inner = &self.inner;
        let Some(request) = inner.routes.build(&inner.config, key, params, probe) else {
            return Observed::Network(NetworkErrorKind::Io);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = inner.config.request_timeout.min(left);
        let exchange = async {
            let mut response = inner.client.execute(request).await?;
            let status = response.status().as_u16();
            let headers = std::mem::take(response.headers_mut());
            let mut body = Vec::new();
            let mut complete = true;
            while let Some(chunk) = response.chunk().await? {
                let room = BODY_LIMIT - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    complete = false;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>((status, headers, body, complete))
        };
        match tokio::time::timeout(limit, exchange).await {
            Err(_) => Observed::Network(NetworkErrorKind::Timeout),
            Ok(Err(e)) => Observed::Network(network_kind(&e)),
            Ok(Ok((status, headers, body, complete))) => {
                let mut c = classify_at(
                    key.provider,
                    status,
                    &headers,
                    &body,
                    complete,
                    jiff::Timestamp::now(),
                    Some(key.expose_secret()),
                );
                let key_info = read_key_info(key, probe, &mut c, &body, complete);
                if probe == Probe::ListModels
                    && list_unreliable(key.provider)
                    && matches!(
                        c.verdict,
                        Verdict::ProviderUnavailable | Verdict::Indeterminate
                    )
                {
                    // Fireworks' list answers 500 for some accounts, for good: not
                    // retried, never Invalid; the billable probe decides.
                    c.verdict = Verdict::Indeterminate;
                    c.retryable = false;
                }
                Observed::Answer(Box::new((c, key_info)))
            }
        }
    }
}

/// A key-info probe's 2xx answer read into [`KeyInfo`]; where it decides a
/// verdict (a used-up key limit, a blocked key), that verdict replaces `valid`.
fn read_key_info(
    key: &Credential<'_>,
    probe: Probe,
    c: &mut Classification,
    body: &[u8],
    complete: bool,
) -> Option<KeyInfo> {
    let reader = key.provider.spec().key_info?.reader;
    if probe != Probe::KeyInfo || c.verdict != Verdict::Valid || !complete {
        return None;
    }
    let info = KeyInfo::read(reader, body, Some(key.expose_secret()))?;
    if let Some(verdict) = info.verdict() {
        c.verdict = verdict;
        c.retryable = false;
    }
    Some(info)
}

/// Map a transport error to a kind. Only the kind is kept: reqwest errors
/// carry the URL, and the lower layers' text is not ours to vouch for.
fn network_kind(e: &reqwest::Error) -> NetworkErrorKind {
    if e.is_timeout() {
        return NetworkErrorKind::Timeout;
    }
    if e.is_dns() {
        return NetworkErrorKind::Dns;
    }
    let mut source = e.source();
    while let Some(s) = source {
        if is_tls(s) {
            return NetworkErrorKind::Tls;
        }
        source = s.source();
    }
    if e.is_connect() {
        NetworkErrorKind::Connect
    } else {
        NetworkErrorKind::Io
    }
}

/// Whether `e` is a rustls error, possibly wrapped in `io::Error`s (whose
/// `source()` skips the wrapped error, so `get_ref` is needed to see it).
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        Some(inner) => is_tls(inner),
        None => false,
    }
}

#[cfg(test)]
mod tests;
