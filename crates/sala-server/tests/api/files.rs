//! Files over HTTP and `/ws` (issue 21): an upload sent in a message, downloaded by the
//! room's members only, served so that nothing in it runs, and deleted with its message;
//! and every bad upload the issue lists refused with nothing left behind.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, error_of};
use crate::ws_client::WsClient;

/// `text` as a query-string value.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn upload(
    app: &TestApp,
    token: &str,
    room: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/rooms/{room}/files?name={}", encoded(name))))
        .bearer_auth(token)
        .header("content-type", "image/png") // a lie the server must not believe
        .body(bytes)
        .send()
        .await
        .expect("upload sent")
}

/// Uploads and returns the attachment the server answered.
async fn uploaded(app: &TestApp, token: &str, room: &str, name: &str, bytes: Vec<u8>) -> Value {
    let response = upload(app, token, room, name, bytes).await;
    assert_eq!(response.status(), StatusCode::CREATED, "upload {name}");
    let body: Value = response.json().await.unwrap();
    body["attachment"].clone()
}

/// Every file under `folder`, recursively.
fn files_under(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn blobs(app: &TestApp) -> Vec<std::path::PathBuf> {
    files_under(&app.data_dir().join("files").join("blobs"))
}

fn spooled(app: &TestApp) -> Vec<std::path::PathBuf> {
    files_under(&app.data_dir().join("files").join("spool"))
}

/// A JPEG photo of `width` × `height` with an EXIF segment naming where it was taken.
fn photo_with_location(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut jpeg = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let jpeg = jpeg.into_inner();
    let exif = b"Exif\0\0GPSLatitude 48.8584 N GPSLongitude 2.2945 E";
    let mut with_exif = jpeg[..2].to_vec();
    with_exif.extend([0xFF, 0xE1]);
    with_exif.extend(u16::try_from(exif.len() + 2).unwrap().to_be_bytes());
    with_exif.extend(exif);
    with_exif.extend(&jpeg[2..]);
    with_exif
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    chunk.extend(kind);
    chunk.extend(data);
    let mut covered = kind.to_vec();
    covered.extend(data);
    chunk.extend(crc32(&covered).to_be_bytes());
    chunk
}

/// A PNG whose header says `width` × `height` and whose data is a few bytes: a
/// decompression bomb's header, or a lie.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut header = width.to_be_bytes().to_vec();
    header.extend(height.to_be_bytes());
    header.extend([8, 6, 0, 0, 0]); // 8-bit RGBA
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &header));
    png.extend(png_chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00]));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

