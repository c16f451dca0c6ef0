//! What a Sala server's `/metrics` says about a run. Scraped when sending starts and after
//! the drain, the difference explains the figures: how many messages each commit carried
//! and how long commits took (the cost of durability), how many frames were queued, who was
//! closed as too slow, and how many errors were answered.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::target::{Kind, Target};

/// One scrape: every sample, by its name with labels (`sala_errors_total{code="x"}`).
pub struct Scrape(HashMap<String, f64>);

/// Reads a Sala server's `/metrics`; `None` for a reference server (which has none) or
/// when the scrape fails.
pub async fn scrape(target: &Target, server: &str) -> Option<Scrape> {
    if target.kind() != Kind::Sala {
        return None;
    }
    let url = format!("{}/metrics", server.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let text = response.text().await.ok()?;
    Some(parse(&text))
}

fn parse(text: &str) -> Scrape {
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect();
    Scrape(samples)
}

impl Scrape {
    /// The growth of every sample whose name starts with `prefix`, summed.
    fn growth(&self, before: &Self, prefix: &str) -> f64 {
        self.0
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, after)| after - before.0.get(name).copied().unwrap_or(0.0))
            .sum::<f64>()
            // An empty sum is -0.0, which would print as "-0".
            + 0.0
    }
}

/// The run's share of the server's counters, as JSON (null without both scrapes).
pub fn explain(before: Option<&Scrape>, after: Option<&Scrape>) -> Value {
    let (Some(before), Some(after)) = (before, after) else {
        return Value::Null;
    };
    let commits = after.growth(before, "sala_commit_batch_size_count");
    let committed = after.growth(before, "sala_commit_batch_size_sum");
    let commit_secs = after.growth(before, "sala_commit_seconds_sum");
    let per_commit = |total: f64| if commits > 0.0 { total / commits } else { 0.0 };
    json!({
        "commits": commits,
        "mean_messages_per_commit": per_commit(committed),
        "mean_commit_ms": per_commit(commit_secs) * 1000.0,
        "messages_stored": after.growth(before, "sala_messages_stored_total"),
        "deliveries_queued": after.growth(before, "sala_deliveries_total"),
        "slow_consumers_closed": after.growth(before, "sala_slow_consumers_closed_total"),
        "errors": after.growth(before, "sala_errors_total"),
    })
}

/// One line for the human summary, or nothing.
pub fn line(explained: &Value) -> String {
    if explained.is_null() {
        return String::new();
    }
    format!(
        "server: {} commits, {:.1} messages and {:.2} ms each; {} frames queued; {} closed as too slow; {} errors\n",
        explained["commits"],
        explained["mean_messages_per_commit"]
            .as_f64()
            .unwrap_or_default(),
        explained["mean_commit_ms"].as_f64().unwrap_or_default(),
        explained["deliveries_queued"],
        explained["slow_consumers_closed"],
        explained["errors"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_difference_of_two_scrapes_explains_a_run() {
        let before = parse(
            "# TYPE x counter\nsala_commit_batch_size_count 10\nsala_commit_batch_size_sum 20\n\
             sala_commit_seconds_sum 0.01\nsala_errors_total{code=\"a\"} 1\n",
        );
        let after = parse(
            "sala_commit_batch_size_count 14\nsala_commit_batch_size_sum 60\n\
             sala_commit_seconds_sum 0.05\nsala_errors_total{code=\"a\"} 2\n\
             sala_errors_total{code=\"b\"} 3\n",
        );
        let explained = explain(Some(&before), Some(&after));
        assert_eq!(explained["commits"], 4.0);
        assert_eq!(explained["mean_messages_per_commit"], 10.0);
        assert!((explained["mean_commit_ms"].as_f64().unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(explained["errors"], 4.0);
        assert!(explain(None, Some(&after)).is_null());
    }
}
