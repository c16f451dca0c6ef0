//! The search scenario (issue 21, Sala only): fills `--rooms` rooms with `--messages`
//! messages of generated text over `/ws` (each acked, so stored and indexed), then times
//! `GET /api/search` for a few kinds of query, `--queries` of each, `--concurrency` in
//! flight, as the member of every room. Sizes search: its latency over a large store,
//! where the text index does the work.
//!
//! The text is made to be searched like a real chat's: words of three syllables from a
//! vocabulary of 8,000, picked with a Zipf-like skew (the commonest word is in about half of
//! all messages, a word from the rare half in a few hundred of a million), so words share
//! trigrams as real words do; every tenth message is CJK text without spaces. The kinds:
//!
//! - `common`: one of the five commonest words (a page fills from the newest messages);
//! - `rare`: a word of the rarer half (its few hits are spread over the whole history);
//! - `phrase`: two common words in a row, quoted;
//! - `absent`: four syllables, a word no message has, though each of its trigrams is
//!   common (the index's worst case: every candidate is read and rejected);
//! - `short`: one syllable, two letters: too short for a trigram, so the messages are
//!   scanned newest first until the page fills;
//! - `cjk`: three characters of the CJK text.
//!
//! `--no-fill` searches rooms an earlier run filled (the same `--rooms`, `--room-prefix`
//! and `--user-prefix`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::frames::{self, Seen};
use crate::random::SplitMix;
use crate::report;
use crate::setup;
use crate::target::{Dial, Kind, Protocol, Target, TargetArgs};

/// Most time one connection may take to connect, authenticate and join.
const JOIN_LIMIT: Duration = Duration::from_secs(30);
/// Most time filling may take, all rooms together.
const FILL_LIMIT: Duration = Duration::from_secs(1800);
/// Most time one search may take.
const QUERY_LIMIT: Duration = Duration::from_secs(60);
/// The page size asked for, the API's default.
const PAGE: usize = 50;
/// From this many messages on, common words and single syllables are sure to fill a page
/// (each is in a tenth of the messages or more), so a page they do not fill is wrong.
const FULL_PAGES_FROM: u64 = 2_000;

const SYLLABLES: [&str; 20] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pu", "da", "fe", "gi", "ho", "ju", "ba",
    "co", "wy", "xe", "qi",
];
/// Words of three syllables: every combination.
const VOCABULARY: u64 = 20 * 20 * 20;
/// CJK Unified Ideographs from U+4E00: the characters of the CJK messages.
const CJK_CHARACTERS: u64 = 500;

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Messages to store before searching, all rooms together.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Rooms the messages are spread over (one filling connection each).
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Room names are `<prefix>-0`, `<prefix>-1`, …
    #[arg(long, default_value = "bench-search")]
    room_prefix: String,
    /// Sends in flight on each filling connection.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Searches of each kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Searches in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Search the rooms an earlier run filled, without sending.
    #[arg(long)]
    no_fill: bool,
    /// PID of the server, to report its memory (VmRSS) after filling and after searching.
    #[arg(long)]
    server_pid: Option<u32>,
}

impl SearchArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.rooms == 0 || self.window == 0 || self.queries == 0 || self.concurrency == 0 {
            bail!("--rooms, --window, --queries and --concurrency must be at least 1");
        }
        Ok(())
    }
}

/// What is searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueryKind {
    Common,
    Rare,
    Phrase,
    Absent,
    Short,
    Cjk,
}

