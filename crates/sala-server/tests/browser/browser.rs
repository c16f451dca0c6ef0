//! A chromedriver process and browser sessions with the few actions the tests need. Every
//! wait polls the page (WebDriver has no events) and gives up after [`WAIT`].

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, PointerAction, TouchActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
/// The narrowest window Chromium makes.
const MIN_WINDOW_WIDTH: u32 = 500;

pub struct Chromedriver {
    child: Child,
    pub url: String,
}

impl Chromedriver {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // A process group of its own, so that dropping it takes the browsers it started
        // too: a test that panics never ends its sessions, and chromedriver killed alone
        // leaves its Chromium processes running.
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver is installed (scripts/test.sh installs chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(POLL).await;
        }
        Self { child, url }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group (`kill -KILL -PGID`): chromedriver and every browser under it.
        let group = format!("-{}", self.child.id());
        let killed = Command::new("kill").args(["-KILL", "--", &group]).status();
        if !matches!(killed, Ok(status) if status.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh headless Chromium (its own profile, so its own sessionStorage) at `url`.
    pub async fn open(driver: &Chromedriver, url: &str, size: (u32, u32)) -> Self {
        Self::launch(driver, url, size, &[]).await
    }

    /// The same, with the system in dark mode: the page's `prefers-color-scheme: dark`.
    pub async fn open_in_dark_mode(driver: &Chromedriver, url: &str, size: (u32, u32)) -> Self {
        Self::launch(driver, url, size, &["--force-dark-mode"]).await
    }

    async fn launch(
        driver: &Chromedriver,
        url: &str,
        (width, height): (u32, u32),
        extra_args: &[&str],
    ) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain(extra_args.iter().map(|arg| (*arg).to_owned()))
        .chain([
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ])
        .collect::<Vec<_>>();
        let mut options = json!({"binary": chromium_binary(), "args": args});
        // A window is at least 500 px wide, so a phone's narrower viewport is had by
        // chromedriver's emulation of its screen (touch included).
        if width < MIN_WINDOW_WIDTH {
            options["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 3.0}
            });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        client.goto(url).await.unwrap();
        Self {
            client,
            _profile: profile,
        }
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    async fn fill(&self, selector: &str, text: &str) {
        let field = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, selector: &str) {
        let element = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap();
        element.click().await.unwrap();
    }

    pub async fn fill_auth(&self, username: &str, password: &str) {
        self.fill("#auth-username", username).await;
        self.fill("#auth-password", password).await;
        self.click("#auth-submit").await;
    }

    /// Registers (which logs in) and waits for the chat. (Its name is read from the page's
    /// text, not as shown: on a phone it is in the room drawer, out of sight.)
    pub async fn register(&self, username: &str) {
        self.click("#tab-register").await;
        self.fill_auth(username, "correct horse battery").await;
        self.wait_for_script(&format!(
            "return document.getElementById('me-name').textContent === {};",
            json!(username)
        ))
        .await;
    }

    /// On a phone, opens the room drawer (☰) unless it is open, and waits until it has slid
    /// in; on a wider screen the room list is always there and this does nothing.
    pub async fn show_rooms(&self) {
        let closed_behind_button = self
            .client
            .execute(
                "return document.getElementById('open-sidebar').offsetParent !== null \
                 && !document.getElementById('sidebar').classList.contains('open');",
                vec![],
            )
            .await
            .unwrap();
        if closed_behind_button == serde_json::Value::Bool(true) {
            self.click("#open-sidebar").await;
            self.wait_for_script(
                "return document.getElementById('sidebar').getBoundingClientRect().left === 0;",
            )
            .await;
        }
    }

    /// Presses Esc where the focus is.
    pub async fn press_escape(&self) {
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(&char::from(Key::Escape).to_string())
            .await
            .unwrap();
    }

    /// A finger's tap at a point of the viewport.
    pub async fn tap_at(&self, x: f64, y: f64) {
        let tap = TouchActions::new("finger".into())
            .then(PointerAction::MoveTo {
                duration: None,
                x,
                y,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client.perform_actions(tap).await.unwrap();
    }

    pub async fn register_expecting_error(&self, username: &str, error: &str) {
        self.click("#tab-register").await;
        self.fill_auth(username, "correct horse battery").await;
        self.wait_for_text("#auth-error", error).await;
    }

    pub async fn search(&self, query: &str) {
        self.show_rooms().await;
        self.fill("#room-search", query).await;
    }

    /// Finds a room with the search box and joins it by clicking the result.
    pub async fn join_by_search(&self, room: &str) {
        self.search(room).await;
        let label = format!("#{room}");
        let deadline = Instant::now() + WAIT;
        loop {
            for button in self
                .client
                .find_all(Locator::Css("#search-results button"))
                .await
                .unwrap()
            {
                if button.text().await.unwrap_or_default().starts_with(&label) {
                    button.click().await.unwrap();
                    self.wait_for_text("#room-title", &label).await;
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "room {room} never appeared in the search"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types a status note and presses the busy/available toggle.
    pub async fn fill_status_note(&self, note: &str) {
        self.show_rooms().await;
        self.fill("#status-note", note).await;
        self.click("#status-toggle").await;
    }

    pub async fn click_status_toggle(&self) {
        self.show_rooms().await;
        self.click("#status-toggle").await;
    }

    /// Opens one of the rooms in "My rooms". (The list is drawn anew on every change, so
    /// a button found may be gone by the time it is read: it looks again until [`WAIT`].)
    pub async fn select_room(&self, room: &str) {
        self.show_rooms().await;
        let label = format!("#{room}");
        let deadline = Instant::now() + WAIT;
        loop {
            for button in self
                .client
                .find_all(Locator::Css("#my-rooms button"))
                .await
                .unwrap()
            {
                if button.text().await.unwrap_or_default().starts_with(&label)
                    && button.click().await.is_ok()
                {
                    self.wait_for_text("#room-title", &label).await;
                    return;
                }
            }
            assert!(Instant::now() < deadline, "{room} is not among my rooms");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Presses the new-room form's submit button again, as it is.
    pub async fn submit_room_form(&self) {
        self.show_rooms().await;
        self.click("#room-form button[type=submit]").await;
    }

    pub async fn create_room(&self, name: &str, topic: &str) {
        self.show_rooms().await;
        self.click("#new-room summary").await;
        self.fill("#room-name", name).await;
        self.fill("#room-topic", topic).await;
        self.click("#room-form button[type=submit]").await;
    }

    /// Types the text and presses Enter.
    pub async fn say(&self, text: &str) {
        let input = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#message-input"))
            .await
            .unwrap();
        let deadline = Instant::now() + WAIT;
        while !input.is_enabled().await.unwrap() {
            assert!(
                Instant::now() < deadline,
                "the message box never became usable"
            );
            tokio::time::sleep(POLL).await;
        }
        input
            .send_keys(&format!("{text}{}", char::from(Key::Enter)))
            .await
            .unwrap();
    }

    pub async fn count_messages_with(&self, text: &str) -> usize {
        let mut count = 0;
        for body in self
            .client
            .find_all(Locator::Css("#messages .message .text"))
            .await
            .unwrap()
        {
            if body.text().await.unwrap_or_default() == text {
                count += 1;
            }
        }
        count
    }

    pub async fn wait_for_message(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        while self.count_messages_with(text).await == 0 {
            assert!(Instant::now() < deadline, "message {text:?} never appeared");
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn text_of(&self, selector: &str) -> String {
        let element = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap();
        element.text().await.unwrap()
    }

    pub async fn attribute(&self, selector: &str, name: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(selector)).await.unwrap();
        element.attr(name).await.unwrap()
    }

    pub async fn count(&self, selector: &str) -> usize {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .unwrap()
            .len()
    }

    pub async fn wait_for_text(&self, selector: &str, expected: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(selector)).await
                && element.text().await.unwrap_or_default().contains(expected)
            {
                return;
            }
            if Instant::now() >= deadline {
                let shown = self.text_of(selector).await;
                let page = match self.client.find(Locator::Css("body")).await {
                    Ok(body) => body.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                panic!(
                    "{selector} never showed {expected:?}; it shows {shown:?}; the page:\n{page}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn is_shown(&self, selector: &str) -> bool {
        let element = self.client.find(Locator::Css(selector)).await.unwrap();
        element.is_displayed().await.unwrap()
    }

    pub async fn wait_until_shown(&self, selector: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.is_shown(selector).await {
            assert!(Instant::now() < deadline, "{selector} never showed");
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn wait_until_hidden(&self, selector: &str) {
        let deadline = Instant::now() + WAIT;
        while self.is_shown(selector).await {
            assert!(Instant::now() < deadline, "{selector} stayed visible");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until a script (`return <boolean>`) says the page is ready.
    pub async fn wait_for_script(&self, script: &str) {
        let deadline = Instant::now() + WAIT;
        while self.client.execute(script, vec![]).await.unwrap() != serde_json::Value::Bool(true) {
            assert!(Instant::now() < deadline, "never true: {script}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a PNG of the page under `target/browser-artifacts/`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

fn chromium_binary() -> &'static str {
    if std::path::Path::new("/usr/bin/chromium").exists() {
        "/usr/bin/chromium"
    } else {
        "chromium"
    }
}
