//! Latency distribution of repeated runs of one operation, shared by the benches
//! that report ops/s, p50 and p99 next to criterion's numbers.

use std::time::Duration;

/// `n` timed runs of one operation.
pub(crate) struct Stats {
    /// Shown in the report line.
    pub(crate) name: String,
    /// One duration per run.
    pub(crate) samples: Vec<Duration>,
}

impl Stats {
    /// An empty distribution for `n` runs.
    pub(crate) fn new(name: impl Into<String>, n: usize) -> Stats {
        Stats {
            name: name.into(),
            samples: Vec::with_capacity(n),
        }
    }

    /// Print `name n= ops/s p50 p99` on one line.
    pub(crate) fn report(mut self) {
        self.samples.sort_unstable();
        let total: Duration = self.samples.iter().sum();
        let pct = |p: f64| self.samples[((self.samples.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "{:<36} n={:<6} {:>9.0} ops/s   p50 {:>8.1} µs   p99 {:>8.1} µs",
            self.name,
            self.samples.len(),
            self.samples.len() as f64 / total.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
        );
    }
}
