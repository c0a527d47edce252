//! Retry: exponential backoff with jitter, server hints first, three caps
//! (attempts, one wait, overall deadline). No retry framework: a framework
//! cannot read bodies, and the body decides whether a 429 is worth a retry.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How a probe retries. The defaults follow the official SDKs (3 attempts,
/// 0.5 s doubling to 8 s, up to 25 % jitter, honour a server wait up to 60 s),
/// except that only answers the verdict table marks retryable are retried.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per probe, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the first retry when the server gives no hint.
    pub initial_backoff: Duration,
    /// Cap of the doubling backoff.
    pub max_backoff: Duration,
    /// Longest server-requested wait that is honoured. A server asking for more
    /// gets its verdict (e.g. `rate_limited` with that `retry_after`) at once.
    pub max_wait: Duration,
    /// Backoff is scaled down by a random factor up to this fraction (0.0..=1.0).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_wait: Duration::from_secs(60),
            jitter: 0.25,
        }
    }
}

impl RetryPolicy {
    /// One attempt, never a retry.
    pub fn no_retry() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Set [`max_attempts`](RetryPolicy::max_attempts) (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Set the backoff range (initial, cap).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Set [`max_wait`](RetryPolicy::max_wait).
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Set [`jitter`](RetryPolicy::jitter), clamped to 0.0..=1.0 (0.0: deterministic backoff).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Backoff before retry number `retry` (1-based), for a random draw `r` in `0..1`.
    fn backoff(&self, retry: u32, r: f64) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        doubled.min(self.max_backoff).mul_f64(1.0 - self.jitter * r)
    }

    /// What to do after `attempts` attempts of a request whose last answer was
    /// `retryable` (its [`Classification`](crate::Classification) says) with the
    /// server's wait hint `server_wait`, `until_deadline` before the caller's
    /// deadline, `r` a random draw in `0..1` for the jitter: `Some(wait)` to
    /// retry after `wait`, `None` to stop (not retryable, out of attempts, a
    /// server wait above [`max_wait`](RetryPolicy::max_wait), or past the deadline).
    pub fn next_wait(
        &self,
        attempts: u32,
        retryable: bool,
        server_wait: Option<Duration>,
        until_deadline: Duration,
        r: f64,
    ) -> Option<Duration> {
        if !retryable || attempts >= self.max_attempts {
            return None;
        }
        if server_wait.is_some_and(|w| w > self.max_wait) {
            return None;
        }
        let wait = server_wait.unwrap_or_else(|| self.backoff(attempts, r));
        // Waiting past the deadline only to be cut off helps nobody: stop now.
        (wait < until_deadline).then_some(wait)
    }
}

/// One attempt's result, as the retry loop sees it.
#[derive(Debug)]
pub(crate) struct Try<T> {
    pub(crate) value: T,
    pub(crate) retryable: bool,
    pub(crate) server_wait: Option<Duration>,
}

/// The last attempt's value, with how many attempts and how much waiting it took.
#[derive(Debug)]
pub(crate) struct Retried<T> {
    pub(crate) value: T,
    pub(crate) attempts: u32,
    pub(crate) waited: Duration,
}

/// Run `attempt` until it succeeds, is not retryable, or a cap is hit.
pub(crate) async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    deadline: Instant,
    jitter: &Jitter,
    mut attempt: F,
) -> Retried<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Try<T>>,
{
    let mut attempts = 0;
    let mut waited = Duration::ZERO;
    loop {
        attempts += 1;
        let t = attempt(attempts).await;
        let left = deadline.saturating_duration_since(Instant::now());
        let next = policy.next_wait(
            attempts,
            t.retryable,
            t.server_wait,
            left,
            jitter.next_f64(),
        );
        match next {
            Some(wait) => {
                tracing::debug!(
                    attempt = attempts,
                    wait_ms = wait.as_millis() as u64,
                    "retrying"
                );
                tokio::time::sleep(wait).await;
                waited += wait;
            }
            None => {
                return Retried {
                    value: t.value,
                    attempts,
                    waited,
                };
            }
        }
    }
}