impl QueryKind {
    const ALL: [Self; 6] = [
        Self::Common,
        Self::Rare,
        Self::Phrase,
        Self::Absent,
        Self::Short,
        Self::Cjk,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Rare => "rare",
            Self::Phrase => "phrase",
            Self::Absent => "absent",
            Self::Short => "short",
            Self::Cjk => "cjk",
        }
    }

    fn query(self, random: &mut SplitMix) -> String {
        match self {
            Self::Common => word(random.below(5)),
            Self::Rare => word(VOCABULARY / 2 + random.below(VOCABULARY / 2)),
            Self::Phrase => format!("\"{} {}\"", word(random.below(3)), word(random.below(3))),
            Self::Absent => format!("{}{}", word(random.below(20)), syllable(random.below(20))),
            Self::Short => syllable(random.below(20)).to_owned(),
            Self::Cjk => (0..3).map(|_| cjk_character(random.below(10))).collect(),
        }
    }
}

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    args.check()?;
    let target = Target::new(args.target.clone())?;
    if target.kind() != Kind::Sala {
        bail!("the search scenario needs Sala: the reference servers keep no messages");
    }
    let token = target.token(&target.username(0)).await?;
    let rooms: Vec<String> = (0..args.rooms)
        .map(|n| format!("{}-{n}", args.room_prefix))
        .collect();

    let mut fill = Value::Null;
    if !args.no_fill {
        setup::create_rooms(&target, std::slice::from_ref(&token), &rooms, 8).await?;
        eprintln!(
            "storing {} messages in {} rooms…",
            args.messages, args.rooms
        );
        let started = Instant::now();
        let filling = rooms.iter().enumerate().map(|(n, room)| {
            let share = args.messages / args.rooms as u64
                + u64::from((n as u64) < args.messages % args.rooms as u64);
            fill_room(&target, &token, room, n as u64, share, args.window)
        });
        let stored: Vec<u64> =
            tokio::time::timeout(FILL_LIMIT, futures_util::future::try_join_all(filling))
                .await
                .context("filling took longer than 30 minutes")??;
        let secs = started.elapsed().as_secs_f64();
        let stored: u64 = stored.iter().sum();
        eprintln!(
            "stored {stored} in {secs:.1} s ({:.0} msg/s)",
            report::per_sec(stored, secs)
        );
        fill = json!({
            "messages": stored,
            "seconds": secs,
            "messages_per_sec": report::per_sec(stored, secs),
        });
    }
    let rss_filled = report::rss_kib(args.server_pid);

    eprintln!(
        "{} searches of each of {} kinds, {} in flight…",
        args.queries,
        QueryKind::ALL.len(),
        args.concurrency
    );
    let mut random = SplitMix(21);
    let plan: Vec<(QueryKind, String)> = (0..args.queries)
        .flat_map(|_| QueryKind::ALL)
        .map(|kind| (kind, kind.query(&mut random)))
        .collect();
    let token = Arc::new(token);
    let answers: Vec<(QueryKind, anyhow::Result<(Duration, usize)>)> = stream::iter(plan)
        .map(|(kind, query)| {
            let target = target.clone();
            let token = token.clone();
            async move { (kind, search(&target, &token, &query).await) }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;

    let mut summary = String::new();
    let mut kinds = serde_json::Map::new();
    let mut all = report::histogram();
    let mut surprises = Vec::new();
    for kind in QueryKind::ALL {
        let mut latency: Histogram<u64> = report::histogram();
        let mut hits = Vec::new();
        for (_, answer) in answers.iter().filter(|(k, _)| *k == kind) {
            let (elapsed, found) = match answer {
                Ok(answer) => *answer,
                Err(err) => bail!("a {} search failed: {err:#}", kind.name()),
            };
            report::record(&mut latency, elapsed);
            report::record(&mut all, elapsed);
            hits.push(found);
        }
        let mean_hits = hits.iter().sum::<usize>() as f64 / hits.len().max(1) as f64;
        // What the generated text guarantees, whatever the store.
        let full_pages = hits.iter().filter(|&&n| n == PAGE).count();
        if kind == QueryKind::Absent && hits.iter().any(|&n| n > 0) {
            surprises.push("an absent word was found".to_owned());
        }
        if matches!(kind, QueryKind::Common | QueryKind::Short)
            && args.messages >= FULL_PAGES_FROM
            && full_pages < hits.len()
        {
            surprises.push(format!("a {} search did not fill its page", kind.name()));
        }
        summary.push_str(&format!(
            "{:<7} {} (mean {mean_hits:.1} hits)\n",
            kind.name(),
            report::latency_line(&latency)
        ));
        let mut figures = report::latency_json(&latency);
        figures["mean_hits"] = json!(mean_hits);
        kinds.insert(kind.name().to_owned(), figures);
    }
    summary.push_str(&format!("all     {}", report::latency_line(&all)));
    report::print(
        &summary,
        &json!({
            "scenario": "search",
            "target": target.kind_name(),
            "rooms": args.rooms,
            "messages": args.messages,
            "fill": fill,
            "concurrency": args.concurrency,
            "queries_per_kind": args.queries,
            "latency": report::latency_json(&all),
            "kinds": kinds,
            "server_rss_kib_filled": rss_filled,
            "server_rss_kib_after": report::rss_kib(args.server_pid),
            "surprises": surprises,
        }),
    );
    if !surprises.is_empty() {
        bail!("the answers were wrong: {}", surprises.join("; "));
    }
    Ok(())
}

/// Stores `count` messages in `room` over one connection, `window` unacked at a time;
/// returns how many were acked. Any refusal ends the fill with its reason.
async fn fill_room(
    target: &Target,
    token: &str,
    room: &str,
    seed: u64,
    count: u64,
    window: usize,
) -> anyhow::Result<u64> {
    let joined = setup::connect_and_join(target, token, room, None, Dial::default(), JOIN_LIMIT)
        .await
        .with_context(|| format!("joining {room}"))?;
    let (mut sink, mut stream) = joined.socket.split();
    let mut random = SplitMix(seed.wrapping_add(1) << 20);
    let (mut sent, mut acked) = (0u64, 0u64);
    while acked < count {
        while sent < count && sent - acked < window as u64 {
            sent += 1;
            let frame = Protocol::Ws.send_acked(
                room,
                &message_text(&mut random, sent),
                &format!("s{seed}-{sent}"),
                sent,
            );
            sink.send(Message::text(frame)).await?;
        }
        let text = match stream.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
            None => bail!("the server closed {room}'s connection after {acked} acks"),
        };
        match frames::classify(text.as_str(), Protocol::Ws) {
            Seen::Ack { .. } => acked += 1,
            Seen::Error { .. } => bail!(
                "a send to {room} was refused: {} (start the server with a high \
                 --send-rate and --send-burst)",
                text.as_str()
            ),
            _ => {}
        }
    }
    let _ = sink.close().await;
    Ok(acked)
}

