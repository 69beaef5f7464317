//! The gateway's one typed configuration: every limit, with its default.
//!
//! Loaded from flags and `CLICKTAIL_*` environment variables by clap; every
//! default below is printed by `clicktail gateway --help`. What happens at
//! each bound is said on its field.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::http::host::{BadHostEntry, HostPolicy};

/// Everything a gateway node needs to know. `clicktail gateway` and
/// `clicktail demo` both flatten it into their command line.
#[derive(Clone, Debug, clap::Args)]
pub struct GatewayConfig {
    /// Where HTTP and WebSocket are served (one port for both).
    #[arg(long = "listen", env = "CLICKTAIL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Share `--listen`'s port with other gateway processes on this host
    /// (SO_REUSEPORT; the kernel spreads new connections over them). Each
    /// process stays a whole node. Every process on the port must set it.
    /// See docs/operations.md "Several gateway processes on one host".
    #[arg(long = "reuse-port", env = "CLICKTAIL_REUSE_PORT")]
    pub reuse_port: bool,

    /// The name of this node, recorded as the owner of the filters it registers.
    #[arg(long = "node-name", env = "CLICKTAIL_NODE_NAME", default_value = "gateway")]
    pub node_name: String,

    /// Event-loop threads serving sockets; each owns its connections.
    #[arg(long = "event-loops", env = "CLICKTAIL_EVENT_LOOPS", default_value_t = 2)]
    pub event_loops: usize,

    /// Topic the tracker's events are produced to.
    #[arg(long = "raw-topic", env = "CLICKTAIL_RAW_TOPIC", default_value = "clicks")]
    pub raw_topic: String,

    /// Topic the workers write matches to; every gateway tails all of it.
    #[arg(long = "filtered-topic", env = "CLICKTAIL_FILTERED_TOPIC", default_value = "clicks.filtered")]
    pub filtered_topic: String,

    /// The secret admins must present as `/ws?token=...`. Required unless
    /// `--no-admin-token` is given (the demo turns it off).
    #[arg(long = "admin-token", env = "CLICKTAIL_ADMIN_TOKEN")]
    pub admin_token: Option<String>,

    /// Serve `/ws` without a token (nor JWT). Only for a gateway on loopback
    /// or behind an authenticating proxy.
    #[arg(long = "no-admin-token", env = "CLICKTAIL_NO_ADMIN_TOKEN")]
    pub no_admin_token: bool,

    /// Accept JWTs signed with HS256 by the secret in this file (its bytes,
    /// one trailing newline ignored). See docs/protocol.md "Admin tokens".
    #[arg(long = "jwt-hs256-secret-file", env = "CLICKTAIL_JWT_HS256_SECRET_FILE")]
    pub jwt_hs256_secret_file: Option<PathBuf>,

    /// Accept JWTs signed with RS256 or ES256 by a public key of this JWKS
    /// file (`{"keys":[...]}`, as an identity provider publishes it).
    #[arg(long = "jwt-jwks-file", env = "CLICKTAIL_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// The `aud` a JWT must carry; required when JWTs are accepted.
    #[arg(long = "jwt-audience", env = "CLICKTAIL_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// The `iss` a JWT must carry, when given.
    #[arg(long = "jwt-issuer", env = "CLICKTAIL_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Clock skew allowed on a JWT's `exp` and `nbf`, in seconds.
    #[arg(long = "jwt-leeway-secs", env = "CLICKTAIL_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// Origins (`scheme://host:port`) allowed to open `/ws`, comma separated.
    /// Empty: only the gateway's own origin (`http://` + the `Host` header,
    /// `https://` behind a proxy sending `X-Forwarded-Proto: https`). A
    /// request without `Origin` (not a browser) is allowed; the token still
    /// applies. `*` (any origin) needs an admin token.
    #[arg(long = "allowed-origins", env = "CLICKTAIL_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Host names (`name` or `name:port`) this gateway answers to, comma
    /// separated; any other `Host` gets `403` (DNS rebinding). Loopback names
    /// (`localhost`, 127.0.0.0/8, `[::1]`) are always served. Empty: loopback
    /// only without an admin token, any host with one.
    #[arg(long = "allowed-hosts", env = "CLICKTAIL_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Most open connections (HTTP and WebSocket together). Past it, new
    /// connections are closed at once and counted in `connections_refused_total`.
    #[arg(long = "connections-max", env = "CLICKTAIL_CONNECTIONS_MAX", default_value_t = 60_000)]
    pub connections_max: usize,

    /// Largest HTTP request head; larger gets `431` and a close.
    #[arg(long = "http-head-bytes-max", env = "CLICKTAIL_HTTP_HEAD_BYTES_MAX", default_value_t = 8 * 1024)]
    pub http_head_bytes_max: usize,

