//! A small W3C WebDriver client over reqwest, enough to drive a real browser (Debian's
//! `chromium` through `chromedriver`) in the end-to-end tests: sessions, navigation, elements,
//! keyboard, scripts and screenshots. The driver process is killed when dropped.

use base64::Engine;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running WebDriver server.
pub struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9515)
}

impl Driver {
    /// Starts `chromedriver` on its own port and waits until it is ready.
    pub async fn chromium() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) must be installed: run scripts/setup.sh");
        let d = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _profile: tempfile::tempdir().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = d.http.get(format!("{}/status", d.url)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return d;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless Chromium session with a fresh profile.
    pub async fn session(&self, width: u32, height: u32) -> Session {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", self._profile.path().display())]
            }
        }}});
        let r: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        Session {
            base: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An element reference.
#[derive(Debug, Clone)]
pub struct El(String);

impl El {
    /// The element as a script argument.
    pub fn arg(&self) -> Value {
        json!({ ELEMENT: self.0 })
    }
}

/// One browser session.
pub struct Session {
    base: String,
    http: reqwest::Client,
}

impl Session {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut rq = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            rq = rq.json(&b);
        } else if method == reqwest::Method::POST {
            rq = rq.json(&json!({}));
        }
        let v: Value = rq.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    async fn try_cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let v = self.cmd(method, path, Some(body)).await;
        match v.get("error") {
            Some(e) => Err(format!("{e}: {}", v["message"])),
            None => Ok(v),
        }
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.try_cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await
            .unwrap();
    }

    /// All elements matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<El> {
        let v = self
            .try_cmd(
                reqwest::Method::POST,
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await
            .unwrap();
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| El(s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (up to 15 s) for an element matching a CSS selector.
    pub async fn wait(&self, css: &str) -> El {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            assert!(Instant::now() < deadline, "{css} did not appear");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 15 s) until `css` matches exactly `n` elements.
    pub async fn wait_count(&self, css: &str, n: usize) -> Vec<El> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let all = self.find_all(css).await;
            if all.len() == n {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "{css}: {} elements, expected {n}",
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 15 s) until the text of `css` contains `text`; returns the text.
    pub async fn wait_text(&self, css: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                let t = self.text(&e).await;
                if t.contains(text) {
                    return t;
                }
                assert!(
                    Instant::now() < deadline,
                    "{css}: {t:?} does not contain {text:?}"
                );
            } else {
                assert!(Instant::now() < deadline, "{css} did not appear");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks.
    pub async fn click(&self, e: &El) {
        self.try_cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            json!({}),
        )
        .await
        .unwrap();
    }

    /// Types into an element.
    pub async fn type_into(&self, e: &El, text: &str) {
        self.try_cmd(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            json!({ "text": text }),
        )
        .await
        .unwrap();
    }

    /// Presses keys on whatever has the focus (real key events).
    pub async fn keys(&self, text: &str) {
        let mut actions = Vec::new();
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.try_cmd(
            reqwest::Method::POST,
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await
        .unwrap();
    }

    /// Visible text of an element.
    pub async fn text(&self, e: &El) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{}/text", e.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Chooses an option of a `<select>` by its value (as a person would, with a change event).
    pub async fn select(&self, css: &str, value: &str) {
        let option = self.wait(&format!("{css} option[value=\"{value}\"]")).await;
        self.click(&option).await;
    }

    /// Runs a script; its `return` value comes back.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.try_cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
        .unwrap()
    }

    /// Runs an asynchronous script; it calls `arguments[arguments.length - 1]` with the result.
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.try_cmd(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": script, "args": args}),
        )
        .await
        .unwrap()
    }

    /// Saves a PNG screenshot of the page.
    pub async fn screenshot(&self, path: &Path) {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Ends the session (the browser quits).
    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
