//! JWT admin auth against a running gateway: a valid token opens a session
//! whose filters are owned by the token's `sub` and audited; expired, wrong
//! audience, wrong key, `alg: none` and algorithm confusion get `401` with
//! a short reason. Keys: `tests/fixtures/` (test-only, see its README).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use clicktail_engine::registry::Registry;
use common::{admin_at, config, http, Node};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

const AUDIENCE: &str = "clicktail-admin";
/// 32 bytes: RFC 7518's minimum for HS256.
const SECRET: &str = "test-only-hs256-secret-0123456789";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Claims valid for an hour, for `sub`.
fn claims(sub: &str) -> serde_json::Value {
    json!({"sub": sub, "aud": AUDIENCE, "exp": now() + 3600, "nbf": now() - 10, "iat": now()})
}

fn hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn signed_with_fixture(algorithm: Algorithm, claims: &serde_json::Value) -> String {
    let (file, kid) = match algorithm {
        Algorithm::ES256 => ("jwt-es256-test-key.pem", "test-es256"),
        _ => ("jwt-rs256-test-key.pem", "test-rs256"),
    };
    let pem = std::fs::read(fixture(file)).unwrap();
    let key = match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.into());
    encode(&header, claims, &key).unwrap()
}

/// A gateway taking HS256 tokens signed with `SECRET`.
fn hs256_gateway() -> (Node, tempfile_path::TempFile) {
    let secret = tempfile_path::TempFile::with(SECRET.as_bytes());
    let mut config = config();
    config.no_admin_token = false;
    config.jwt_hs256_secret_file = Some(secret.path.clone());
    config.jwt_audience = Some(AUDIENCE.into());
    (Node::start(config), secret)
}

/// A gateway taking RS256 and ES256 tokens from the fixture JWKS only.
fn jwks_gateway() -> Node {
    let mut config = config();
    config.no_admin_token = false;
    config.jwt_jwks_file = Some(fixture("jwt-test-jwks.json"));
    config.jwt_audience = Some(AUDIENCE.into());
    Node::start(config)
}

