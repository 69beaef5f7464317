//! Who may open an admin session (`/ws`), and as whom.
//!
//! A credential comes in one of three places; a browser cannot set
//! `Authorization` on a WebSocket handshake, hence the first two:
//! - the query parameter `?token=` (as the static admin token always has);
//! - the `Sec-WebSocket-Protocol` header, as the subprotocol `bearer`
//!   followed by the token: `Sec-WebSocket-Protocol: bearer, <jwt>`. The
//!   gateway then answers `Sec-WebSocket-Protocol: bearer` (RFC 6455
//!   section 4.2.2: one of the offered values, never the token itself);
//! - `Authorization: Bearer <token>` (RFC 6750), as an authenticating
//!   proxy such as oauth2-proxy adds it.
//!
//! A handshake carrying more than one is refused (`400`): which one would
//! count is not guessed.
//!
//! The credential is the static `--admin-token` or a JWT (`jwt.rs`). Its
//! subject names the session in the registry's owner column and in the
//! audit lines (`audit.rs`): the JWT's `sub`, `token` for the static token,
//! `anonymous` on a gateway without either.

#[cfg(feature = "jwt")]
pub mod jwt;
// A build without the `jwt` feature (`--no-default-features`, the quick
// demo build) leaves the crypto crates out and refuses the JWT flags.
#[cfg(not(feature = "jwt"))]
#[path = "jwt_left_out.rs"]
pub mod jwt;
mod token_refusal;

use std::fmt;

use crate::http::request::Request;
use crate::http::upgrade::{token_matches, Refusal};
use crate::GatewayConfig;
use jwt::JwtVerifier;
use token_refusal::TokenRefusal;

/// The subprotocol that carries a bearer token (the next offered value).
pub const BEARER_SUBPROTOCOL: &str = "bearer";

/// How a session proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Jwt,
    StaticToken,
    /// A gateway run with `--no-admin-token`.
    None,
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::StaticToken => "token",
            AuthMethod::None => "none",
        })
    }
}

/// Who an admitted session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The JWT's `sub`, `token` or `anonymous`.
    pub subject: String,
    pub method: AuthMethod,
}

/// An admitted handshake: who, and the subprotocol to answer with.
#[derive(Debug, PartialEq, Eq)]
pub struct Admitted {
    pub principal: Principal,
    pub subprotocol: Option<&'static str>,
}

/// The admission policy of `/ws`: the static token and the JWT keys.
pub struct Admission {
    static_token: Option<String>,
    jwt: Option<JwtVerifier>,
}

impl Admission {
    /// Reads the JWT key files `config` names; fails on a bad one.
    pub fn from_config(config: &GatewayConfig) -> Result<Admission, String> {
        Ok(Admission { static_token: config.admin_token.clone(), jwt: JwtVerifier::from_config(config)? })
    }

    /// Checks the handshake's credential; the refusal is a `400` or `401`.
    pub fn admit(&self, request: &Request) -> Result<Admitted, Refusal> {
        let refuse = |status, message| Err(Refusal { status, message });
        let offered = bearer_offer(request);
        let subprotocol = offered.is_some().then_some(BEARER_SUBPROTOCOL);
        let admitted = |subject: &str, method| {
            Ok(Admitted { principal: Principal { subject: subject.into(), method }, subprotocol })
        };
        if self.static_token.is_none() && self.jwt.is_none() {
            // As before JWTs existed: a token sent to a tokenless gateway is ignored.
            return admitted("anonymous", AuthMethod::None);
        }
        // Another scheme (a proxy's own Basic auth) is not for the gateway.
        let authorization = request.header("authorization").and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
        });
        let query = request.query_param("token");
        let given =
            usize::from(offered.is_some()) + usize::from(authorization.is_some()) + usize::from(query.is_some());
        if given > 1 {
            return refuse(400, "give the token once: in ?token=, Sec-WebSocket-Protocol or Authorization");
        }
        let credential = match (offered, authorization) {
            (Some(BearerOffer::Missing), _) => return refuse(401, "the bearer subprotocol is not followed by a token"),
            (Some(BearerOffer::Token(token)), _) => Some(token),
            (None, Some(token)) => Some(token),
            (None, None) => query,
        };
        let Some(credential) = credential.filter(|credential| !credential.is_empty()) else {
            return refuse(401, if self.jwt.is_some() { "missing token" } else { "missing or wrong admin token" });
        };
        if let Some(expected) = &self.static_token {
            if token_matches(Some(&credential), expected) {
                return admitted("token", AuthMethod::StaticToken);
            }
        }
        match &self.jwt {
            Some(verifier) => match verifier.verify(&credential) {
                Ok(subject) => admitted(&subject, AuthMethod::Jwt),
                Err(refusal) => refuse(401, refusal.message()),
            },
            None => refuse(401, "missing or wrong admin token"),
        }
    }
}

