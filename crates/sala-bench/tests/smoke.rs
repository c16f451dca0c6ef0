//! The load generator against a real Sala node, small and short: it must finish, lose
//! nothing and print its JSON line. A smoke run on a debug build asserts no speed.

use std::process::Command;

use sala_server::config::Config;
use sala_server::startup::App;
use serde_json::Value;

/// Runs a small fan-out over `protocol` against a fresh node and checks its report.
async fn fanout_delivers_everything_and_reports_json(protocol: &'static str) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(data_dir.path().to_path_buf());
    config.send_rate = 1e9;
    config.send_burst = u32::MAX;
    let app = App::build(config).await.unwrap();
    let server = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_token();
    let serving = tokio::spawn(app.run());

    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sala-bench"))
            .args([
                "fanout",
                "--server",
                &server,
                "--protocol",
                protocol,
                "--subscribers",
                "20",
                "--publishers",
                "3",
            ])
            .args(["--duration", "2", "--drain", "10"])
            .output()
            .expect("sala-bench runs")
    })
    .await
    .unwrap();
    shutdown.cancel();
    serving.await.unwrap().unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sala-bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(stdout.lines().last().expect("a final line")).expect("JSON");
    assert_eq!(report["scenario"], "fanout");
    let target = if protocol == "ws" {
        "sala"
    } else {
        "sala (socket.io)"
    };
    assert_eq!(report["target"], target);
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
}

#[tokio::test]
async fn fanout_over_ws_delivers_everything_and_reports_json() {
    fanout_delivers_everything_and_reports_json("ws").await;
}

#[tokio::test]
async fn fanout_over_socket_io_delivers_everything_and_reports_json() {
    fanout_delivers_everything_and_reports_json("socketio").await;
}

#[test]
fn refuses_a_non_loopback_server() {
    let output = Command::new(env!("CARGO_BIN_EXE_sala-bench"))
        .args([
            "fanout",
            "--server",
            "http://10.1.2.3:3000",
            "--duration",
            "1",
        ])
        .output()
        .expect("sala-bench runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}