/// A small lock-free random source for jitter (SplitMix64); not for secrets.
#[derive(Debug)]
pub(crate) struct Jitter(AtomicU64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter(AtomicU64::new(seed))
    }

    /// Seeded from the clock: different processes jitter differently.
    pub(crate) fn from_clock() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9);
        Jitter::new(nanos)
    }

    /// A draw in `0.0..1.0`.
    pub(crate) fn next_f64(&self) -> f64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn policy() -> RetryPolicy {
        RetryPolicy::default().with_jitter(0.0)
    }

    /// Drive `run` with scripted answers: (retryable, server wait).
    async fn script(
        p: &RetryPolicy,
        deadline_in: Duration,
        answers: &[(bool, Option<Duration>)],
    ) -> (Retried<usize>, Duration) {
        let start = Instant::now();
        let i = Cell::new(0);
        let r = run(p, start + deadline_in, &Jitter::new(1), |_| {
            let n = i.get();
            i.set(n + 1);
            let (retryable, server_wait) = answers[n.min(answers.len() - 1)];
            async move {
                Try {
                    value: n,
                    retryable,
                    server_wait,
                }
            }
        })
        .await;
        (r, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_without_hints() {
        let p = policy().with_max_attempts(4);
        let (r, elapsed) = script(&p, Duration::from_secs(60), &[(true, None)]).await;
        assert_eq!(r.attempts, 4);
        assert_eq!(r.waited, MS(500 + 1000 + 2000));
        assert_eq!(elapsed, r.waited);
    }

    #[tokio::test(start_paused = true)]
    async fn server_hint_is_followed_exactly() {
        let (r, elapsed) = script(
            &policy(),
            Duration::from_secs(60),
            &[(true, Some(MS(1234))), (true, Some(MS(10))), (false, None)],
        )
        .await;
        assert_eq!((r.attempts, r.value), (3, 2));
        assert_eq!(elapsed, MS(1244));
    }

    #[tokio::test(start_paused = true)]
    async fn not_retryable_stops_at_once() {
        let (r, elapsed) =
            script(&policy(), Duration::from_secs(60), &[(false, Some(MS(5)))]).await;
        assert_eq!(r.attempts, 1);
        assert_eq!(elapsed, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn an_hour_long_hint_is_not_slept() {
        let (r, elapsed) = script(
            &policy(),
            Duration::from_secs(7200),
            &[(true, Some(Duration::from_secs(3600)))],
        )
        .await;
        assert_eq!(r.attempts, 1);
        assert_eq!(elapsed, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_stops_retries() {
        let p = policy().with_max_attempts(10);
        // 500 + 1000 fit into 2 s; the next 2000 ms wait would pass the deadline.
        let (r, elapsed) = script(&p, Duration::from_secs(2), &[(true, None)]).await;
        assert_eq!(r.attempts, 3);
        assert_eq!(elapsed, MS(1500));
    }

    #[test]
    fn backoff_is_capped_and_jittered_down() {
        let p = RetryPolicy::default().with_backoff(MS(100), MS(400));
        assert_eq!(p.backoff(1, 0.0), MS(100));
        assert_eq!(p.backoff(3, 0.0), MS(400));
        assert_eq!(p.backoff(30, 0.0), MS(400));
        assert_eq!(p.backoff(1, 0.999_999_999), MS(75));
        let j = Jitter::new(7);
        for _ in 0..1000 {
            let r = j.next_f64();
            assert!((0.0..1.0).contains(&r));
            let b = p.backoff(2, r);
            assert!(b > MS(150) && b <= MS(200), "{b:?}");
        }
    }

    proptest::proptest! {
        /// Whatever the inputs, a wait is never past the deadline, a server's
        /// hint is followed exactly (or not at all, when over the cap), and a
        /// backoff never exceeds its cap.
        #[test]
        fn next_wait_respects_every_cap(
            attempts in 1u32..10,
            max_attempts in 1u32..10,
            retryable: bool,
            hint_ms in proptest::option::of(0u64..200_000),
            left_ms in 0u64..100_000,
            r in 0.0f64..1.0,
        ) {
            let p = RetryPolicy::default().with_max_attempts(max_attempts);
            let hint = hint_ms.map(MS);
            match p.next_wait(attempts, retryable, hint, MS(left_ms), r) {
                None => {}
                Some(wait) => {
                    proptest::prop_assert!(retryable && attempts < max_attempts);
                    proptest::prop_assert!(wait < MS(left_ms));
                    match hint {
                        Some(h) => proptest::prop_assert!(wait == h && h <= p.max_wait),
                        None => proptest::prop_assert!(wait <= p.max_backoff),
                    }
                }
            }
        }
    }

    #[test]
    fn no_retry_policy_never_waits() {
        let p = RetryPolicy::no_retry();
        assert_eq!(
            p.next_wait(1, true, None, Duration::from_secs(9), 0.5),
            None
        );
        assert_eq!(RetryPolicy::default().with_max_attempts(0).max_attempts, 1);
    }
}