    /// Largest admin WebSocket message (and frame). Larger closes the
    /// session with 1009 "message too big" (RFC 6455 section 7.4.1).
    #[arg(long = "admin-message-bytes-max", env = "CLICKTAIL_ADMIN_MESSAGE_BYTES_MAX", default_value_t = 16 * 1024)]
    pub admin_message_bytes_max: usize,

    /// Filters one admin session may hold at once; more are refused with a message.
    #[arg(long = "session-filters-max", env = "CLICKTAIL_SESSION_FILTERS_MAX", default_value_t = 16)]
    pub session_filters_max: usize,

    /// Subscribes of one session sent to registration and not answered yet;
    /// more are answered at once with a `subscribe_error` (a criterion can
    /// take tens of milliseconds to compile, so a flood must not queue up).
    #[arg(
        long = "session-subscribes-in-flight-max",
        env = "CLICKTAIL_SESSION_SUBSCRIBES_IN_FLIGHT_MAX",
        default_value_t = 4
    )]
    pub session_subscribes_in_flight_max: usize,

    /// Bytes of event frames queued for one session, split evenly among its
    /// filters (written round robin). An event that does not fit its
    /// filter's share is dropped and counted; the client is told how many
    /// each filter missed. Replies have a separate bound of the same size;
    /// a session that fills it is closed with 1008.
    #[arg(long = "session-queue-bytes-max", env = "CLICKTAIL_SESSION_QUEUE_BYTES_MAX", default_value_t = 256 * 1024)]
    pub session_queue_bytes_max: usize,

    /// Event frames queued for one session (same split and policy as the byte bound).
    #[arg(long = "session-queue-frames-max", env = "CLICKTAIL_SESSION_QUEUE_FRAMES_MAX", default_value_t = 1_024)]
    pub session_queue_frames_max: usize,

    /// A session whose queue is not empty and that has not taken a byte for
    /// this long is closed with 1008 "reader stalled".
    #[arg(long = "stalled-reader-ms", env = "CLICKTAIL_STALLED_READER_MS", default_value_t = 10_000)]
    pub stalled_reader_ms: u64,

    /// How often the gateway pings an idle WebSocket (RFC 6455 section 5.5.2).
    #[arg(long = "ping-interval-ms", env = "CLICKTAIL_PING_INTERVAL_MS", default_value_t = 15_000)]
    pub ping_interval_ms: u64,

    /// A WebSocket from which nothing (not even a pong) arrived for this long
    /// is closed with 1001 "idle timeout".
    #[arg(long = "idle-timeout-ms", env = "CLICKTAIL_IDLE_TIMEOUT_MS", default_value_t = 45_000)]
    pub idle_timeout_ms: u64,

    /// An HTTP request that has not arrived whole after this long is closed.
    #[arg(long = "http-timeout-ms", env = "CLICKTAIL_HTTP_TIMEOUT_MS", default_value_t = 10_000)]
    pub http_timeout_ms: u64,

    /// Lifetime of a session's filter rows between heartbeats; rows of a dead
    /// node expire after it and are swept.
    #[arg(long = "filter-ttl-ms", env = "CLICKTAIL_FILTER_TTL_MS", default_value_t = 30_000)]
    pub filter_ttl_ms: u64,

    /// Most history matches a subscription gets (`history: N` is capped by
    /// it; `since_ms` gets the newest this many). The workers scan for them
    /// (docs/operations.md, "Time travel").
    #[arg(long = "history-max", env = "CLICKTAIL_HISTORY_MAX", default_value_t = 100)]
    pub history_max: usize,

    /// The highest match budget a `subscribe` is granted (`rate_max`,
    /// delivered matches per second across all workers); a larger request
    /// is granted this. A subscribe that asks for none gets the workers'
    /// `--session-filter-rate-max-per-s` (keep that at or below this cap).
    #[arg(
        long = "session-filter-rate-cap-per-s",
        env = "CLICKTAIL_SESSION_FILTER_RATE_CAP_PER_S",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(clicktail_engine::registry::RATE_MAX_PER_S_MAX))
    )]
    pub session_filter_rate_cap_per_s: u32,

    /// Largest ingest batch (WebSocket message or POST body); larger is
    /// refused (`413`, or close 1009 on the socket).
    #[arg(long = "ingest-batch-bytes-max", env = "CLICKTAIL_INGEST_BATCH_BYTES_MAX", default_value_t = 256 * 1024)]
    pub ingest_batch_bytes_max: usize,

    /// Most events in one ingest batch; a larger batch is refused whole.
    #[arg(long = "ingest-batch-events-max", env = "CLICKTAIL_INGEST_BATCH_EVENTS_MAX", default_value_t = 500)]
    pub ingest_batch_events_max: usize,

    /// Largest single event; a larger one is rejected (counted in the ack).
    #[arg(long = "ingest-event-bytes-max", env = "CLICKTAIL_INGEST_EVENT_BYTES_MAX", default_value_t = 32 * 1024)]
    pub ingest_event_bytes_max: usize,

    /// Batches waiting for the producer thread; past it a batch is refused
    /// with "busy" and the tracker retries it.
    #[arg(long = "ingest-queue-batches-max", env = "CLICKTAIL_INGEST_QUEUE_BATCHES_MAX", default_value_t = 4_096)]
    pub ingest_queue_batches_max: usize,

    /// How long the producer waits for the log to acknowledge a group of
    /// batches before it reports them failed (the tracker resends them).
    #[arg(long = "ingest-flush-timeout-ms", env = "CLICKTAIL_INGEST_FLUSH_TIMEOUT_MS", default_value_t = 5_000)]
    pub ingest_flush_timeout_ms: u64,

    /// On SIGTERM, how long the node may take to drain (close every session
    /// with 1001, delete its filters, answer the ingest batches in flight)
    /// before it exits anyway. Keep it under the supervisor's own limit
    /// (`TimeoutStopSec`, `terminationGracePeriodSeconds`).
    #[arg(long = "shutdown-grace-ms", env = "CLICKTAIL_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,

    /// Records waiting between the delivery thread and one event loop; past
    /// it records for that loop are dropped and counted per filter.
    #[arg(long = "loop-inbox-max", env = "CLICKTAIL_LOOP_INBOX_MAX", default_value_t = 65_536)]
    pub loop_inbox_max: usize,

    /// Registry operations waiting for the control thread; past it a
    /// subscribe is refused with "busy".
    #[arg(long = "control-queue-max", env = "CLICKTAIL_CONTROL_QUEUE_MAX", default_value_t = 16_384)]
    pub control_queue_max: usize,
}

