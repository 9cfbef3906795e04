//! What the dashboard tests share: a tiny HTTP/1.1 client (the dashboard's JSON API, `/metrics`
//! and chromedriver's WebDriver API are all plain HTTP), a Prometheus text-format checker, and
//! a WebDriver session.

#![allow(dead_code)]

pub mod http;
pub mod promtext;
pub mod webdriver;

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
