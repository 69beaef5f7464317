//! Which `Host` names the gateway serves: the defence against DNS
//! rebinding.
//!
//! A page on `http://evil.example:8080` can make `evil.example` resolve to
//! 127.0.0.1 after it loaded; the browser then treats the gateway as that
//! page's own origin, so the Origin check passes and every response is
//! readable by the page. The one thing the attacker cannot change is the
//! name the browser puts in `Host`. So a gateway without an admin token
//! serves only loopback names (`localhost`, 127.0.0.0/8, `[::1]`) unless the
//! operator lists others (`--allowed-hosts`); with a token, the token stops
//! such a page and any `Host` is served unless a list is given.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The names this gateway answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    /// `--allowed-hosts`, parsed; loopback names are allowed besides them.
    allowed: Vec<Authority>,
    /// Whether any `Host` is served (a token is set and no list is given).
    any: bool,
}

/// A `Host` value (or an `--allowed-hosts` entry) split into its name and
/// port; the name is lowercased, IPv6 literals keep their brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    name: String,
    port: Option<u16>,
}

impl Authority {
    fn parse(text: &str) -> Option<Authority> {
        let text = text.trim().to_ascii_lowercase();
        let (name, port) = if text.starts_with('[') {
            // `[v6]` or `[v6]:port`.
            let end = text.find(']')?;
            match &text[end + 1..] {
                "" => (&text[..=end], None),
                rest => (&text[..=end], Some(rest.strip_prefix(':')?)),
            }
        } else {
            match text.rsplit_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (text.as_str(), None),
            }
        };
        let port = match port {
            Some(port) => Some(port.parse().ok()?),
            None => None,
        };
        let valid =
            !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-._[]:".contains(&byte));
        valid.then(|| Authority { name: name.to_owned(), port })
    }

    fn is_loopback(&self) -> bool {
        if self.name == "localhost" {
            return true;
        }
        if let Some(inner) = self.name.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            return inner.parse::<Ipv6Addr>().is_ok_and(|address| address.is_loopback());
        }
        self.name.parse::<Ipv4Addr>().is_ok_and(|address| address.is_loopback())
    }

    /// An entry without a port allows the name on any port.
    fn allows(&self, host: &Authority) -> bool {
        self.name == host.name && self.port.is_none_or(|port| host.port == Some(port))
    }
}

/// An `--allowed-hosts` entry that is not `name`, `name:port` or `[v6]:port`.
#[derive(Debug, PartialEq, Eq)]
pub struct BadHostEntry(pub String);

impl HostPolicy {
    /// The policy for a gateway with or without an admin token and the
    /// `--allowed-hosts` entries.
    pub fn new(has_token: bool, allowed_hosts: &[String]) -> Result<HostPolicy, BadHostEntry> {
        let allowed = allowed_hosts
            .iter()
            .map(|entry| Authority::parse(entry).ok_or_else(|| BadHostEntry(entry.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HostPolicy { any: has_token && allowed.is_empty(), allowed })
    }

    /// Loopback names only, whatever the token.
    pub fn loopback_only() -> HostPolicy {
        HostPolicy { allowed: Vec::new(), any: false }
    }

    /// Whether a request with this `Host` value is served.
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let Some(host) = Authority::parse(host) else { return false };
        host.is_loopback() || self.allowed.iter().any(|entry| entry.allows(&host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenless_gateway_serves_loopback_names_only() {
        let policy = HostPolicy::new(false, &[]).unwrap();
        for host in ["localhost", "LOCALHOST:8080", "127.0.0.1:8080", "127.9.8.7", "[::1]:8080", "[::1]"] {
            assert!(policy.allows(host), "{host}");
        }
        for host in ["evil.example:8080", "localhost.evil.example", "10.0.0.1:8080", "[::2]:80", "127.0.0.1:x", ""] {
            assert!(!policy.allows(host), "{host}");
        }
    }

    #[test]
    fn listed_hosts_are_served_with_or_without_a_port() {
        let entries = ["gw.internal".to_string(), "admin.example:8443".to_string()];
        let policy = HostPolicy::new(false, &entries).unwrap();
        assert!(policy.allows("gw.internal"));
        assert!(policy.allows("GW.internal:8080"));
        assert!(policy.allows("admin.example:8443"));
        assert!(!policy.allows("admin.example:8080"));
        assert!(!policy.allows("admin.example"));
        assert!(policy.allows("127.0.0.1:8080"));
        assert!(!policy.allows("evil.example"));
        // With a token the list still applies once given...
        assert!(!HostPolicy::new(true, &entries).unwrap().allows("evil.example"));
        // ... and without a list, the token is the guard.
        assert!(HostPolicy::new(true, &[]).unwrap().allows("evil.example"));
        assert_eq!(HostPolicy::new(false, &["a b".to_string()]), Err(BadHostEntry("a b".into())));
    }
}
