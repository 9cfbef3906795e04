//! A headless Chromium driven over WebDriver (Debian's `chromium` + `chromium-driver`): start
//! chromedriver on a free port, open a session, navigate, type, click, run scripts, take
//! screenshots. Everything the test checks is read from the rendered DOM, after scripts ran.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http;

pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

/// Where a program is, from `$VAR` or the first existing candidate.
fn program(var: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(var) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width` x `height`.
    pub async fn start(width: u32, height: u32, log_dir: &Path) -> Browser {
        let driver_bin = program("CHROMEDRIVER", &["/usr/bin/chromedriver"]).expect(
            "chromedriver not found: apt-get install chromium chromium-driver (scripts/test.sh does)",
        );
        let chrome_bin = program("CHROMIUM", &["/usr/bin/chromium"])
            .expect("chromium not found: apt-get install chromium");
        let port = super::free_port();
        let log = std::fs::File::create(log_dir.join("chromedriver.log")).expect("driver log");
        let mut driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http::request(&addr, "GET", "/status", &[], None).await {
                if r.status == 200 && r.json()["value"]["ready"] == json!(true) {
                    break;
                }
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not start; see chromedriver.log");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome_bin.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                         format!("--window-size={width},{height}")]
            }
        }}});
        let r = http::post_json(&addr, "/session", &[], &caps).await;
        let v = r.json();
        let Some(session) = v["value"]["sessionId"].as_str().map(str::to_string) else {
            let _ = driver.kill();
            let _ = driver.wait();
            panic!("no WebDriver session: {v}");
        };
        Browser {
            driver,
            addr,
            session,
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        let r = match body {
            Some(b) => http::post_json(&self.addr, &full, &[], &b).await,
            None => http::request(&self.addr, method, &full, &[], None)
                .await
                .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}")),
        };
        let v = r.json();
        if r.status != 200 {
            panic!("WebDriver {method} {path}: {}", v);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Polls `script` until it returns something truthy (not null/false/""/0); returns it.
    pub async fn wait_for(&self, what: &str, script: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.js(script, json!([])).await;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let banner = self
                    .js(
                        "const b=document.getElementById('banner');return b&&!b.hidden?b.textContent:'';",
                        json!([]),
                    )
                    .await;
                panic!("waited {within:?} for {what}; banner: {banner}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Clears the field and types `text` into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let v = self.cmd("GET", "/screenshot", None).await;
        let png = http::base64_decode(v.as_str().unwrap_or_default());
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    /// Also on a panic: close the session (which quits Chromium), then stop chromedriver.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect(&self.addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                self.session, self.addr
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
