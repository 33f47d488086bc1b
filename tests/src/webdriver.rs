//! A small W3C WebDriver client over reqwest, enough to drive a real browser (Debian's
//! `chromium` through `chromedriver`) and the real field app (through `tauri-driver` and
//! WebKitWebDriver, on an Xvfb display of its own) in the end-to-end tests: sessions,
//! navigation, elements, keyboard, scripts and screenshots. Driver and display are killed when
//! dropped.

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
    display: Option<Child>,
}

/// Starts `Xvfb` on a free display number; returns it and its `:N` name.
fn xvfb() -> (Child, String) {
    for _ in 0..50 {
        let n = 90 + fastrand_u16() % 400;
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            continue;
        }
        let mut child = Command::new("Xvfb")
            .args([
                &format!(":{n}"),
                "-screen",
                "0",
                "1024x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (Debian package xvfb) must be installed: run scripts/setup.sh");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return (child, format!(":{n}"));
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("no free X display for Xvfb");
}

fn fastrand_u16() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id()) as u16
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
        let mut cmd = Command::new("chromedriver");
        // Its own process group: dropping the driver kills it with the Chromium it started,
        // which a test that ends without `quit` (a failed assertion) would otherwise leave
        // running on the machine.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) must be installed: run scripts/setup.sh");
        Driver::ready(child, port, None).await
    }

    /// Starts `tauri-driver` (with WebKitWebDriver) on its own ports and an Xvfb display of its
    /// own; `env` goes to the app it launches.
    pub async fn tauri(env: &[(&str, &str)]) -> Driver {
        let (display, name) = xvfb();
        let port = free_port();
        let native = free_port();
        let driver = std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".cargo/bin/tauri-driver"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| "tauri-driver".into());
        // A D-Bus session of its own: WebKitGTK's accessibility and portals talk over it, and
        // without one a page with a live region (role=alert) stalls on D-Bus timeouts.
        let mut cmd = Command::new("dbus-run-session");
        // Its own process group: dropping the driver kills it with WebKitWebDriver and the app.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.arg("--")
            .arg(driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("DISPLAY", &name)
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect(
            "tauri-driver must be installed (scripts/setup.sh runs cargo install tauri-driver)",
        );
        Driver::ready(child, port, Some(display)).await
    }

    async fn ready(child: Child, port: u16, display: Option<Child>) -> Driver {
        let d = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            // A driver that stops answering fails the test instead of hanging it.
            http: crate::http()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            _profile: tempfile::tempdir().unwrap(),
            display,
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

    /// A session of the Tauri app at `application` (the driver launches it).
    pub async fn app_session(&self, application: &Path) -> Session {
        self.new_session(json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": application.display().to_string()}
        }}}))
        .await
    }

    /// A new headless Chromium session with a fresh profile.
    pub async fn session(&self, width: u32, height: u32) -> Session {
        self.chromium_session(width, height, None).await
    }

    /// A headless Chromium session that lays pages out as a phone of `width` × `height` CSS
    /// pixels would (Chromium's device emulation: a window cannot be narrower than 500 px).
    pub async fn phone_session(&self, width: u32, height: u32) -> Session {
        let metrics = json!({
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true}
        });
        self.chromium_session(800, height.max(900), Some(metrics))
            .await
    }

    async fn chromium_session(&self, width: u32, height: u32, mobile: Option<Value>) -> Session {
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}"),
                     format!("--user-data-dir={}", self._profile.path().display())]
        });
        if let Some(m) = mobile {
            options["mobileEmulation"] = m;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options
        }}});
        self.new_session(caps).await
    }

    async fn new_session(&self, caps: Value) -> Session {
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
            frames: std::sync::atomic::AtomicU32::new(0),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The driver's whole process group (both kinds run in one of their own).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut d) = self.display.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
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
    frames: std::sync::atomic::AtomicU32,
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
        let v: Value = match rq.send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        };
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
        // WebKitWebDriver can answer "stale element" to a search that races a re-render (the
        // send screen redraws itself after a sync): search again then.
        let mut tries = 0;
        let v = loop {
            match self
                .try_cmd(
                    reqwest::Method::POST,
                    "/elements",
                    json!({"using": "css selector", "value": css}),
                )
                .await
            {
                Ok(v) => break v,
                Err(e) if e.contains("stale element") && tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("find {css}: {e}"),
            }
        };
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

    /// Clicks, as a person would tap: the element is brought to the middle of the view first
    /// (WebDriver alone scrolls it to the bottom edge, under a fixed bottom bar).
    pub async fn click(&self, e: &El) {
        let _ = self
            .try_cmd(
                reqwest::Method::POST,
                "/execute/sync",
                json!({"script": "arguments[0].scrollIntoView({block: 'center'});", "args": [e.arg()]}),
            )
            .await;
        self.try_cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            json!({}),
        )
        .await
        .unwrap();
    }

    /// Finds `css` and runs `command` on it (`click`, `value`…); an element replaced by a
    /// re-render in between (stale), or covered for a moment by one (intercepted), is looked up
    /// again, five times at most.
    async fn on_fresh(&self, css: &str, command: &str, body: Value, center: bool) {
        for _ in 0..5 {
            let e = self.wait(css).await;
            if center {
                let _ = self
                    .try_cmd(
                        reqwest::Method::POST,
                        "/execute/sync",
                        json!({"script": "arguments[0].scrollIntoView({block: 'center'});", "args": [e.arg()]}),
                    )
                    .await;
            }
            match self
                .try_cmd(
                    reqwest::Method::POST,
                    &format!("/element/{}/{command}", e.0),
                    body.clone(),
                )
                .await
            {
                Ok(_) => return,
                Err(err) if err.contains("stale") => continue,
                // A windowed list re-lays its rows after the scroll that centred the element, so
                // the tap can land on its neighbour for a moment: look again once it settled, as
                // a person's second try would.
                Err(err) if err.contains("intercepted") => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    continue;
                }
                Err(err) => panic!("{command} on {css}: {err}"),
            }
        }
        panic!("{css} kept going stale or covered");
    }

    /// Finds `css` and taps it, brought to the middle of the view first.
    pub async fn tap(&self, css: &str) {
        self.on_fresh(css, "click", json!({}), true).await;
    }

    /// Finds `css` and types into it.
    pub async fn fill(&self, css: &str, text: &str) {
        self.on_fresh(css, "value", json!({ "text": text }), false)
            .await;
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

    /// Waits (up to 15 s) until `script` returns `true`; `what` names the wait in the failure.
    pub async fn wait_until(&self, script: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.execute(script, json!([])).await != Value::Bool(true) {
            assert!(Instant::now() < deadline, "waited 15 s for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

    /// Saves a PNG screenshot of the page; false when the driver could not take one. WebKitGTK
    /// under Xvfb sometimes waits for a frame that does not come, so the focus is taken off any
    /// field, a repaint is forced, and a stalled screenshot is asked again (four times at most).
    pub async fn try_screenshot(&self, path: &Path) -> bool {
        let mut png = Vec::new();
        for attempt in 0..4u32 {
            // A one-pixel resize makes the window draw a new frame.
            let rect = self.cmd(reqwest::Method::GET, "/window/rect", None).await;
            if let (Some(w), Some(h)) = (rect["width"].as_i64(), rect["height"].as_i64()) {
                let grow = self
                    .frames
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    .is_multiple_of(2);
                let w = if grow { w + 1 } else { w - 1 };
                let _ = self
                    .try_cmd(
                        reqwest::Method::POST,
                        "/window/rect",
                        json!({"width": w, "height": h}),
                    )
                    .await;
            }
            let _ = self
                .try_cmd(
                    reqwest::Method::POST,
                    "/execute/sync",
                    json!({"script": "if (document.activeElement) document.activeElement.blur();
                        const b = document.body; b.style.opacity = b.style.opacity === '0.999' ? '' : '0.999';",
                        "args": []}),
                )
                .await;
            let r = self
                .http
                .get(format!("{}/screenshot", self.base))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            if let Ok(r) = r
                && let Ok(v) = r.json::<Value>().await
                && let Some(b64) = v["value"].as_str()
            {
                png = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap_or_default();
                break;
            }
            eprintln!(
                "screenshot {} stalled (attempt {})",
                path.display(),
                attempt + 1
            );
        }
        if !png.starts_with(b"\x89PNG") {
            return false;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
        true
    }

    /// Saves a PNG screenshot of the page (the test fails when none can be taken).
    pub async fn screenshot(&self, path: &Path) {
        assert!(
            self.try_screenshot(path).await,
            "no screenshot for {}",
            path.display()
        );
    }

    /// Ends the session (the browser quits).
    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
