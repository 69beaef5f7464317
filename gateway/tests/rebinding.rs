//! DNS rebinding and request smuggling against a running gateway without an
//! admin token (as `clicktail demo` runs it), with crafted request heads
//! over raw TCP: which `Host` names are served, which `Origin` is the
//! gateway's own, and the heads answered `400`.

mod common;

use std::sync::atomic::Ordering::Relaxed;

use common::{config, http_head, upgrade_request, Node};

#[test]
fn a_rebound_host_is_refused_on_every_path_but_the_probes() {
    let node = Node::start(config());
    let port = node.address().port();
    let evil = format!("evil.example:{port}");
    // The attack: the page's own origin, `evil.example` resolving to 127.0.0.1.
    let origin = format!("http://{evil}");
    let (status, head) = http_head(node.address(), &upgrade_request(&evil, Some(&origin)));
    assert_eq!(status, 403, "{head}");
    let (status, head) = http_head(node.address(), &upgrade_request(&evil, None));
    assert_eq!(status, 403, "{head}");
    for path in ["/", "/app.js", "/metrics", "/tracker.js", "/nope"] {
        let (status, head) = http_head(node.address(), &format!("GET {path} HTTP/1.1\r\nHost: {evil}\r\n\r\n"));
        assert_eq!(status, 403, "{path}: {head}");
    }
    let body = r#"{"batch":1,"events":[{"type":"x"}]}"#;
    let post = format!("POST /ingest HTTP/1.1\r\nHost: {evil}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    assert_eq!(http_head(node.address(), &post).0, 403);
    assert_eq!(node.metrics().host_refused_total.load(Relaxed), 8);
    // Probes answer whatever the name (orchestrators use the pod's address).
    for path in ["/healthz", "/readyz"] {
        assert_eq!(http_head(node.address(), &format!("GET {path} HTTP/1.1\r\nHost: {evil}\r\n\r\n")).0, 200);
    }
    assert_eq!(node.metrics().admin_sessions_open.load(Relaxed), 0);
}

#[test]
fn loopback_names_are_served() {
    let node = Node::start(config());
    let port = node.address().port();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}"), "127.1.2.3".into()]
    {
        let origin = format!("http://{host}");
        let (status, head) = http_head(node.address(), &upgrade_request(&host, Some(&origin)));
        assert_eq!(status, 101, "{host}: {head}");
        let (status, head) = http_head(node.address(), &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        assert_eq!(status, 200, "{host}: {head}");
    }
}

#[test]
fn an_https_origin_is_not_the_origin_of_an_http_gateway() {
    let node = Node::start(config());
    let host = node.address().to_string();
    let (status, head) = http_head(node.address(), &upgrade_request(&host, Some(&format!("https://{host}"))));
    assert_eq!(status, 403, "{head}");
    assert_eq!(node.metrics().origin_refused_total.load(Relaxed), 1);
    // Behind a TLS proxy that says so, the https origin is the gateway's own.
    let proxied = upgrade_request(&host, Some(&format!("https://{host}")))
        .replace("Upgrade: websocket", "X-Forwarded-Proto: https\r\nUpgrade: websocket");
    assert_eq!(http_head(node.address(), &proxied).0, 101);
}

#[test]
fn allowed_hosts_are_served_and_others_still_refused() {
    let mut config = config();
    config.allowed_hosts = vec!["gw.example".into()];
    let node = Node::start(config);
    let port = node.address().port();
    let host = format!("gw.example:{port}");
    let (status, head) = http_head(node.address(), &upgrade_request(&host, Some(&format!("http://{host}"))));
    assert_eq!(status, 101, "{head}");
    let other = format!("evil.example:{port}");
    let (status, head) = http_head(node.address(), &upgrade_request(&other, Some(&format!("http://{other}"))));
    assert_eq!(status, 403, "{head}");
}

#[test]
fn missing_or_duplicate_host_and_conflicting_content_length_get_400() {
    let node = Node::start(config());
    let host = node.address().to_string();
    let no_host = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let (status, head) = http_head(node.address(), no_host);
    assert_eq!(status, 400, "{head}");
    assert_eq!(http_head(node.address(), "GET / HTTP/1.1\r\n\r\n").0, 400);
    let twice = upgrade_request(&host, None).replace("Upgrade: websocket", "Host: evil.example\r\nUpgrade: websocket");
    let (status, head) = http_head(node.address(), &twice);
    assert_eq!(status, 400, "{head}");
    let body = r#"{"batch":1,"events":[{"type":"x"}]}"#;
    for lengths in
        [format!("Content-Length: {}\r\nContent-Length: 5", body.len()), format!("Content-Length: 5, {}", body.len())]
    {
        let post = format!("POST /ingest HTTP/1.1\r\nHost: {host}\r\n{lengths}\r\n\r\n{body}");
        let (status, head) = http_head(node.address(), &post);
        assert_eq!(status, 400, "{lengths}: {head}");
    }
    let get = format!("GET / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nContent-Length: 3\r\n\r\n");
    assert_eq!(http_head(node.address(), &get).0, 400);
    // The same length twice is one length.
    let post = format!(
        "POST /ingest HTTP/1.1\r\nHost: {host}\r\nContent-Length: {0}\r\nContent-Length: {0}\r\n\r\n{body}",
        body.len()
    );
    let (status, head) = http_head(node.address(), &post);
    assert_eq!(status, 200, "{head}");
}

#[test]
fn any_origin_needs_an_admin_token() {
    let mut tokenless = config();
    tokenless.allowed_origins = vec!["*".into()];
    let error = Node::try_start_gateway_only(tokenless);
    assert!(error.contains("needs an admin token"), "{error:?}");
    let mut with_token = config();
    with_token.allowed_origins = vec!["*".into()];
    with_token.no_admin_token = false;
    with_token.admin_token = Some("s3cret".into());
    assert_eq!(Node::try_start_gateway_only(with_token), "");
    let mut bad_entry = config();
    bad_entry.allowed_hosts = vec!["gw example".into()];
    let error = Node::try_start_gateway_only(bad_entry);
    assert!(error.contains("--allowed-hosts"), "{error:?}");
}
