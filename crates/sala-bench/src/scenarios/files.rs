//! The files scenario (issue 21, Sala only): uploaders each `POST` files of `--size` bytes
//! to a room of their own (`/api/rooms/{name}/files`), `--parallel` at once, `--uploads`
//! each, one after another. Sizes the upload path: the MiB per second the server takes in
//! (spooled to disk, hashed, stored under its hash), each upload's latency, and the
//! server's memory while the uploads are in flight, sampled every `--sample-ms` — an
//! upload is streamed to a spool file, so the peak should not grow with the bytes in flight.
//!
//! Every body is fresh pseudo-random bytes (no two the same, so no upload is answered by a
//! blob already stored, and none looks like a picture that would be decoded); bodies are
//! made before the clock starts, so the load generator's own work is not timed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::future;
use serde_json::json;
use tokio::sync::Mutex;

use crate::random::SplitMix;
use crate::report::{self, Failures};
use crate::setup;
use crate::target::{Kind, Target, TargetArgs};

/// Most time one upload may take.
const UPLOAD_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Args)]
pub struct FilesArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Bytes in each file.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    size: usize,
    /// Uploads in flight at once, one uploader (an account and a room) each.
    #[arg(long, default_value_t = 1)]
    parallel: usize,
    /// Files each uploader sends, one after another.
    #[arg(long, default_value_t = 5)]
    uploads: usize,
    /// Room names are `<prefix>-0`, `<prefix>-1`, … (one per uploader).
    #[arg(long, default_value = "bench-files")]
    room_prefix: String,
    /// Milliseconds between two readings of the server's memory.
    #[arg(long, default_value_t = 20)]
    sample_ms: u64,
    /// PID of the server, to report its memory (VmRSS) before, at its peak and after.
    #[arg(long)]
    server_pid: Option<u32>,
}

impl FilesArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.size == 0 {
            bail!("--size must be at least 1 byte");
        }
        if self.parallel == 0 || self.uploads == 0 {
            bail!("--parallel and --uploads must be at least 1");
        }
        if self.sample_ms == 0 {
            bail!("--sample-ms must be at least 1");
        }
        Ok(())
    }
}

