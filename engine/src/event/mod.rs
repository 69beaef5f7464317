//! Event parsing: one simd-json pass into buffers reused from event to event.
//!
//! An event is one JSON value. Anything else is *malformed*: not JSON, not
//! UTF-8, larger than [`EventLimits::bytes_max`], nested deeper than
//! [`EventLimits::depth_max`], or holding a number that is not a finite f64.
//! A malformed event matches nothing and is reported as a value, never a panic.

use simd_json::{Buffers, Node, Tape};

/// Bounds on a single event; an event past any of them is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventLimits {
    /// Largest event accepted, in bytes. Default 1 MiB.
    pub bytes_max: usize,
    /// Deepest nesting of arrays and objects accepted. Default 128: deeper
    /// than any real clickstream event, and it bounds the recursion of the
    /// matcher's walk over the event.
    pub depth_max: usize,
}

impl EventLimits {
    /// `Err` when `raw` is over `bytes_max`.
    #[inline]
    pub fn check_size(&self, raw: &[u8]) -> Result<(), Malformed> {
        if raw.len() > self.bytes_max {
            return Err(Malformed::TooLarge { bytes: raw.len(), limit: self.bytes_max });
        }
        Ok(())
    }
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits { bytes_max: 1024 * 1024, depth_max: 128 }
    }
}

/// Why an event was malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("event is {bytes} bytes, over the limit of {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("event nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("event is not valid JSON: {0}")]
    Invalid(String),
}

/// Parses events with simd-json, keeping its buffers and tape between calls
/// so that steady-state parsing allocates nothing.
pub struct EventParser {
    limits: EventLimits,
    buffers: Buffers,
    /// The event's bytes plus simd-json's padding; simd-json unescapes
    /// strings in place, so it needs a copy it may write to.
    input: Vec<u8>,
    /// The tape of the last event, emptied between events; `'static` only
    /// while empty (see [`Tape::reset`]).
    tape: Tape<'static>,
}

impl EventParser {
    pub fn new(limits: EventLimits) -> Self {
        EventParser {
            limits,
            buffers: Buffers::with_max_depth(4096, limits.depth_max),
            input: Vec::with_capacity(4096 + simd_json::INPUT_PADDING),
            tape: Tape::null().reset(),
        }
    }

    pub fn limits(&self) -> EventLimits {
        self.limits
    }

    /// Parses `raw` and hands its tape to `inspect`, with the byte offsets
    /// of its structural characters (simd-json's stage 1: `{}[]:,`, the
    /// opening quote of every string, the first byte of every other scalar).
    /// The tape's first node is the event's root value.
    pub fn with_parsed<R>(
        &mut self,
        raw: &[u8],
        inspect: impl FnOnce(&[Node<'_>], &[u32]) -> R,
    ) -> Result<R, Malformed> {
        self.limits.check_size(raw)?;
        self.input.clear();
        self.input.extend_from_slice(raw);
        self.input.resize(raw.len() + simd_json::INPUT_PADDING, 0);
        let mut tape = std::mem::replace(&mut self.tape, Tape::null().reset()).reset();
        let parsed = simd_json::fill_tape_padded(&mut self.input, raw.len(), &mut self.buffers, &mut tape);
        let result = match parsed {
            Ok(()) => Ok(inspect(&tape.0, self.buffers.structural_indexes())),
            Err(error) if *error.error() == simd_json::ErrorType::DepthLimitExceeded => {
                Err(Malformed::TooDeep { limit: self.limits.depth_max })
            }
            Err(error) => Err(Malformed::Invalid(error.to_string())),
        };
        self.tape = tape.reset();
        result
    }
}

/// The number of tape nodes that the value at `index` spans.
#[inline]
pub fn span(tape: &[Node<'_>], index: usize) -> usize {
    match tape[index] {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

#[cfg(test)]
mod tests;