impl GatewayConfig {
    /// The defaults, as `--help` prints them.
    pub fn defaults() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: GatewayConfig,
        }
        Wrapper::parse_from(["clicktail-gateway"]).config
    }

    pub fn stalled_reader(&self) -> Duration {
        Duration::from_millis(self.stalled_reader_ms)
    }
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn http_timeout(&self) -> Duration {
        Duration::from_millis(self.http_timeout_ms)
    }
    pub fn filter_ttl(&self) -> Duration {
        Duration::from_millis(self.filter_ttl_ms)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// Whether JWTs are accepted on `/ws`.
    pub fn jwt_enabled(&self) -> bool {
        self.jwt_hs256_secret_file.is_some() || self.jwt_jwks_file.is_some()
    }

    /// Whether `/ws` asks for a credential: the static token or a JWT.
    pub fn admin_auth_required(&self) -> bool {
        self.admin_token.is_some() || self.jwt_enabled()
    }

    /// The `Host` names served; `validate` has checked the entries.
    pub fn host_policy(&self) -> HostPolicy {
        // Failing closed, should `validate` not have run.
        HostPolicy::new(self.admin_auth_required(), &self.allowed_hosts).unwrap_or_else(|_| HostPolicy::loopback_only())
    }

    /// Checks the settings that must hold together.
    pub fn validate(&self) -> Result<(), crate::GatewayError> {
        let bad = |why: &str| Err(crate::GatewayError::Config(why.to_string()));
        if !self.admin_auth_required() && !self.no_admin_token {
            return bad(
                "an admin token is required: set --admin-token (CLICKTAIL_ADMIN_TOKEN), a JWT key (--jwt-hs256-secret-file or --jwt-jwks-file) or pass --no-admin-token",
            );
        }
        if self.jwt_enabled() && self.jwt_audience.as_deref().is_none_or(str::is_empty) {
            return bad("--jwt-audience is required when JWTs are accepted");
        }
        if self.admin_token.as_deref() == Some("") {
            return bad("--admin-token must not be empty");
        }
        if !self.admin_auth_required() && self.allowed_origins.iter().any(|origin| origin == "*") {
            return bad("--allowed-origins '*' lets any web page open /ws: it needs an admin token");
        }
        if let Err(BadHostEntry(entry)) = HostPolicy::new(self.admin_auth_required(), &self.allowed_hosts) {
            return bad(&format!("--allowed-hosts entry {entry:?} is not a host name, name:port or [v6]:port"));
        }
        if self.session_subscribes_in_flight_max == 0 {
            return bad("--session-subscribes-in-flight-max must be at least 1");
        }
        if self.event_loops == 0 || self.event_loops > 64 {
            return bad("--event-loops must be within 1..=64");
        }
        if self.filter_ttl_ms < 3_000 {
            return bad("--filter-ttl-ms must be at least 3000 (heartbeats run every third of it)");
        }
        if self.session_queue_frames_max == 0 || self.session_queue_bytes_max < 1024 {
            return bad("the session queue must hold at least one frame and 1 KiB");
        }
        Ok(())
    }
}
