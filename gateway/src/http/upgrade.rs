//! The WebSocket opening handshake (RFC 6455 section 4.2) for `/ws` and
//! `/ingest`, with the gateway's admission checks.

use super::request::Request;
use super::response;

/// Why an upgrade was refused: the HTTP status and a sentence.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: &'static str,
}

/// Checks the request is a WebSocket opening handshake and returns the
/// `101` response (RFC 6455 section 4.2.2), naming `subprotocol` (one the
/// client offered) when given.
pub fn accept(request: &Request, subprotocol: Option<&str>) -> Result<Vec<u8>, Refusal> {
    // Section 4.2.1: a GET with `Upgrade: websocket`, `Connection: Upgrade`,
    // a `Sec-WebSocket-Key` and version 13.
    if request.method != "GET" {
        return Err(Refusal { status: 405, message: "a WebSocket handshake is a GET" });
    }
    if !request.header_has_token("upgrade", "websocket") || !request.header_has_token("connection", "upgrade") {
        return Err(Refusal { status: 426, message: "this endpoint speaks WebSocket only" });
    }
    if request.header("sec-websocket-version") != Some("13") {
        // Section 4.4: answer with the versions we speak.
        return Err(Refusal { status: 426, message: "unsupported WebSocket version (13 only)" });
    }
    let Some(key) = request.header("sec-websocket-key") else {
        return Err(Refusal { status: 400, message: "missing Sec-WebSocket-Key" });
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let protocol = subprotocol.map(|name| format!("Sec-WebSocket-Protocol: {name}\r\n")).unwrap_or_default();
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{protocol}\r\n"
    )
    .into_bytes())
}

/// The Origin check of section 10.2: a browser always sends `Origin`, so a
/// page on another site cannot open an admin socket with the admin's
/// cookies or network position. Requests without `Origin` are not from a
/// browser and pass (the token still applies).
///
/// With no `--allowed-origins`, only the gateway's own origin passes:
/// scheme, host and port (RFC 6454 section 5), so `https://127.0.0.1:8080`
/// is not the origin of the plain-HTTP gateway on `127.0.0.1:8080`. The
/// scheme is `http` unless a TLS-terminating proxy says `https` in
/// `X-Forwarded-Proto` (a page cannot set that header on a WebSocket
/// handshake). `Host` is only trusted this far because `host.rs` decides
/// which names are served at all.
pub fn origin_allowed(request: &Request, allowed: &[String]) -> bool {
    let Some(origin) = request.header("origin") else { return true };
    if !allowed.is_empty() {
        return allowed.iter().any(|entry| entry == "*" || entry.eq_ignore_ascii_case(origin));
    }
    let Ok(host) = request.host() else { return false };
    let scheme = match request.header("x-forwarded-proto") {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    origin
        .strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// Compares the presented token in time independent of where it differs.
pub fn token_matches(presented: Option<&str>, expected: &str) -> bool {
    let Some(presented) = presented else { return false };
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    let mut difference = a.len() ^ b.len();
    for (index, expected_byte) in b.iter().enumerate() {
        difference |= usize::from(a.get(index).copied().unwrap_or(0) ^ expected_byte);
    }
    difference == 0
}

pub fn refusal_response(refusal: &Refusal) -> Vec<u8> {
    let extra: &[(&str, &str)] = if refusal.status == 426 { &[("Sec-WebSocket-Version", "13")] } else { &[] };
    response::build(refusal.status, "text/plain; charset=utf-8", refusal.message.as_bytes(), extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &str) -> Request {
        Request::parse(format!("GET /ws HTTP/1.1\r\n{headers}\r\n").as_bytes(), 4096).unwrap().unwrap()
    }

    #[test]
    fn accepts_the_rfc_example() {
        // The handshake example of RFC 6455 section 1.3.
        let ok = request(
            "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        );
        let plain = String::from_utf8(accept(&ok, None).unwrap()).unwrap();
        assert!(plain.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert!(!plain.contains("Sec-WebSocket-Protocol"));
        let bearer = String::from_utf8(accept(&ok, Some("bearer")).unwrap()).unwrap();
        assert!(bearer.ends_with("\r\nSec-WebSocket-Protocol: bearer\r\n\r\n"), "{bearer}");
        assert_eq!(accept(&request("Host: h\r\n"), None).unwrap_err().status, 426);
    }

    #[test]
    fn checks_origin_and_token() {
        assert!(origin_allowed(&request("Host: 127.0.0.1:8080\r\nOrigin: http://127.0.0.1:8080\r\n"), &[]));
        assert!(!origin_allowed(&request("Host: 127.0.0.1:8080\r\nOrigin: http://evil.example\r\n"), &[]));
        // The scheme is part of the origin; a TLS proxy vouches for https.
        assert!(!origin_allowed(&request("Host: 127.0.0.1:8080\r\nOrigin: https://127.0.0.1:8080\r\n"), &[]));
        assert!(!origin_allowed(&request("Host: 127.0.0.1:8080\r\nOrigin: ws://127.0.0.1:8080\r\n"), &[]));
        assert!(origin_allowed(
            &request("Host: gw.example\r\nX-Forwarded-Proto: https\r\nOrigin: https://gw.example\r\n"),
            &[]
        ));
        assert!(!origin_allowed(
            &request("Host: gw.example\r\nX-Forwarded-Proto: https\r\nOrigin: http://gw.example\r\n"),
            &[]
        ));
        assert!(!origin_allowed(&request("Origin: http://127.0.0.1:8080\r\n"), &[]));
        assert!(origin_allowed(&request("Host: h\r\n"), &[]));
        let allowed = vec!["https://admin.example".to_string()];
        assert!(origin_allowed(&request("Host: h\r\nOrigin: https://admin.example\r\n"), &allowed));
        assert!(!origin_allowed(&request("Host: h\r\nOrigin: http://h\r\n"), &allowed));
        assert!(token_matches(Some("s3cret"), "s3cret"));
        assert!(!token_matches(Some("s3cre"), "s3cret"));
        assert!(!token_matches(Some("s3cretx"), "s3cret"));
        assert!(!token_matches(None, "s3cret"));
    }
}
