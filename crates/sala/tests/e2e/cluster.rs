//! Several nodes (SPEC §7): real `sala` processes sharing a real PostgreSQL database (or a
//! MariaDB one) and a real Redis, as `scripts/test.sh` starts them (`SALA_TEST_POSTGRES_URL`,
//! `SALA_TEST_MYSQL_URL`, `SALA_TEST_REDIS_URL`). Each test gets its own database and its own Redis prefix, so
//! tests run side by side without seeing each other. The Redis-restart test starts a Redis
//! server of its own, since it stops it.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use sala_store_postgres::test_support::TempDatabase;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{PASSWORD, Server, Socket, WAIT, token};

/// The shared secret of split roles (SPEC §7); any 32+ bytes.
const JWT_SECRET: &str = "cluster-test-secret-0123456789abcdef";
/// SPEC-level bound for a dead node's users to be shown disconnected.
const DEAD_NODE_BOUND: Duration = Duration::from_secs(30);

fn redis_url() -> String {
    std::env::var("SALA_TEST_REDIS_URL")
        .expect("SALA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis")
}

/// A cluster prefix of its own for each test.
fn prefix(test: &str) -> String {
    format!("test-{test}-{}", std::process::id())
}

/// Starts a node of `role` on the shared database and Redis.
fn node(dir: &Path, role: &str, database: &str, redis: &str, prefix: &str) -> Server {
    Server::start(
        dir,
        &[
            "--role",
            role,
            "--database-url",
            database,
            "--redis-url",
            redis,
            "--redis-prefix",
            prefix,
            "--jwt-secret",
            JWT_SECRET,
        ],
    )
}

