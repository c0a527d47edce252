//! Many keys at once: bounded concurrency and a request-rate limit per
//! provider, results streamed as they finish.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byok_keys::{ApiKey, Provider};
use futures::stream::{self, BoxStream, Stream, StreamExt};
use tokio::time::Instant;

use byok_keys::params::Params;

use crate::credential::Credential;
use crate::report::{Depth, Report};
use crate::verifier::Verifier;

/// Limits of [`Verifier::verify_many`], applied to each provider separately.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BulkOptions {
    /// Verifications in flight per provider (at least 1). Default 8.
    pub concurrency_per_provider: usize,
    /// HTTP requests per second per provider, retries included; `None` for no
    /// limit. Default 10, well below every provider's published limits.
    pub requests_per_second: Option<f64>,
    /// How far each verification goes. Default [`Depth::Billing`].
    pub depth: Depth,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            concurrency_per_provider: 8,
            requests_per_second: Some(10.0),
            depth: Depth::Billing,
        }
    }
}

impl BulkOptions {
    /// Set [`concurrency_per_provider`](BulkOptions::concurrency_per_provider).
    pub fn concurrency_per_provider(mut self, n: usize) -> Self {
        self.concurrency_per_provider = n.max(1);
        self
    }

    /// Set [`requests_per_second`](BulkOptions::requests_per_second); `None`, zero
    /// or a non-finite rate means no limit.
    pub fn requests_per_second(mut self, rate: Option<f64>) -> Self {
        self.requests_per_second = rate.filter(|r| r.is_finite() && *r > 0.0);
        self
    }

    /// Set [`depth`](BulkOptions::depth).
    pub fn depth(mut self, depth: Depth) -> Self {
        self.depth = depth;
        self
    }
}

/// One finished verification of [`Verifier::verify_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkResult {
    /// Position of the key in the input.
    pub index: usize,
    /// Its report.
    pub report: Report,
}

impl Verifier {
    /// Verify many keys; results arrive as they finish (not in input order:
    /// use [`BulkResult::index`]). Each provider gets its own concurrency bound
    /// and request-rate limit, so a slow provider does not hold up the others.
    ///
    /// ```no_run
    /// # async fn demo(verifier: byok_verify::Verifier, keys: Vec<byok_keys::ApiKey>) {
    /// use futures::StreamExt;
    /// use byok_verify::BulkOptions;
    ///
    /// let mut results = verifier.verify_many(keys, BulkOptions::default());
    /// while let Some(r) = results.next().await {
    ///     println!("#{} {} {}", r.index, r.report.masked, r.report.verdict);
    /// }
    /// # }
    /// ```
    pub fn verify_many<I>(
        &self,
        keys: I,
        options: BulkOptions,
    ) -> impl Stream<Item = BulkResult> + Send + 'static
    where
        I: IntoIterator<Item = ApiKey>,
    {
        self.verify_group(keys.into_iter().map(|k| (k, None)), options)
    }

    /// [`verify_many`](Verifier::verify_many) keys with the parameters stored
    /// with them ([`Verifier::verify_with`]).
    pub fn verify_many_with<I>(
        &self,
        keys: I,
        options: BulkOptions,
    ) -> impl Stream<Item = BulkResult> + Send + 'static
    where
        I: IntoIterator<Item = (ApiKey, Params)>,
    {
        self.verify_group(keys.into_iter().map(|(k, p)| (k, Some(p))), options)
    }

    fn verify_group(
        &self,
        keys: impl Iterator<Item = (ApiKey, Option<Params>)>,
        options: BulkOptions,
    ) -> impl Stream<Item = BulkResult> + Send + 'static {
        type Entry = (usize, ApiKey, Option<Params>);
        let mut groups: BTreeMap<Provider, Vec<Entry>> = BTreeMap::new();
        for (index, (key, params)) in keys.enumerate() {
            groups
                .entry(key.provider())
                .or_default()
                .push((index, key, params));
        }
        let concurrency = options.concurrency_per_provider.max(1);
        let streams: Vec<BoxStream<'static, BulkResult>> = groups
            .into_values()
            .map(|group| {
                let pacer = options.requests_per_second.map(|r| Arc::new(Pacer::new(r)));
                let verifier = self.clone();
                let depth = options.depth;
                stream::iter(group)
                    .map(move |(index, key, params)| {
                        let verifier = verifier.clone();
                        let pacer = pacer.clone();
                        async move {
                            let report = verifier
                                .verify_paced(
                                    &Credential::of(&key),
                                    params.as_ref(),
                                    depth,
                                    pacer.as_deref(),
                                )
                                .await;
                            BulkResult { index, report }
                        }
                    })
                    .buffer_unordered(concurrency)
                    .boxed()
            })
            .collect();
        stream::select_all(streams)
    }
}

/// Spaces requests evenly: each caller gets the next free slot, `1 / rate` apart.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub(crate) fn new(per_second: f64) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / per_second.max(1e-3)),
            next: Mutex::new(None),
        }
    }

    /// Wait for this caller's slot.
    pub(crate) async fn wait(&self) {
        let slot = {
            // A poisoned lock only means another caller panicked mid-update; the Instant is still sound.
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests() {
        let pacer = Arc::new(Pacer::new(10.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let p = pacer.clone();
                tokio::spawn(async move {
                    p.wait().await;
                    Instant::now()
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap() - start);
        }
        times.sort();
        let want: Vec<_> = (0..5).map(|i| Duration::from_millis(100 * i)).collect();
        assert_eq!(times, want);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_pacer_does_not_bank_slots() {
        let pacer = Pacer::new(10.0);
        pacer.wait().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = Instant::now();
        pacer.wait().await;
        assert_eq!(Instant::now(), before);
        pacer.wait().await;
        assert_eq!(Instant::now() - before, Duration::from_millis(100));
    }

    #[test]
    fn options_normalise() {
        let o = BulkOptions::default()
            .concurrency_per_provider(0)
            .requests_per_second(Some(0.0));
        assert_eq!(o.concurrency_per_provider, 1);
        assert_eq!(o.requests_per_second, None);
    }
}
