//! The load generator against a real Sala node, small and short: every scenario must
//! finish, lose nothing, break no rule and print its JSON line. A smoke run on a debug
//! build asserts no speed.

use std::process::Command;

use sala_server::config::Config;
use sala_server::startup::App;
use serde_json::Value;

/// Runs `sala-bench <args> --server <a fresh node>` and returns its final JSON line,
/// after checking that it succeeded.
async fn run_bench(args: &[&str]) -> Value {
    let stdout = run_bench_stdout(args).await;
    serde_json::from_str(stdout.lines().last().expect("a final line")).expect("JSON")
}

/// Runs `sala-bench <args> --server <a fresh node>` and returns its standard output, after
/// checking that it succeeded.
async fn run_bench_stdout(args: &[&str]) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(data_dir.path().to_path_buf());
    config.send_rate = 1e9;
    config.send_burst = u32::MAX;
    config.max_connections_per_user = usize::MAX;
    config.rooms_per_hour = u32::MAX;
    // Its logins run 100 at a time from one address; attempts in flight count.
    config.login_failures_per_address = u32::MAX;
    config.command_rate = 1e9;
    config.command_burst = u32::MAX;
    let app = App::build(config).await.unwrap();
    let server = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_token();
    let serving = tokio::spawn(app.run());

    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sala-bench"))
            .args(&args)
            .args(["--server", &server])
            .output()
            .expect("sala-bench runs")
    })
    .await
    .unwrap();
    shutdown.cancel();
    serving.await.unwrap().unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sala-bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn target_name(protocol: &str) -> &'static str {
    if protocol == "ws" {
        "sala"
    } else {
        "sala (socket.io)"
    }
}

/// Runs a small fan-out over `protocol` against a fresh node and checks its report.
async fn fanout_delivers_everything_and_reports_json(protocol: &'static str) {
    let report = run_bench(&[
        "fanout",
        "--protocol",
        protocol,
        "--subscribers",
        "20",
        "--publishers",
        "3",
        "--duration",
        "2",
        "--drain",
        "10",
    ])
    .await;

    assert_eq!(report["scenario"], "fanout");
    assert_eq!(report["target"], target_name(protocol));
    assert_eq!(report["connections"], 23);
    let sent = report["messages_sent"].as_u64().unwrap();
    assert!(sent > 0, "{report}");
    assert_eq!(report["deliveries_expected"].as_u64(), Some(sent * 23));
    assert_eq!(
        report["deliveries_received"], report["deliveries_expected"],
        "{report}"
    );
    assert_eq!(report["error_frames"], 0);
    assert_eq!(report["connections_dropped"], 0);
    assert!(report["latency"]["p50_ms"].as_f64().unwrap() > 0.0);
    // The server's own counters, scraped before and after, account for every message.
    let server = &report["server_metrics"];
    assert_eq!(
        server["messages_stored"].as_f64(),
        Some(sent as f64),
        "{report}"
    );
    assert!(server["commits"].as_f64().unwrap() >= 1.0, "{report}");
    assert_eq!(server["slow_consumers_closed"], 0.0, "{report}");
}

#[tokio::test]
async fn fanout_over_ws_delivers_everything_and_reports_json() {
    fanout_delivers_everything_and_reports_json("ws").await;
}

#[tokio::test]
async fn fanout_over_socket_io_delivers_everything_and_reports_json() {
    fanout_delivers_everything_and_reports_json("socketio").await;
}

/// Fan-out with a share of changes (issue 19): every message and every change acked (the
/// probes' acks not counted as changes), every message delivered to everyone, and the
/// changes delivered too.
#[tokio::test]
async fn fanout_with_changes_acks_every_change_and_delivers_them() {
    let report = run_bench(&[
        "fanout",
        "--subscribers",
        "20",
        "--publishers",
        "3",
        "--duration",
        "2",
        "--drain",
        "10",
        "--changes",
        "30",
    ])
    .await;

    assert_eq!(report["changes_percent"], 30);
    let sent = report["messages_sent"].as_u64().unwrap();
    let changes = report["changes_sent"].as_u64().unwrap();
    assert!(sent > 0 && changes > 0, "{report}");
    assert_eq!(report["messages_acked"].as_u64(), Some(sent), "{report}");
    assert_eq!(report["changes_acked"].as_u64(), Some(changes), "{report}");
    assert_eq!(report["undelivered"], 0, "{report}");
    let updates = report["update_deliveries"].as_u64().unwrap();
    // A change sent last may still be on its way when the messages have all arrived.
    assert!(updates > 0, "changes reach the members: {report}");
    assert!(updates <= changes * 23, "{report}");
    assert_eq!(report["error_frames"], 0);
}

