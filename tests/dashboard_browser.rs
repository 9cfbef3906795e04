//! The dashboard in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`)
//! over WebDriver, against a three-node Raft group and `ledgermq dashboard` started as a
//! process. It reads what the pages' scripts drew (not the HTML source), fills the forms like
//! a person, and kills the Raft leader to watch the Raft page show the new one without a
//! reload. Screenshots go to `$CARGO_TARGET_TMPDIR/dashboard-browser/`.
//!
//! Needs chromium and chromedriver, so it is ignored by a plain `cargo test`;
//! `scripts/test.sh` installs them and runs it with `--ignored`.

mod common;
#[path = "dashboard_support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::json;
use support::webdriver::Browser;

struct DashboardProcess {
    child: Child,
    log: PathBuf,
}

impl DashboardProcess {
    fn start(namesrv: &str, log: PathBuf) -> DashboardProcess {
        let out = std::fs::File::create(&log).expect("dashboard log");
        let child = Command::new(common::bin())
            .args(["dashboard", "--namesrv", namesrv, "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn ledgermq dashboard");
        DashboardProcess { child, log }
    }

    /// The `http://host:port` it printed once it was listening.
    fn url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(rest) = text.split("open http://").nth(1) {
                if let Some(addr) = rest.split_whitespace().next() {
                    return format!("http://{addr}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "the dashboard did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for DashboardProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// JS: the visible text of the first element matching `css`, or "".
fn text_of(css: &str) -> String {
    format!("const e=document.querySelector({css:?});return e?e.innerText:'';")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver; scripts/test.sh installs them and runs it"]
async fn dashboard_in_a_real_browser_shows_a_failover() {
    let started = Instant::now();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-browser");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let shot = |name: &str| shots.join(format!("{name}.png"));

    let mut c = Cluster::start_with_namesrv(33, 3, "");
    let ns = c.namesrv.clone().expect("namesrv");
    c.wait_leader(Duration::from_secs(30)).await;
    let dashboard = DashboardProcess::start(&ns, shots.join("dashboard.log"));
    let base = dashboard.url();
    let b = Browser::start(1280, 800, &shots).await;
    let long = Duration::from_secs(30);

    // Cockpit: the counts and the chart are drawn by the page's script.
    b.goto(&format!("{base}/cockpit")).await;
    b.wait_for(
        "three nodes on the cockpit",
        "const v=[...document.querySelectorAll('#counts .count')].map(e=>e.innerText);\
         return v.some(t=>t.startsWith('3')&&t.includes('Nodes'))?v.join('|'):null;",
        long,
    )
    .await;
    b.wait_for(
        "the TPS chart's canvas",
        "return document.querySelector('#tps-chart .uplot canvas')!==null;",
        long,
    )
    .await;
    b.wait_for("a healthy cluster", &text_of("#problems .healthy"), long)
        .await;
    b.screenshot(&shot("cockpit")).await;

    // Cluster: one master and two slaves of RaftNode00.
    b.goto(&format!("{base}/cluster")).await;
    let roles = b
        .wait_for(
            "three nodes on the cluster page",
            "const r=[...document.querySelectorAll('#clusters tbody tr')].map(t=>t.innerText);\
             return r.length===3&&r.filter(t=>t.includes('MASTER')).length===1?r.join('\\n'):null;",
            long,
        )
        .await;
    assert!(roles.as_str().unwrap().contains("SLAVE"), "{roles}");
    b.screenshot(&shot("cluster")).await;

    // Raft: a leader, and every member up.
    b.goto(&format!("{base}/raft")).await;
    let leader = b
        .wait_for(
            "a leader on the Raft page",
            "const l=document.querySelector('.leader-name');\
             const down=document.querySelectorAll('tr.down').length;\
             const rows=document.querySelectorAll('[id^=raft-nodes-] tbody tr').length;\
             return l&&rows===3&&down===0?l.dataset.leader:null;",
            long,
        )
        .await;
    let leader = leader.as_str().unwrap().to_string();
    b.screenshot(&shot("raft-before")).await;

    // Topics: create one through the form; a bad form first shows a message.
    b.goto(&format!("{base}/topics")).await;
    b.wait_for(
        "the topic form",
        "return document.querySelector('#topic-form')!==null;",
        long,
    )
    .await;
    b.type_into("#topic-form input[name=topic]", "BrowserTopic")
        .await;
    b.type_into("#topic-form input[name=writeQueueNums]", "5000")
        .await;
    b.click("#topic-submit").await;
    let msg = b
        .wait_for(
            "the bad-input message",
            "const e=document.getElementById('banner');return !e.hidden&&e.className==='error'?e.textContent:null;",
            long,
        )
        .await;
    assert!(
        msg.as_str()
            .unwrap()
            .contains("Write queue number must be a whole number from 1 to 1024"),
        "{msg}"
    );
    b.screenshot(&shot("topics-bad-input")).await;
    b.type_into("#topic-form input[name=writeQueueNums]", "4")
        .await;
    b.type_into("#topic-form input[name=readQueueNums]", "4")
        .await;
    b.click("#topic-submit").await;
    b.wait_for(
        "the new topic's page",
        "const t=document.getElementById('topic-title');\
         return t&&t.innerText.includes('BrowserTopic')&&document.querySelectorAll('#topic-queues tbody tr').length===4;",
        long,
    )
    .await;
    b.screenshot(&shot("topic")).await;

    // Messages: send through the form, then find it by key.
    b.goto(&format!("{base}/messages")).await;
    b.wait_for(
        "the send form",
        "return document.querySelector('#send-form')!==null;",
        long,
    )
    .await;
    b.type_into("#send-form input[name=topic]", "BrowserTopic")
        .await;
    b.type_into("#send-form input[name=tags]", "TagA").await;
    b.type_into("#send-form input[name=keys]", "browser-key-1")
        .await;
    b.type_into(
        "#send-form textarea[name=body]",
        "Hello from a real browser",
    )
    .await;
    b.click("#send-submit").await;
    let sent = b
        .wait_for(
            "SEND_OK",
            "const e=document.getElementById('banner');return !e.hidden&&e.textContent.startsWith('SEND_OK')?e.textContent:null;",
            long,
        )
        .await;
    b.screenshot(&shot("messages-sent")).await;
    b.type_into("#by-key input[name=topic]", "BrowserTopic")
        .await;
    b.type_into("#by-key input[name=key]", "browser-key-1")
        .await;
    b.click("#by-key-submit").await;
    let found = b
        .wait_for(
            "the message found by key",
            "const r=[...document.querySelectorAll('#message-results tbody tr')].map(t=>t.innerText);\
             return r.length===1&&r[0].includes('browser-key-1')?r[0]:null;",
            long,
        )
        .await;
    assert!(
        location_has(&b, "key=browser-key-1").await,
        "the search is bookmarkable"
    );
    b.screenshot(&shot("messages-by-key")).await;
    b.click("#message-results tbody a").await;
    b.wait_for(
        "the message's body",
        "const e=document.getElementById('message-body');return e&&e.innerText==='Hello from a real browser';",
        long,
    )
    .await;
    b.screenshot(&shot("message-detail")).await;
    eprintln!("sent: {sent}\nfound: {found}");

    // Failover: kill the leader; the open Raft page shows the new one without a reload.
    b.goto(&format!("{base}/raft")).await;
    b.wait_for(
        "the Raft page again",
        &format!("const l=document.querySelector('.leader-name');return l&&l.dataset.leader==={leader:?};"),
        long,
    )
    .await;
    b.js("window.__marker = 'no reload';", json!([])).await;
    let id: u64 = leader.trim_start_matches('n').parse().unwrap();
    let killed = Instant::now();
    c.kill(id);
    let new_leader = b
        .wait_for(
            "a new leader on the Raft page",
            &format!(
                "const l=document.querySelector('.leader-name');\
                 const down=[...document.querySelectorAll('tr.down')].map(t=>t.innerText);\
                 return l&&l.dataset.leader!=={leader:?}&&down.some(t=>t.startsWith({leader:?}))?l.dataset.leader:null;"
            ),
            Duration::from_secs(15),
        )
        .await;
    let shown_after = killed.elapsed();
    assert_eq!(
        b.js("return window.__marker;", json!([])).await,
        json!("no reload"),
        "the page was reloaded"
    );
    b.wait_for(
        "the leader change in the events",
        &format!(
            "const t=document.querySelector('[id^=raft-events-]').innerText;\
             return t.includes('became leader')&&t.includes('(was {leader})');"
        ),
        Duration::from_secs(10),
    )
    .await;
    b.screenshot(&shot("raft-after-failover")).await;
    eprintln!(
        "leader {leader} killed; the Raft page showed {new_leader} after {:.1} s; test took {:.1} s; screenshots in {}",
        shown_after.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(shown_after < Duration::from_secs(10));
    drop(b);
    drop(dashboard);
}

async fn location_has(b: &Browser, needle: &str) -> bool {
    b.js("return location.search;", json!([]))
        .await
        .as_str()
        .is_some_and(|s| s.contains(needle))
}