enum BearerOffer {
    Token(String),
    /// `bearer` was offered last, with nothing after it.
    Missing,
}

/// The token after `bearer` in `Sec-WebSocket-Protocol` (every line of the
/// header, in order), if `bearer` was offered.
fn bearer_offer(request: &Request) -> Option<BearerOffer> {
    let mut offered = request
        .headers
        .iter()
        .filter(|(name, _)| name == "sec-websocket-protocol")
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim);
    offered.by_ref().find(|item| item.eq_ignore_ascii_case(BEARER_SUBPROTOCOL))?;
    Some(match offered.next() {
        Some(token) if !token.is_empty() => BearerOffer::Token(token.to_owned()),
        _ => BearerOffer::Missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, headers: &str) -> Request {
        Request::parse(format!("GET {target} HTTP/1.1\r\nHost: h\r\n{headers}\r\n").as_bytes(), 4096).unwrap().unwrap()
    }

    fn static_only() -> Admission {
        Admission { static_token: Some("s3cret".into()), jwt: None }
    }

    #[test]
    fn the_static_token_is_taken_from_the_query_or_the_subprotocol() {
        let by_query = static_only().admit(&request("/ws?token=s3cret", "")).unwrap();
        assert_eq!(by_query.principal, Principal { subject: "token".into(), method: AuthMethod::StaticToken });
        assert_eq!(by_query.subprotocol, None);
        let by_protocol = static_only().admit(&request("/ws", "Sec-WebSocket-Protocol: bearer, s3cret\r\n")).unwrap();
        assert_eq!(by_protocol.principal.subject, "token");
        assert_eq!(by_protocol.subprotocol, Some("bearer"));
        let wrong = static_only().admit(&request("/ws?token=nope", "")).unwrap_err();
        assert_eq!((wrong.status, wrong.message), (401, "missing or wrong admin token"));
        assert_eq!(static_only().admit(&request("/ws", "")).unwrap_err().status, 401);
        let twice = static_only()
            .admit(&request("/ws?token=s3cret", "Sec-WebSocket-Protocol: bearer, s3cret\r\n"))
            .unwrap_err();
        assert_eq!(twice.status, 400);
        let dangling = static_only().admit(&request("/ws", "Sec-WebSocket-Protocol: chat, bearer\r\n")).unwrap_err();
        assert_eq!(dangling.message, "the bearer subprotocol is not followed by a token");
        let by_header = static_only().admit(&request("/ws", "Authorization: Bearer s3cret\r\n")).unwrap();
        assert_eq!((by_header.principal.subject.as_str(), by_header.subprotocol), ("token", None));
        let basic = static_only().admit(&request("/ws?token=s3cret", "Authorization: Basic eDp5\r\n")).unwrap();
        assert_eq!(basic.principal.method, AuthMethod::StaticToken);
        let header_and_query =
            static_only().admit(&request("/ws?token=s3cret", "Authorization: Bearer s3cret\r\n")).unwrap_err();
        assert_eq!(header_and_query.status, 400);
    }

    #[test]
    fn a_tokenless_gateway_admits_anyone_as_anonymous() {
        let open = Admission { static_token: None, jwt: None };
        let admitted = open.admit(&request("/ws?token=whatever", "")).unwrap();
        assert_eq!(admitted.principal, Principal { subject: "anonymous".into(), method: AuthMethod::None });
    }
}
