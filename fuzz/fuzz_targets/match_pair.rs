//! A (filter, event) pair: the input's first line is the filter, the rest
//! is the event. The filter is parsed (with `parse_filter`'s checks); when it
//! parses, it alone is compiled with the prefilter on and off, the event is
//! matched with both, and both must equal the reference evaluator's answer.

#![no_main]

use std::cell::RefCell;
use std::sync::Arc;

use clicktail_engine::matcher::{FilterId, MatchScratch, MatcherOptions, Outcome};
use clicktail_fuzz::{check_against_reference, check_parse, CompiledSet, Shown};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static SCRATCH: RefCell<MatchScratch> = RefCell::new(MatchScratch::default());
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&byte| byte == b'\n').unwrap_or(data.len());
    let (filter, event) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(filter) = std::str::from_utf8(filter) else { return };
    let Ok(expr) = check_parse(filter) else { return };
    let sources = [(FilterId(1), Arc::new(expr))];
    SCRATCH.with_borrow_mut(|scratch| {
        let answers = [true, false].map(|raw_prefilter| {
            let set = CompiledSet::new(&sources, MatcherOptions { raw_prefilter });
            let answer = set.matches(event, scratch);
            check_against_reference(&set, event, &answer);
            answer
        });
        let [on, off] = &answers;
        if on.outcome == Outcome::Skipped {
            // A skip proves that the filter cannot match, not that the event is well-formed.
            assert!(
                off.ids.as_ref().is_none_or(|ids| ids.is_empty()),
                "{filter:?} on {}: skipped, yet {:?}",
                Shown(event),
                off.ids
            );
        } else {
            assert_eq!(on.ids, off.ids, "{filter:?} on {}: prefilter on and off", Shown(event));
        }
    });
});