/// Runs a small rooms scenario over `protocol`: every message acked and delivered.
async fn rooms_acks_and_delivers_everything(protocol: &'static str) {
    let report = run_bench(&[
        "rooms",
        "--protocol",
        protocol,
        "--rooms",
        "6",
        "--members",
        "3",
        "--users",
        "6",
        "--duration",
        "2",
        "--drain",
        "10",
    ])
    .await;

    assert_eq!(report["scenario"], "rooms");
    assert_eq!(report["target"], target_name(protocol));
    assert_eq!(report["connections"], 18);
    assert_eq!(report["publishers"], 6);
    let counted_as = if protocol == "ws" {
        "ack frame"
    } else {
        "ack callback"
    };
    assert_eq!(report["acks_counted_as"], counted_as);
    let sent = report["messages_sent"].as_u64().unwrap();
    assert!(sent > 0, "{report}");
    assert_eq!(report["messages_acked"].as_u64(), Some(sent), "{report}");
    assert_eq!(report["unacked"], 0);
    assert_eq!(report["deliveries_expected"].as_u64(), Some(sent * 3));
    assert_eq!(report["undelivered"], 0, "{report}");
    assert_eq!(report["error_frames"], 0);
    assert_eq!(report["connections_dropped"], 0);
    assert!(report["ack_latency"]["p50_ms"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn rooms_over_ws_acks_and_delivers_everything() {
    rooms_acks_and_delivers_everything("ws").await;
}

#[tokio::test]
async fn rooms_over_socket_io_acks_and_delivers_everything() {
    rooms_acks_and_delivers_everything("socketio").await;
}

#[tokio::test]
async fn idle_holds_every_connection_from_two_source_addresses() {
    let report = run_bench(&[
        "idle",
        "--connections",
        "40",
        "--users",
        "4",
        "--sources",
        "2",
        "--settle",
        "0",
        "--hold",
        "1",
    ])
    .await;

    assert_eq!(report["scenario"], "idle");
    assert_eq!(report["connections_open"], 40, "{report}");
    assert_eq!(report["connect_failures"], 0);
    assert_eq!(report["sources"], 2);
    assert_eq!(report["joins_confirmed"], true);
    assert_eq!(report["dropped_while_held"], 0);
    assert_eq!(report["error_frames"], 0);
    assert_eq!(report["connect_latency"]["samples"], 40);
}

#[tokio::test]
async fn churn_connects_every_attempt_and_the_steady_members_lose_nothing() {
    let report = run_bench(&[
        "churn",
        "--connections-per-sec",
        "20",
        "--duration",
        "2",
        "--lifetime-ms",
        "300",
        "--users",
        "4",
        "--subscribers",
        "5",
        "--rate",
        "20",
    ])
    .await;

    assert_eq!(report["scenario"], "churn");
    let attempted = report["attempted"].as_u64().unwrap();
    assert!(attempted > 0, "{report}");
    assert_eq!(report["succeeded"].as_u64(), Some(attempted), "{report}");
    assert_eq!(report["failed"], 0);
    assert_eq!(report["skipped_at_open_file_limit"], 0);
    assert_eq!(report["dropped_early"], 0);
    assert_eq!(report["error_frames"], 0);
    assert_eq!(report["connect_latency_ends_at"], "joined");
    let steady = &report["steady"];
    assert!(steady["messages_sent"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(steady["undelivered"], 0, "{report}");
    assert_eq!(steady["error_frames"], 0);
    assert_eq!(steady["connections_dropped"], 0);
}

#[tokio::test]
async fn history_resumes_are_complete_while_the_room_is_busy() {
    let report = run_bench(&[
        "history",
        "--backlog",
        "300",
        "--joiners",
        "3",
        "--duration",
        "2",
        "--rate",
        "20",
    ])
    .await;

    assert_eq!(report["scenario"], "history");
    assert!(report["joins"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["history_errors"], 0, "{report}");
    assert_eq!(report["join_failures"], 0, "{report}");
    assert!(report["messages_per_join"].as_f64().unwrap() > 0.0);
    assert!(report["background"]["messages_sent"].as_u64().unwrap() > 0);
    assert_eq!(report["background"]["error_frames"], 0);
}

#[tokio::test]
async fn files_stores_every_upload_and_reads_the_server_memory() {
    // The node runs in this process, so its memory is this process's.
    let pid = std::process::id().to_string();
    let report = run_bench(&[
        "files",
        "--size",
        "300000",
        "--parallel",
        "3",
        "--uploads",
        "2",
        "--server-pid",
        &pid,
    ])
    .await;

    assert_eq!(report["scenario"], "files");
    assert_eq!(report["uploads"], 6, "{report}");
    assert_eq!(report["stored"], 6, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["upload_latency"]["samples"], 6, "{report}");
    assert!(report["mib_per_sec"].as_f64().unwrap() > 0.0, "{report}");
    let before = report["server_rss_kib_before"].as_u64().unwrap();
    assert!(
        report["server_rss_kib_peak"].as_u64().unwrap() >= before,
        "{report}"
    );
}

#[tokio::test]
async fn search_fills_the_rooms_and_answers_every_kind_rightly() {
    let report = run_bench(&[
        "search",
        "--messages",
        "3000",
        "--rooms",
        "3",
        "--queries",
        "4",
    ])
    .await;

    assert_eq!(report["scenario"], "search");
    assert_eq!(report["fill"]["messages"], 3000, "{report}");
    assert_eq!(report["surprises"], serde_json::json!([]), "{report}");
    let kinds = report["kinds"].as_object().unwrap();
    assert_eq!(kinds.len(), 6, "{report}");
    for (kind, figures) in kinds {
        assert_eq!(figures["samples"], 4, "{kind}: {report}");
    }
    // What the generated text guarantees: a common word fills its page, an absent word
    // finds nothing.
    assert_eq!(kinds["common"]["mean_hits"], 50.0, "{report}");
    assert_eq!(kinds["absent"]["mean_hits"], 0.0, "{report}");
}

#[tokio::test]
async fn soak_loses_nothing_and_reports_every_interval() {
    // The node runs in this process, so its memory is this process's.
    let pid = std::process::id().to_string();
    let stdout = run_bench_stdout(&[
        "soak",
        "--connections",
        "50",
        "--rooms",
        "5",
        "--rate",
        "20",
        "--duration",
        "4",
        "--interval",
        "1",
        "--churn-per-sec",
        "5",
        "--churn-lifetime-ms",
        "300",
        "--server-pid",
        &pid,
    ])
    .await;
    let report: Value =
        serde_json::from_str(stdout.lines().last().expect("a final line")).expect("JSON");

    let periodic = stdout
        .lines()
        .filter(|line| line.starts_with("soak @ "))
        .count();
    assert_eq!(periodic, 4, "{stdout}");
    assert!(
        stdout.contains("server RSS trend after warm-up"),
        "{stdout}"
    );
    assert_eq!(report["scenario"], "soak");
    assert_eq!(report["passed"], true, "{report}");
    let acked = report["messages_acked"].as_u64().unwrap();
    assert!(acked > 0, "{report}");
    assert_eq!(report["unacked"], 0, "{report}");
    // Every room has 10 members, each owed every acked message of its room.
    assert_eq!(report["deliveries_owed"].as_u64(), Some(acked * 10));
    assert_eq!(
        report["deliveries_received"], report["deliveries_owed"],
        "{report}"
    );
    assert_eq!(report["lost"], 0);
    assert_eq!(report["duplicates"], 0);
    assert_eq!(report["misrouted"], 0);
    assert_eq!(report["error_frames"], 0);
    assert_eq!(report["connections_dropped"], 0);
    assert_eq!(report["windows"].as_array().unwrap().len(), 4);
    assert_eq!(report["server_rss_series_kib"].as_array().unwrap().len(), 4);
    assert!(
        report["server_rss_trend"]["growth_pct"].is_f64(),
        "{report}"
    );
    let churn = &report["churn"];
    let attempted = churn["attempted"].as_u64().unwrap();
    assert!(attempted > 0, "{report}");
    assert_eq!(churn["succeeded"].as_u64(), Some(attempted), "{report}");
    assert_eq!(churn["failed"], 0);
    assert!(churn["closed_cleanly"].as_u64().unwrap() > 0, "{report}");
    assert!(churn["socket_dropped"].as_u64().unwrap() > 0, "{report}");
}

/// Runs the bench with `args` where no server is needed, expecting a refusal that
/// mentions `reason`.
fn refuses(args: &[&str], reason: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_sala-bench"))
        .args(args)
        .output()
        .expect("sala-bench runs");
    assert!(!output.status.success(), "{args:?} ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(reason), "{args:?}: {stderr}");
}

#[test]
fn refuses_a_non_loopback_server() {
    refuses(
        &[
            "fanout",
            "--server",
            "http://10.1.2.3:3000",
            "--duration",
            "1",
        ],
        "loopback",
    );
}

#[test]
fn refuses_history_where_it_cannot_be_checked() {
    refuses(&["history", "--target", "peer"], "keep no history");
    refuses(&["history", "--protocol", "socketio"], "no `since`");
}

#[test]
fn refuses_flags_that_make_no_run() {
    refuses(&["idle", "--connections", "0"], "--connections");
    refuses(
        &["rooms", "--members", "2", "--publishers-per-room", "3"],
        "--publishers-per-room",
    );
    refuses(
        &["churn", "--connections-per-sec", "0"],
        "--connections-per-sec",
    );
    refuses(&["idle", "--connections", "1000000"], "open files");
    refuses(&["soak", "--target", "peer"], "Sala only");
    refuses(&["files", "--target", "peer"], "needs Sala");
    refuses(&["files", "--size", "0"], "--size");
    refuses(&["search", "--target", "peer"], "needs Sala");
    refuses(&["search", "--queries", "0"], "--queries");
    refuses(
        &["soak", "--connections", "3", "--rooms", "5"],
        "--connections",
    );
    refuses(
        &["soak", "--duration", "100000000"],
        "--duration must be between",
    );
}