/// The status and body of a `/ws` handshake presenting `token` in the query.
fn handshake(node: &Node, token: &str) -> (u16, String) {
    let host = node.address().to_string();
    let (status, response) = http(
        node.address(),
        &format!(
            "GET /ws?token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
    );
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

/// Every `clicktail::audit` line this test binary has logged.
fn audit_lines() -> Arc<Mutex<Vec<u8>>> {
    static LINES: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_env_filter("clicktail::audit=info")
                .with_writer(move || Sink(sink.clone()))
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            lines
        })
        .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn audit_line_with(needles: &[&str]) -> Option<String> {
    let lines = audit_lines();
    let text = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
    text.lines().find(|line| needles.iter().all(|needle| line.contains(needle))).map(str::to_owned)
}

#[test]
fn a_valid_hs256_token_owns_its_filters_and_is_audited() {
    audit_lines();
    let (node, _secret) = hs256_gateway();
    let token = hs256(&claims("alice@example.com"), SECRET.as_bytes());
    let mut client = admin_at(node.address(), &format!("?token={token}"), &[]).unwrap();
    let filter = client.subscribe(r#"type == "purchase""#);
    let rows = node.registry.list().unwrap();
    let row = rows.iter().find(|row| row.id.0 == filter).expect("the filter's row");
    assert!(row.owner.ends_with("/alice@example.com"), "{}", row.owner);
    let subscribed =
        audit_line_with(&["action=\"subscribe\"", "sub=\"alice@example.com\"", &format!("filter={filter} ")])
            .expect("a subscribe audit line");
    assert!(subscribed.contains("clicktail::audit"), "{subscribed}");
    assert!(subscribed.contains(r#"criterion="type == \"purchase\"""#), "{subscribed}");
    assert!(subscribed.contains("auth=jwt") && subscribed.contains("peer=127.0.0.1:"), "{subscribed}");

    client.send_json(json!({"type": "unsubscribe", "filter": filter}));
    assert_eq!(client.next_json()["type"], "unsubscribed");
    let needles = ["action=\"unsubscribe\"", "sub=\"alice@example.com\"", &format!("filter={filter} ")];
    node.wait_for("the unsubscribe audit line", |_| audit_line_with(&needles).is_some());
}

#[test]
fn a_token_in_the_bearer_subprotocol_is_accepted_and_bearer_echoed() {
    let (node, _secret) = hs256_gateway();
    let token = hs256(&claims("bob"), SECRET.as_bytes());
    let protocols = format!("bearer, {token}");
    // tungstenite fails the handshake unless one offered subprotocol is echoed.
    let mut client = admin_at(node.address(), "", &[("Sec-WebSocket-Protocol", &protocols)]).unwrap();
    let filter = client.subscribe(r#"type == "view""#);
    let rows = node.registry.list().unwrap();
    assert!(rows.iter().any(|row| row.id.0 == filter && row.owner.ends_with("/bob")));
    let host = node.address().to_string();
    let (status, head) = common::http_head(
        node.address(),
        &common::upgrade_request(&host, None)
            .replace("Upgrade: websocket", &format!("Sec-WebSocket-Protocol: {protocols}\r\nUpgrade: websocket")),
    );
    assert_eq!(status, 101, "{head}");
    assert!(head.contains("\r\nSec-WebSocket-Protocol: bearer\r\n"), "{head}");
}

#[test]
fn bad_hs256_tokens_get_401_with_a_reason() {
    let (node, _secret) = hs256_gateway();
    let mut expired = claims("alice");
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = claims("alice");
    wrong_audience["aud"] = json!("someone-else");
    let mut not_yet = claims("alice");
    not_yet["nbf"] = json!(now() + 3600);
    let mut no_sub = claims("alice");
    no_sub.as_object_mut().unwrap().remove("sub");
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&claims("alice").to_string()));
    let cases = [
        (hs256(&expired, SECRET.as_bytes()), "token expired"),
        (hs256(&wrong_audience, SECRET.as_bytes()), "token audience not accepted"),
        (hs256(&not_yet, SECRET.as_bytes()), "token not valid yet"),
        (hs256(&no_sub, SECRET.as_bytes()), "token lacks a required claim (sub, exp, aud)"),
        (hs256(&claims("alice"), b"another-secret-of-32-bytes-or-more!"), "token signature invalid"),
        (none, "token algorithm not accepted"),
        (signed_with_fixture(Algorithm::RS256, &claims("alice")), "token algorithm not accepted"),
        ("not-a-jwt".into(), "malformed token"),
    ];
    for (token, reason) in &cases {
        assert_eq!(handshake(&node, token), (401, reason.to_string()), "{token}");
    }
    assert_eq!(handshake(&node, ""), (401, "missing token".to_string()));
    assert_eq!(node.metrics().admin_sessions_open.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(node.filter_rows(), 0);
}

#[test]
fn rs256_and_es256_tokens_from_the_jwks_are_accepted() {
    let node = jwks_gateway();
    for (algorithm, sub) in [(Algorithm::RS256, "carol"), (Algorithm::ES256, "dave")] {
        let token = signed_with_fixture(algorithm, &claims(sub));
        let mut client = admin_at(node.address(), &format!("?token={token}"), &[]).unwrap();
        let filter = client.subscribe(r#"type == "click""#);
        let rows = node.registry.list().unwrap();
        assert!(rows.iter().any(|row| row.id.0 == filter && row.owner.ends_with(&format!("/{sub}"))), "{sub}");
    }
}

#[test]
fn an_hs256_token_is_refused_by_a_jwks_gateway() {
    let node = jwks_gateway();
    // Algorithm confusion: HS256 "signed" with the RSA public key as the
    // HMAC secret; a verifier that let the token pick the algorithm would
    // take it.
    let jwks = std::fs::read(fixture("jwt-test-jwks.json")).unwrap();
    let public_modulus = serde_json::from_slice::<serde_json::Value>(&jwks).unwrap()["keys"][0]["n"].to_string();
    let confused = hs256(&claims("mallory"), public_modulus.as_bytes());
    assert_eq!(handshake(&node, &confused), (401, "token algorithm not accepted".to_string()));
    // A token signed by a key the JWKS does not hold (the ES256 key under the RS256 `kid`).
    let es = signed_with_fixture(Algorithm::ES256, &claims("mallory"));
    let mut parts: Vec<String> = es.split('.').map(str::to_owned).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    parts[0] = b64.encode(r#"{"alg":"ES256","typ":"JWT","kid":"test-rs256"}"#);
    assert_eq!(handshake(&node, &parts.join(".")), (401, "token signing key not known".to_string()));
}

#[test]
fn the_static_token_still_works_beside_jwts_and_is_audited_as_token() {
    audit_lines();
    let secret = tempfile_path::TempFile::with(SECRET.as_bytes());
    let mut config = config();
    config.no_admin_token = false;
    config.admin_token = Some("s3cret".into());
    config.jwt_hs256_secret_file = Some(secret.path.clone());
    config.jwt_audience = Some(AUDIENCE.into());
    let node = Node::start(config);
    let mut client = admin_at(node.address(), "?token=s3cret", &[("X-Forwarded-For", "203.0.113.7")]).unwrap();
    let filter = client.subscribe(r#"type == "static""#);
    let row = node.registry.list().unwrap().into_iter().find(|row| row.id.0 == filter).unwrap();
    assert!(row.owner.ends_with("/token"), "{}", row.owner);
    let line = audit_line_with(&["sub=\"token\"", "auth=token", &format!("filter={filter} ")]).expect("audit line");
    assert!(line.contains(r#"forwarded_for="203.0.113.7""#), "{line}");
    assert_eq!(handshake(&node, "wrong").0, 401);
}

#[test]
fn jwt_settings_are_checked_at_start() {
    let mut no_audience = config();
    no_audience.no_admin_token = false;
    no_audience.jwt_jwks_file = Some(fixture("jwt-test-jwks.json"));
    assert!(Node::try_start_gateway_only(no_audience).contains("--jwt-audience is required"));
    let short = tempfile_path::TempFile::with(b"short\n");
    let mut short_secret = config();
    short_secret.jwt_hs256_secret_file = Some(short.path.clone());
    short_secret.jwt_audience = Some(AUDIENCE.into());
    assert!(Node::try_start_gateway_only(short_secret).contains("at least 32 bytes"));
}

/// A file removed when dropped, for secrets written by a test.
mod tempfile_path {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    pub struct TempFile {
        pub path: PathBuf,
    }

    impl TempFile {
        pub fn with(bytes: &[u8]) -> TempFile {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!("clicktail-jwt-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Relaxed));
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, bytes).unwrap();
            TempFile { path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
