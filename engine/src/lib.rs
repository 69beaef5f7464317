//! clicktail's engine: the filter language, the compiled matcher and event parsing.
//!
//! Layout:
//! - [`language`]: the filter language of `FILTERS.md` (lexer, parser, syntax tree, errors);
//! - [`event`]: parsing one event with simd-json into reused buffers, and its limits;
//! - [`matcher`]: the compiled filter set (`FilterSet` → `Matcher`) and per-thread scratch;
//! - [`log`]: the seam over partitioned logs (Kafka, in-memory);
//! - [`registry`]: the seam over the filter registry (PostgreSQL, in-memory);
//! - [`worker`]: filter workers (raw topic → match → filtered topic), thread per core;
//! - [`clock`]: wall-clock timestamps shared by every process role;
//! - `reference` (tests, and the `reference` feature for fuzz/): a plain one-filter-at-a-time
//!   evaluator, the oracle of the property tests and the fuzz targets.

pub mod clock;
pub mod event;
pub mod language;
pub mod log;
pub mod matcher;
pub mod registry;
pub mod small_pages;
pub mod worker;

#[cfg(any(test, feature = "reference"))]
pub mod reference;
