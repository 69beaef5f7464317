//! Arbitrary bytes as a filter: `parse_filter` never panics; a rejection
//! names a column in `1..=len + 1`; an accepted filter prints (`Display`) to
//! text that parses back to the same tree.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        let _ = clicktail_fuzz::check_parse(source);
    }
});