/// One search, its time and the hits on its page.
async fn search(target: &Target, token: &str, query: &str) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let response = target
        .http()
        .get(format!("{}/api/search", target.base()))
        .query(&[("q", query), ("limit", &PAGE.to_string())])
        .bearer_auth(token)
        .timeout(QUERY_LIMIT)
        .send()
        .await
        .with_context(|| format!("searching {query:?}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("searching {query:?}: {status}"))?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        bail!("searching {query:?}: {status} {body}");
    }
    let hits = body["hits"]
        .as_array()
        .with_context(|| format!("searching {query:?}: no hits in {body}"))?
        .len();
    Ok((elapsed, hits))
}

/// Message `seq` of a room: CJK text for every tenth, else words.
fn message_text(random: &mut SplitMix, seq: u64) -> String {
    if seq.is_multiple_of(10) {
        let len = 8 + random.below(13);
        (0..len)
            .map(|_| cjk_character(skewed(random, CJK_CHARACTERS)))
            .collect()
    } else {
        let len = 5 + random.below(10);
        let words: Vec<String> = (0..len).map(|_| word(skewed(random, VOCABULARY))).collect();
        words.join(" ")
    }
}

/// A rank in `0..bound`, rank `k` about `1 / (k + 1)` as likely as rank 0 (log-uniform).
fn skewed(random: &mut SplitMix, bound: u64) -> u64 {
    let rank = ((bound as f64 + 1.0).ln() * random.unit()).exp() as u64;
    rank.saturating_sub(1).min(bound - 1)
}

fn syllable(n: u64) -> &'static str {
    SYLLABLES[(n % 20) as usize]
}

fn word(rank: u64) -> String {
    [rank, rank / 20, rank / 400]
        .iter()
        .map(|&n| syllable(n))
        .collect()
}

fn cjk_character(rank: u64) -> char {
    char::from_u32(0x4E00 + u32::try_from(rank % CJK_CHARACTERS).unwrap_or(0))
        .expect("U+4E00 onward are characters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_distinct_and_absent_words_never_occur() {
        let words: std::collections::HashSet<String> = (0..VOCABULARY).map(word).collect();
        assert_eq!(words.len(), VOCABULARY as usize);
        let mut random = SplitMix(5);
        for seq in 1..2000 {
            let text = message_text(&mut random, seq);
            assert!(!text.is_empty() && text.chars().count() <= 4000);
            // Every word has six letters, so eight letters in a row never occur.
            let absent = QueryKind::Absent.query(&mut random);
            assert!(!text.contains(&absent), "{absent} in {text}");
        }
    }

    #[test]
    fn the_skew_favours_low_ranks() {
        let mut random = SplitMix(9);
        let picks: Vec<u64> = (0..10_000)
            .map(|_| skewed(&mut random, VOCABULARY))
            .collect();
        assert!(picks.iter().all(|&k| k < VOCABULARY));
        let zeros = picks.iter().filter(|&&k| k == 0).count();
        let rare = picks.iter().filter(|&&k| k >= VOCABULARY / 2).count();
        assert!(zeros > 500, "rank 0 picked {zeros} times");
        assert!(rare < 1000, "the rare half picked {rare} times");
    }
}