pub async fn run(args: FilesArgs) -> anyhow::Result<()> {
    args.check()?;
    let target = Target::new(args.target.clone())?;
    if target.kind() != Kind::Sala {
        bail!("the files scenario needs Sala: the reference servers take no files");
    }
    let tokens = setup::login(&target, 0..args.parallel, 16).await?;
    let rooms: Vec<String> = (0..args.parallel)
        .map(|n| format!("{}-{n}", args.room_prefix))
        .collect();
    for (token, room) in tokens.iter().zip(&rooms) {
        target.create_room(token, room).await?;
    }
    eprintln!(
        "making {} bodies of {} bytes…",
        args.parallel * args.uploads,
        args.size
    );
    let bodies: Vec<Vec<Vec<u8>>> = (0..args.parallel)
        .map(|uploader| {
            (0..args.uploads)
                .map(|n| random_bytes(args.size, (uploader * args.uploads + n) as u64))
                .collect()
        })
        .collect();

    let rss_before = report::rss_kib(args.server_pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
    let sampler = tokio::spawn(sample_memory(
        args.server_pid,
        Duration::from_millis(args.sample_ms),
        sampling.clone(),
        peak.clone(),
    ));

    eprintln!(
        "{} uploaders sending {} files of {} bytes each…",
        args.parallel, args.uploads, args.size
    );
    let latency = Arc::new(Mutex::new(report::histogram()));
    let failures = Arc::new(Failures::default());
    let stored = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let uploaders = tokens
        .into_iter()
        .zip(rooms)
        .zip(bodies)
        .map(|((token, room), bodies)| {
            let target = target.clone();
            let latency = latency.clone();
            let failures = failures.clone();
            let stored = stored.clone();
            async move {
                for (n, body) in bodies.into_iter().enumerate() {
                    let sent = Instant::now();
                    match upload(&target, &token, &room, &format!("bench-{n}.bin"), body).await {
                        Ok(()) => {
                            report::record(&mut *latency.lock().await, sent.elapsed());
                            stored.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => failures.add(&err),
                    }
                }
            }
        });
    future::join_all(uploaders).await;
    let elapsed = started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let rss_after = report::rss_kib(args.server_pid);

    let stored = stored.load(Ordering::Relaxed);
    let mib = (stored as f64 * args.size as f64) / (1024.0 * 1024.0);
    let mib_per_sec = if elapsed > 0.0 { mib / elapsed } else { 0.0 };
    let latency = latency.lock().await;
    let peak_kib = args.server_pid.map(|_| peak.load(Ordering::Relaxed));
    let mut summary = format!(
        "{stored} of {} uploads of {} bytes stored in {elapsed:.2} s: {mib_per_sec:.1} MiB/s\n\
         per upload: {}",
        args.parallel * args.uploads,
        args.size,
        report::latency_line(&latency),
    );
    if let (Some(before), Some(peak)) = (rss_before, peak_kib) {
        summary.push_str(&format!(
            "\nserver memory: {:.1} MiB before, {:.1} MiB at its peak",
            before as f64 / 1024.0,
            peak as f64 / 1024.0
        ));
    }
    if failures.count() > 0 {
        summary.push_str(&format!(
            "\n{} uploads failed; the first: {}",
            failures.count(),
            failures.first().unwrap_or_default()
        ));
    }
    report::print(
        &summary,
        &json!({
            "scenario": "files",
            "target": target.kind_name(),
            "size_bytes": args.size,
            "parallel": args.parallel,
            "uploads": args.parallel * args.uploads,
            "stored": stored,
            "failed": failures.count(),
            "first_failure": failures.first(),
            "seconds": elapsed,
            "mib_per_sec": mib_per_sec,
            "upload_latency": report::latency_json(&latency),
            "server_rss_kib_before": rss_before,
            "server_rss_kib_peak": peak_kib,
            "server_rss_kib_after": rss_after,
        }),
    );
    if failures.count() > 0 {
        bail!("{} uploads failed", failures.count());
    }
    Ok(())
}

/// One upload, answered 201 within [`UPLOAD_LIMIT`].
async fn upload(
    target: &Target,
    token: &str,
    room: &str,
    name: &str,
    body: Vec<u8>,
) -> anyhow::Result<()> {
    let response = target
        .http()
        .post(format!("{}/api/rooms/{room}/files", target.base()))
        .query(&[("name", name)])
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(body)
        .timeout(UPLOAD_LIMIT)
        .send()
        .await
        .with_context(|| format!("uploading {name} to {room}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::CREATED {
        let text = response.text().await.unwrap_or_default();
        bail!("uploading {name} to {room}: {status} {text}");
    }
    Ok(())
}

/// Reads the server's memory every `every` while `sampling`, keeping the largest reading.
async fn sample_memory(
    pid: Option<u32>,
    every: Duration,
    sampling: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
) {
    let mut ticker = tokio::time::interval(every);
    while sampling.load(Ordering::Relaxed) {
        ticker.tick().await;
        if let Some(kib) = report::rss_kib(pid) {
            peak.fetch_max(kib, Ordering::Relaxed);
        }
    }
}

/// `len` pseudo-random bytes, different for every seed.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    SplitMix(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5A1A_F11E).bytes(len)
}

#[cfg(test)]
mod tests {
    use super::random_bytes;

    #[test]
    fn bodies_have_their_length_and_differ_by_seed() {
        let one = random_bytes(1000, 1);
        assert_eq!(one.len(), 1000);
        assert_ne!(one, random_bytes(1000, 2));
        assert_eq!(one, random_bytes(1000, 1));
        // Not text: the server must not take it for something to decode.
        assert!(one.iter().any(|b| *b < 0x09));
    }
}