#[tokio::test]
async fn a_photo_is_sent_downloaded_without_its_location_and_deleted_with_its_message() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let bob = app.user_token("bob").await;
    let mut ann_ws = WsClient::connect(&app, &ann).await;
    let mut bob_ws = WsClient::connect(&app, &bob).await;
    ann_ws.join("general").await;
    bob_ws.join("general").await;

    let original = photo_with_location(640, 480);
    let attachment = uploaded(&app, &ann, "general", "Eiffel.jpg", original.clone()).await;
    assert_eq!(attachment["content_type"], "image/jpeg");
    assert_eq!(
        (attachment["width"].as_u64(), attachment["height"].as_u64()),
        (Some(640), Some(480))
    );
    let id = attachment["id"].as_str().unwrap().to_owned();
    assert_eq!(attachment["url"], format!("/api/files/{id}"));
    assert_eq!(
        attachment["thumbnail_url"],
        format!("/api/files/{id}/thumbnail")
    );
    assert!(
        attachment["size"].as_u64().unwrap() < original.len() as u64,
        "the EXIF is gone"
    );

    ann_ws
        .send(json!({"type": "send", "room": "general", "attachments": [id], "client_id": "p1"}))
        .await;
    let ack = ann_ws.until("ack").await;
    let message = bob_ws.until("message").await;
    assert_eq!(message["id"], ack["id"]);
    assert_eq!(message["text"], "");
    assert_eq!(message["attachments"][0], attachment, "{message}");

    // Downloaded by a member: the same picture, without where it was taken.
    let response = app.get(&format!("/api/files/{id}"), &bob).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );
    assert_eq!(headers["cache-control"], "private, no-cache");
    let tag = headers["etag"].to_str().unwrap().to_owned();
    let served = response.bytes().await.unwrap();
    assert_eq!(served.len() as u64, attachment["size"].as_u64().unwrap());
    // Asked again with its tag, as a browser revalidates: 304, without the bytes.
    let revalidated = app
        .client
        .get(app.url(&format!("/api/files/{id}")))
        .bearer_auth(&bob)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()["etag"].to_str().unwrap(), tag);
    assert!(revalidated.bytes().await.unwrap().is_empty());
    let other_tag = app
        .client
        .get(app.url(&format!("/api/files/{id}")))
        .bearer_auth(&bob)
        .header("if-none-match", "\"0000\", W/\"1111\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other_tag.status(), StatusCode::OK);
    assert!(
        !served.windows(11).any(|window| window == b"GPSLatitude"),
        "the location is not served"
    );
    let decoded = image::load_from_memory(&served).expect("still a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (640, 480));
    let thumbnail = app.get(&format!("/api/files/{id}/thumbnail"), &bob).await;
    assert_eq!(thumbnail.status(), StatusCode::OK);
    let thumbnail = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (320, 240));

    // In history, and found by has:file.
    let history: Value = app
        .get("/api/rooms/general/messages", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["messages"][0]["attachments"][0]["id"], id.as_str());
    let found: Value = app
        .get("/api/search?q=has%3Afile", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["hits"][0]["message"]["id"], ack["id"]);

    // The download cookie lets an <img> tag download: no token in the URL.
    let cookie = app
        .client
        .post(app.url("/api/files/cookie"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(cookie.status(), StatusCode::NO_CONTENT);
    let set_cookie = cookie.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("Path=/api/files;"), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    let by_cookie = app
        .client
        .get(app.url(&format!("/api/files/{id}")))
        .header("cookie", format!("other=1; {pair}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);
    let bare = app
        .client
        .get(app.url(&format!("/api/files/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(bare).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );

    // A message carries a file once.
    ann_ws
        .send(json!({"type": "send", "room": "general", "attachments": [id], "client_id": "p2"}))
        .await;
    let refused = ann_ws.until("error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["client_id"].as_str()),
        (Some("invalid"), Some("p2"))
    );

    // Deleted with its message: the download is gone, and then its bytes.
    assert_eq!(blobs(&app).len(), 2, "the picture and its thumbnail");
    let deleted = app
        .client
        .delete(app.url(&format!("/api/rooms/general/messages/{}", ack["id"])))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let tombstone: Value = deleted.json().await.unwrap();
    assert!(tombstone.get("attachments").is_none(), "{tombstone}");
    let gone = app.get(&format!("/api/files/{id}"), &ann).await;
    assert_eq!(
        error_of(gone).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // A browser that kept it asks again before showing it, and is told it is gone.
    let kept = app
        .client
        .get(app.url(&format!("/api/files/{id}")))
        .bearer_auth(&bob)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(kept).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // The collector runs as the deletion commits; its work is on disk, which has no event
    // to await, so this looks until it is done (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !blobs(&app).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bytes left: {:?}",
            blobs(&app)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn outsiders_are_answered_as_for_a_file_that_does_not_exist() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let eve = app.user_token("eve").await;
    let created = app
        .post_authed(
            "/api/rooms",
            &ann,
            &json!({"name": "plans", "private": true}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let secret = uploaded(&app, &ann, "plans", "plan.txt", b"the plan".to_vec()).await;
    let id = secret["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/files/{id}"), &ann).await.status(),
        StatusCode::OK
    );

    let outsider = app.get(&format!("/api/files/{id}"), &eve).await;
    let outsider = (outsider.status(), outsider.text().await.unwrap());
    let nobody = app
        .get(&format!("/api/files/{}", "0".repeat(32)), &eve)
        .await;
    let nobody = (nobody.status(), nobody.text().await.unwrap());
    assert_eq!(outsider, nobody);
    assert_eq!(outsider.0, StatusCode::NOT_FOUND);
    for path in [
        format!("/api/files/{id}/thumbnail"),
        "/api/files/..%2F..%2Fetc%2Fpasswd".into(),
    ] {
        assert_eq!(
            app.get(&path, &eve).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // Uploads: to a room one cannot see, to a public room one has not joined, no token.
    let hidden = upload(&app, &eve, "plans", "x.txt", b"x".to_vec()).await;
    assert_eq!(
        error_of(hidden).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let not_joined = upload(&app, &eve, "general", "x.txt", b"x".to_vec()).await;
    assert_eq!(
        error_of(not_joined).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    let anonymous = app
        .client
        .post(app.url("/api/rooms/general/files?name=x.txt"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(anonymous).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );

    // Someone else's file cannot be attached, nor one of another room.
    let mut eve_ws = WsClient::connect(&app, &eve).await;
    eve_ws.join("general").await;
    eve_ws
        .send(json!({"type": "send", "room": "general", "text": "mine now", "attachments": [id]}))
        .await;
    assert_eq!(eve_ws.until("error").await["code"], "invalid");
    eve_ws
        .send(json!({"type": "send", "room": "general", "attachments": ["../../x"]}))
        .await;
    assert_eq!(eve_ws.until("error").await["code"], "invalid");
}

#[tokio::test]
async fn names_and_contents_are_refused_or_made_safe() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let mut ws = WsClient::connect(&app, &ann).await;
    ws.join("general").await;

    let passwd = uploaded(
        &app,
        &ann,
        "general",
        "../../etc/passwd",
        b"root:x:0:0".to_vec(),
    )
    .await;
    assert_eq!(passwd["name"], "passwd");
    assert_eq!(passwd["content_type"], "text/plain; charset=utf-8");

    let html = b"<!doctype html><script>localStorage.setItem('pwned','1')</script>".to_vec();
    let page = uploaded(&app, &ann, "general", "<script>.html", html).await;
    assert_eq!(
        (page["name"].as_str(), page["content_type"].as_str()),
        (Some("<script>.html"), Some("text/html"))
    );
    let served = app
        .get(
            &format!("/api/files/{}", page["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    let disposition = served.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename=\"<script>.html\""),
        "{disposition}"
    );

    // Bytes decide the type, not the name or the Content-Type.
    let disguised = uploaded(
        &app,
        &ann,
        "general",
        "cat.png",
        b"<svg onload=alert(1)>".to_vec(),
    )
    .await;
    assert_eq!(disguised["content_type"], "image/svg+xml");
    assert!(disguised.get("thumbnail_url").is_none());

    let empty = uploaded(&app, &ann, "general", "empty.txt", Vec::new()).await;
    assert_eq!(empty["size"], 0);
    let served = app
        .get(
            &format!("/api/files/{}", empty["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    assert_eq!(served.status(), StatusCode::OK);
    assert!(served.bytes().await.unwrap().is_empty());

    for bad in [
        "a".repeat(300),
        "a\0b.txt".into(),
        "evil\u{202E}txt.exe".into(),
        "..".into(),
        String::new(),
    ] {
        let refused = upload(&app, &ann, "general", &bad, b"x".to_vec()).await;
        assert_eq!(
            error_of(refused).await,
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into()),
            "{bad:?}"
        );
    }
    let nameless = app
        .client
        .post(app.url("/api/rooms/general/files"))
        .bearer_auth(&ann)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        nameless.status().as_u16() / 100,
        4,
        "a missing name is the client's error"
    );
}

#[tokio::test]
async fn pictures_that_lie_about_their_size_are_refused_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let mut ws = WsClient::connect(&app, &ann).await;
    ws.join("general").await;
    // 100,000 pixels a side (40 GB decoded), 10,000 (over 50 megapixels), and 2,000 a side
    // whose data is four bytes.
    for (side, expected) in [
        (100_000, "larger"),
        (10_000, "larger"),
        (2_000, "cannot be read"),
    ] {
        let refused = upload(&app, &ann, "general", "bomb.png", png_claiming(side, side)).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{side}");
        let body: Value = refused.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{side}: {body}"
        );
    }
    assert!(blobs(&app).is_empty(), "{:?}", blobs(&app));
    assert!(spooled(&app).is_empty(), "{:?}", spooled(&app));
    // The node is still well.
    uploaded(&app, &ann, "general", "fine.txt", b"fine".to_vec()).await;
}

/// Sends an upload over a raw connection with a chunked body (no length to refuse it by
/// early), `chunks` of `chunk` bytes `pause` apart, reading the answer meanwhile.
async fn trickle(
    app: &TestApp,
    token: &str,
    chunks: usize,
    chunk: usize,
    pause: Duration,
) -> String {
    let address = app.base.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    });
    let head = format!(
        "POST /api/rooms/general/files?name=big.bin HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let body = vec![b'x'; chunk];
    for _ in 0..chunks {
        let mut framed = format!("{chunk:x}\r\n").into_bytes();
        framed.extend(&body);
        framed.extend(b"\r\n");
        // The server stops reading once it has refused: the rest may not go out.
        if writer.write_all(&framed).await.is_err() {
            break;
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        if answer.is_finished() {
            break;
        }
    }
    let _ = writer.write_all(b"0\r\n\r\n").await;
    tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .expect("answered in time")
        .unwrap()
}

#[tokio::test]
async fn a_file_over_the_cap_is_refused_while_streaming_and_leaves_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let mut ws = WsClient::connect(&app, &ann).await;
    ws.join("general").await;
    // 26 MiB against the default 25 MiB.
    let answer = trickle(&app, &ann, 26 * 16, 64 * 1024, Duration::ZERO).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert!(blobs(&app).is_empty(), "{:?}", blobs(&app));
    assert!(spooled(&app).is_empty(), "{:?}", spooled(&app));
    // With a length that says so, refused before a byte is read.
    let declared = app
        .client
        .post(app.url("/api/rooms/general/files?name=big.bin"))
        .bearer_auth(&ann)
        .body(vec![0u8; 25 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(declared).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );
    // Exactly the cap is a file.
    let at_cap = uploaded(
        &app,
        &ann,
        "general",
        "cap.bin",
        vec![7u8; 25 * 1024 * 1024],
    )
    .await;
    assert_eq!(at_cap["size"], 25 * 1024 * 1024);
    assert_eq!(at_cap["content_type"], "application/octet-stream");
}

#[tokio::test]
async fn an_upload_trickled_a_byte_a_second_is_cut_off() {
    let app = TestApp::spawn_with(|config| config.upload_window_secs = 1).await;
    let ann = app.user_token("ann").await;
    let mut ws = WsClient::connect(&app, &ann).await;
    ws.join("general").await;
    let answer = trickle(&app, &ann, 30, 1, Duration::from_secs(1)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
    assert!(spooled(&app).is_empty(), "{:?}", spooled(&app));
    assert!(blobs(&app).is_empty());
}

#[tokio::test]
async fn the_daily_quota_counts_every_upload() {
    let app = TestApp::spawn_with(|config| config.upload_quota_bytes = 1000).await;
    let ann = app.user_token("ann").await;
    let mut ws = WsClient::connect(&app, &ann).await;
    ws.join("general").await;
    uploaded(&app, &ann, "general", "a.bin", vec![1u8; 600]).await;
    let over = upload(&app, &ann, "general", "b.bin", vec![2u8; 600]).await;
    assert_eq!(
        error_of(over).await,
        (StatusCode::TOO_MANY_REQUESTS, "limit_reached".into())
    );
    uploaded(&app, &ann, "general", "c.bin", vec![3u8; 400]).await;
    let full = upload(&app, &ann, "general", "d.bin", vec![4u8; 1]).await;
    assert_eq!(
        error_of(full).await,
        (StatusCode::TOO_MANY_REQUESTS, "limit_reached".into())
    );
    assert!(spooled(&app).is_empty());
}

#[tokio::test]
async fn a_start_removes_what_a_crash_left_behind() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let mut ws = WsClient::connect(&app, &ann).await;
    ws.join("general").await;
    let kept = uploaded(&app, &ann, "general", "kept.txt", b"kept".to_vec()).await;
    ws.send(json!({"type": "send", "room": "general", "attachments": [kept["id"]]}))
        .await;
    ws.until("ack").await;
    drop(ws);
    // What a crash can leave: a spool file of an upload cut off, and complete bytes whose
    // file was never recorded (killed between the two).
    let spool = app.data_dir().join("files").join("spool");
    std::fs::write(spool.join("cut-off.part"), b"half an upload").unwrap();
    let orphan = "ab".repeat(32);
    let folder = app
        .data_dir()
        .join("files")
        .join("blobs")
        .join("ab")
        .join("ab");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(&orphan), b"nobody's").unwrap();
    assert_eq!(blobs(&app).len(), 2);

    let app = app.restart().await;
    assert!(spooled(&app).is_empty(), "{:?}", spooled(&app));
    // The sweep runs as the node starts; its work is on disk (bounded look).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while blobs(&app).len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", blobs(&app));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ann = app.token_for("ann").await;
    let served = app
        .get(
            &format!("/api/files/{}", kept["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"kept");
}

/// Files on S3-compatible storage (moto, started by scripts/test.sh): a small picture and
/// a file of several multipart parts stored, served, and deleted with their message.
#[tokio::test]
#[ignore = "needs an S3-compatible server (SALA_TEST_S3_ENDPOINT)"]
async fn files_on_s3_are_stored_served_and_deleted() {
    use futures_util::StreamExt as _;
    use object_store::ObjectStore as _;

    let endpoint = std::env::var("SALA_TEST_S3_ENDPOINT").expect("SALA_TEST_S3_ENDPOINT");
    let bucket = format!("sala-{}", std::process::id());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create the bucket");
    assert!(created.status().is_success(), "{}", created.status());
    let app = TestApp::spawn_with(|config| {
        config.files_s3_bucket = Some(bucket.clone());
        config.files_s3_endpoint = Some(endpoint.clone());
    })
    .await;
    let ann = app.user_token("ann").await;
    let mut ws = WsClient::connect(&app, &ann).await;
    ws.join("general").await;
    let big: Vec<u8> = (0..12 * 1024 * 1024)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    let file = uploaded(&app, &ann, "general", "big.bin", big.clone()).await;
    let photo = uploaded(
        &app,
        &ann,
        "general",
        "p.jpg",
        photo_with_location(400, 300),
    )
    .await;
    assert!(blobs(&app).is_empty(), "nothing in the data dir");
    ws.send(json!({"type": "send", "room": "general", "attachments": [file["id"], photo["id"]]}))
        .await;
    let id = ws.until("ack").await["id"].as_i64().unwrap();
    let served = app
        .get(
            &format!("/api/files/{}", file["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    assert_eq!(served.status(), StatusCode::OK);
    assert!(served.bytes().await.unwrap() == big, "the same bytes back");
    let thumbnail = app
        .get(
            &format!("/api/files/{}/thumbnail", photo["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    assert_eq!(thumbnail.status(), StatusCode::OK);

    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .build()
        .unwrap();
    let objects = || async {
        s3.list(None)
            .map(|object| object.unwrap().location.to_string())
            .collect::<Vec<_>>()
            .await
    };
    assert_eq!(objects().await.len(), 3, "two files and a thumbnail");
    let deleted = app
        .client
        .delete(app.url(&format!("/api/rooms/general/messages/{id}")))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = objects().await;
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "left on S3: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