async fn register(http: &reqwest::Client, base: &str, username: &str) {
    let response = http
        .post(format!("{base}/api/register"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// A `/ws` connection past its `ready`, not yet in any room.
async fn open(base: &str, token: &str) -> Socket {
    let mut socket = crate::common::open(base, token).await;
    let ready = next(&mut socket).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    socket
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next JSON frame; panics on close or after [`WAIT`].
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(close) => panic!("closed: {close:?}"),
            _ => {}
        }
    }
}

/// Reads frames until one matches; returns it. Panics after `within`.
async fn wait_for(socket: &mut Socket, within: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(within, async {
        loop {
            let frame = next(socket).await;
            if wanted(&frame) {
                return frame;
            }
        }
    })
    .await
    .expect("the awaited frame in time")
}

async fn join(socket: &mut Socket, room: &str) -> Value {
    send(socket, json!({"type": "join", "room": room})).await;
    wait_for(socket, WAIT, |f| f["type"] == "joined").await
}

/// Sends one message and returns its id from the ack.
async fn say(socket: &mut Socket, room: &str, text: &str, client_id: &str) -> i64 {
    send(
        socket,
        json!({"type": "send", "room": room, "text": text, "client_id": client_id}),
    )
    .await;
    let ack = wait_for(socket, WAIT, |f| {
        f["type"] == "ack" && f["client_id"] == client_id
    })
    .await;
    ack["id"].as_i64().expect("id")
}

/// Waits until `room` counts `online` users on the node (presence arrives over Redis).
async fn await_online(http: &reqwest::Client, base: &str, token: &str, room: &str, online: u64) {
    tokio::time::timeout(WAIT, async {
        loop {
            let room: Value = http
                .get(format!("{base}/api/rooms/{room}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if room["online"] == online {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("presence reached the other node");
}

/// One sample of the node's `/metrics`, which must be there.
async fn metric(http: &reqwest::Client, base: &str, sample: &str) -> f64 {
    crate::common::metric(http, base, sample)
        .await
        .unwrap_or_else(|| panic!("no {sample} in /metrics"))
}

/// Reads the close frame; returns its code.
async fn close_code(socket: &mut Socket) -> u16 {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(close)))) => return u16::from(close.code),
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed in time")
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis"]
async fn one_auth_node_and_two_chat_nodes_work_as_one_server() {
    let database = TempDatabase::create().await;
    roles_work_as_one_server(&database.url, "roles").await;
    database.drop_now().await;
}

/// The same on MySQL (issue 22): MariaDB from Debian, as `scripts/test.sh` starts it.
#[tokio::test]
#[ignore = "needs MariaDB and Redis"]
async fn one_auth_node_and_two_chat_nodes_work_as_one_server_on_mysql() {
    let database = sala_store_mysql::test_support::TempDatabase::create().await;
    roles_work_as_one_server(&database.url, "roles-mysql").await;
    database.drop_now().await;
}

/// An auth node and two chat nodes on one database and one Redis: accounts, rooms,
/// presence, messages in commit order, typing and logout all cross nodes.
async fn roles_work_as_one_server(database_url: &str, test: &str) {
    let (redis, prefix) = (redis_url(), prefix(test));
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let auth = node(dirs[0].path(), "auth", database_url, &redis, &prefix);
    let chat_a = node(dirs[1].path(), "chat", database_url, &redis, &prefix);
    let chat_b = node(dirs[2].path(), "chat", database_url, &redis, &prefix);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();

    // Accounts at the auth node only; chat at the chat nodes only.
    register(&http, &auth.base, "ann").await;
    register(&http, &auth.base, "bob").await;
    let ann = token(&http, &auth.base, "ann", false).await;
    let bob = token(&http, &auth.base, "bob", false).await;
    let refused = http
        .post(format!("{}/api/login", chat_a.base))
        .json(&json!({"username": "ann", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404, "chat nodes do not log in");
    let no_ws = http.get(format!("{}/ws", auth.base)).send().await.unwrap();
    assert_eq!(no_ws.status(), 404, "the auth node has no /ws");
    let valid: Value = http
        .get(format!("{}/api/validate_token", auth.base))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(valid["valid"], true, "{valid}");

    // A room made on one chat node is there on the other (shared database).
    let created = http
        .post(format!("{}/api/rooms", chat_a.base))
        .bearer_auth(&ann)
        .json(&json!({"name": "across"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Presence crosses nodes: bob on B sees ann, who is on A, as a member.
    let mut ann_a = open(&chat_a.base, &ann).await;
    join(&mut ann_a, "across").await;
    await_online(&http, &chat_b.base, &bob, "across", 1).await;
    let mut bob_b = open(&chat_b.base, &bob).await;
    let joined = join(&mut bob_b, "across").await;
    assert_eq!(joined["members"], json!(["ann", "bob"]), "{joined}");
    let presence = wait_for(&mut ann_a, WAIT, |f| f["type"] == "presence").await;
    assert_eq!(
        (presence["user"].as_str(), presence["event"].as_str()),
        (Some("bob"), Some("joined"))
    );

    // Messages both ways: each one reaches both users, on both nodes, before the next is
    // sent, so each sees the conversation in order, and ids follow commit order.
    let mut last = 0;
    for n in 0..10 {
        let (sender, client_id) = if n % 2 == 0 {
            (&mut ann_a, format!("a{n}"))
        } else {
            (&mut bob_b, format!("b{n}"))
        };
        let id = say(sender, "across", &format!("message {n}"), &client_id).await;
        assert!(id > last, "ids increase: {id} after {last}");
        last = id;
        for socket in [&mut ann_a, &mut bob_b] {
            let message = wait_for(socket, WAIT, |f| f["type"] == "message").await;
            assert_eq!(message["id"], id, "{message}");
            assert_eq!(message["client_id"], client_id.as_str());
        }
    }

    // Typing crosses nodes.
    send(&mut bob_b, json!({"type": "typing", "room": "across"})).await;
    let typing = wait_for(&mut ann_a, WAIT, |f| f["type"] == "typing").await;
    assert_eq!(typing["user"], "bob");

    // Logout at the auth node closes bob's sockets on both chat nodes.
    let mut bob_a = open(&chat_a.base, &bob).await;
    let logout = http
        .post(format!("{}/api/logout", auth.base))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(close_code(&mut bob_b).await, 1008);
    assert_eq!(close_code(&mut bob_a).await, 1008);
    // And the chat nodes refuse the token from now on (the database says revoked).
    let refused = http
        .get(format!("{}/api/me", chat_b.base))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let gone = wait_for(&mut ann_a, WAIT, |f| f["type"] == "presence").await;
    assert_eq!(
        (gone["user"].as_str(), gone["event"].as_str()),
        (Some("bob"), Some("disconnected"))
    );

    drop((auth, chat_a, chat_b));
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis"]
async fn a_killed_chat_node_shows_its_users_disconnected_and_the_other_keeps_working() {
    let database = TempDatabase::create().await;
    let (redis, prefix) = (redis_url(), prefix("kill"));
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let survivor = node(dirs[0].path(), "all", &database.url, &redis, &prefix);
    let mut victim = node(dirs[1].path(), "all", &database.url, &redis, &prefix);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let ann = token(&http, &survivor.base, "kann", true).await;
    let bob = token(&http, &survivor.base, "kbob", true).await;

    let mut ann_s = open(&survivor.base, &ann).await;
    join(&mut ann_s, "general").await;
    let mut bob_v = open(&victim.base, &bob).await;
    join(&mut bob_v, "general").await;
    let joined = wait_for(&mut ann_s, WAIT, |f| f["type"] == "presence").await;
    assert_eq!(joined["event"], "joined");

    victim.kill();
    drop(bob_v);
    let gone = wait_for(&mut ann_s, DEAD_NODE_BOUND, |f| f["type"] == "presence").await;
    assert_eq!(
        (gone["user"].as_str(), gone["event"].as_str()),
        (Some("kbob"), Some("disconnected"))
    );

    // The survivor keeps serving: a send is acked and delivered, and bob can come back here.
    let id = say(&mut ann_s, "general", "still here", "after-kill").await;
    let mut bob_s = open(&survivor.base, &bob).await;
    send(
        &mut bob_s,
        json!({"type": "join", "room": "general", "since": id - 1}),
    )
    .await;
    let rejoined = wait_for(&mut bob_s, WAIT, |f| f["type"] == "joined").await;
    assert_eq!(rejoined["history"][0]["id"], id, "{rejoined}");

    drop(survivor);
    database.drop_now().await;
}

/// A Redis server of the test's own, on a fixed loopback port so it can come back there.
struct OwnRedis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl OwnRedis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let dir = tempfile::tempdir().unwrap();
        let child = Self::spawn(port, dir.path());
        let redis = Self { child, port, dir };
        redis.await_ready();
        redis
    }

    fn spawn(port: u16, dir: &Path) -> Child {
        let program =
            std::env::var("SALA_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        Command::new(program)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server starts (scripts/test.sh installs it)")
    }

    /// Waits until the port accepts connections (the event that says Redis is up).
    fn await_ready(&self) {
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn restart(&mut self) {
        self.child = Self::spawn(self.port, self.dir.path());
        self.await_ready();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis"]
async fn fan_out_resumes_after_a_redis_restart_and_nothing_acked_is_lost() {
    const MESSAGES: usize = 120;
    let database = TempDatabase::create().await;
    let mut redis = OwnRedis::start();
    let prefix = prefix("restart");
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let node_a = node(dirs[0].path(), "all", &database.url, &redis.url(), &prefix);
    let node_b = node(dirs[1].path(), "all", &database.url, &redis.url(), &prefix);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let ann = token(&http, &node_a.base, "rann", true).await;
    let bob = token(&http, &node_a.base, "rbob", true).await;
    let mut ann_a = open(&node_a.base, &ann).await;
    join(&mut ann_a, "general").await;
    let mut bob_b = open(&node_b.base, &bob).await;
    join(&mut bob_b, "general").await;
    let carol = token(&http, &node_a.base, "rcarol", true).await;
    let mut carol_b = open(&node_b.base, &carol).await;
    // Fan-out works before the restart.
    let first = say(&mut ann_a, "general", "before", "r-before").await;
    let seen = wait_for(&mut bob_b, WAIT, |f| f["type"] == "message").await;
    assert_eq!(seen["id"], first);

    // Traffic, with Redis killed a third of the way through and back at two thirds.
    let mut acked = BTreeSet::from([first]);
    for n in 0..MESSAGES {
        if n == MESSAGES / 3 {
            redis.kill();
            // A logout at node A while node B cannot hear of it.
            let logout = http
                .post(format!("{}/api/logout", node_a.base))
                .bearer_auth(&carol)
                .send()
                .await
                .unwrap();
            assert_eq!(logout.status(), 204);
        }
        if n == 2 * MESSAGES / 3 {
            redis.restart();
        }
        acked.insert(say(&mut ann_a, "general", &format!("m{n}"), &format!("r{n}")).await);
        tokio::time::sleep(Duration::from_millis(10)).await; // steady traffic, not a burst
    }

    // Bob's live connection gets every acked message: live, or caught up from the database
    // once node B is back on Redis.
    let mut received = BTreeSet::from([first]);
    tokio::time::timeout(Duration::from_secs(60), async {
        while received != acked {
            let frame = next(&mut bob_b).await;
            if frame["type"] == "message" {
                let id = frame["id"].as_i64().unwrap();
                assert!(received.insert(id), "message {id} delivered twice");
                assert!(acked.contains(&id), "message {id} was never acked");
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        let missing: Vec<_> = acked.difference(&received).collect();
        panic!("bob never got {} messages: {missing:?}", missing.len())
    });

    // The logout that Redis could not carry reached node B through the database.
    assert_eq!(close_code(&mut carol_b).await, 1008);

    // The outage was real: node A could not publish some messages, and node B caught up
    // from the database after its first start.
    assert!(
        metric(
            &http,
            &node_a.base,
            "sala_cluster_events_total{direction=\"dropped\"}"
        )
        .await
            > 0.0
    );
    assert!(metric(&http, &node_b.base, "sala_cluster_catch_ups_total").await >= 2.0);

    // A client resuming with `since` has every acked message, on either node.
    for base in [&node_a.base, &node_b.base] {
        let mut again = open(base, &bob).await;
        send(
            &mut again,
            json!({"type": "join", "room": "general", "since": first - 1}),
        )
        .await;
        let joined = wait_for(&mut again, WAIT, |f| f["type"] == "joined").await;
        let history: BTreeSet<i64> = joined["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        assert_eq!(history, acked, "resume on {base}");
    }

    drop((node_a, node_b));
    database.drop_now().await;
}

/// Files across nodes (issue 21): two chat nodes keep files in one S3-compatible bucket
/// (moto, started by scripts/test.sh), so a file uploaded through one is sent, served and
/// deleted through the other.
#[tokio::test]
#[ignore = "needs PostgreSQL, Redis and an S3-compatible server"]
async fn a_file_uploaded_on_one_node_is_served_and_deleted_on_the_other() {
    let endpoint = std::env::var("SALA_TEST_S3_ENDPOINT")
        .expect("SALA_TEST_S3_ENDPOINT is not set: run scripts/test.sh, which starts moto");
    let bucket = format!("sala-cluster-{}", std::process::id());
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let created = http
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let objects = || async {
        let listing = http
            .get(format!("{endpoint}/{bucket}?list-type=2"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing.matches("<Key>").count()
    };

    let database = TempDatabase::create().await;
    let (redis, prefix) = (redis_url(), prefix("files"));
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let start = |dir: &Path| {
        Server::start(
            dir,
            &[
                "--database-url",
                &database.url,
                "--redis-url",
                &redis,
                "--redis-prefix",
                &prefix,
                "--jwt-secret",
                JWT_SECRET,
                "--files-s3-bucket",
                &bucket,
                "--files-s3-endpoint",
                &endpoint,
            ],
        )
    };
    let node_a = start(dirs[0].path());
    let node_b = start(dirs[1].path());
    register(&http, &node_a.base, "ann").await;
    register(&http, &node_a.base, "bob").await;
    let ann = token(&http, &node_a.base, "ann", false).await;
    let bob = token(&http, &node_b.base, "bob", false).await;
    let mut ann_a = open(&node_a.base, &ann).await;
    join(&mut ann_a, "general").await;
    let mut bob_b = open(&node_b.base, &bob).await;
    join(&mut bob_b, "general").await;

    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let uploaded: Value = http
        .post(format!(
            "{}/api/rooms/general/files?name=data.bin",
            node_a.base
        ))
        .bearer_auth(&ann)
        .body(bytes.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = uploaded["attachment"]["id"]
        .as_str()
        .expect("uploaded")
        .to_owned();
    assert_eq!(objects().await, 1);
    send(
        &mut ann_a,
        json!({"type": "send", "room": "general", "attachments": [file], "client_id": "f1"}),
    )
    .await;
    let message = wait_for(&mut bob_b, WAIT, |f| f["type"] == "message").await;
    assert_eq!(message["attachments"][0]["id"], file.as_str(), "{message}");
    let url = message["attachments"][0]["url"].as_str().unwrap();
    let served = http
        .get(format!("{}{url}", node_b.base))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert!(
        served.bytes().await.unwrap() == bytes,
        "the same bytes from the other node"
    );

    // Deleted on B: gone from A at once, and from the bucket once B's collector ran.
    let deleted = http
        .delete(format!(
            "{}/api/rooms/general/messages/{}",
            node_b.base, message["id"]
        ))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let gone = http
        .get(format!("{}{url}", node_a.base))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let deadline = tokio::time::Instant::now() + WAIT;
    while objects().await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bytes stayed in the bucket"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((node_a, node_b));
    database.drop_now().await;
}
