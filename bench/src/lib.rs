//! clicktail-bench generates realistic traffic for clicktail: a seeded,
//! deterministic clickstream of a travel website (page views, clicks,
//! searches, carts, bookings) serialized as JSON at over a million events
//! per second on one core, and the filter sets that admins would stand on
//! it. The `clicktail fixtures` command writes both to files; load tests
//! drive the engine and the gateway with them.
//!
//! # Layout
//!
//! - [`rng`]: SplitMix64, the one PRNG everything draws from, and weighted
//!   (Zipf) sampling.
//! - [`clickstream`]: the website model ([`Clickstream`]) and its
//!   configuration; inside it, `catalog` (cities, hotels, products,
//!   devices, channels), [`clickstream::json`] (the hand-written
//!   serializer) and `malformed` (corrupted events for robustness tests).
//! - [`filters`]: filter sets in the FILTERS.md language: one selective
//!   `user.id` filter per user, and a realistic mix of every operator.
//! - [`loadgen`]: `clicktail loadgen`, the load generator: events into the
//!   in-memory log, Kafka or a gateway's `/ingest`, admin sessions on `/ws`
//!   with a filter mix, end-to-end latency histograms and a report.
//! - [`site_topics`]: the stream split over a site's raw topics
//!   (`site.pageviews`, `site.searches`, `site.bookings`, `site.payments`).

pub mod clickstream;
pub mod filters;
pub mod loadgen;
pub mod rng;
pub mod site_topics;

pub use clickstream::{Clickstream, ClickstreamConfig, ConfigError, EventType, Generated, Malformation};
