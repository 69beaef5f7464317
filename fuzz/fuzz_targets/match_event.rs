//! Arbitrary bytes as an event, matched against a fixed set of filters that
//! covers every operator, arrays, full-text terms, `not`, `*` and regexes.
//!
//! Checks: no panic; the prefilter on and off give the same answer; the
//! whole set and the subset the prefilter can serve agree on the filters
//! they share; and every answer equals the reference evaluator's for events
//! that serde_json reads the same way (no repeated keys).

#![no_main]

use std::cell::RefCell;
use std::sync::OnceLock;

use clicktail_engine::matcher::{MatchScratch, MatcherOptions, Outcome};
use clicktail_fuzz::{check_against_reference, parse_all, CompiledSet, Shown};
use libfuzzer_sys::fuzz_target;

/// Paths are mostly short keys (`a`, `b`, `c`), which mutated bytes reach,
/// plus the fixtures' paths, which the seed corpus reaches.
const FILTERS: &[&str] = &[
    r#"a == 1"#,
    r#"a != "x""#,
    r#"a < 2.5"#,
    r#"a <= -1"#,
    r#"a > "m""#,
    r#"a >= 18446744073709551615"#,
    r#"a == 1.5e0 or a == 0 or a == -9223372036854775808"#,
    r#"b contains "x""#,
    r#"b startswith "ab""#,
    r#"b endswith "é""#,
    r#"b matches "^[a-c]+[0-9]?$""#,
    r#"b matches "(?i)X""#,
    r#"a in [1, "x", true, null]"#,
    r#"exists(c)"#,
    r#"not exists(a.b)"#,
    r#"a.b == null"#,
    r#"c.d == false"#,
    r#"tags == "x""#,
    r#"items.sku in ["A1", "B2"]"#,
    r#"k["x y"] == 1 or k["a.b"] != 2"#,
    r#""paris""#,
    r#""Zürich""#,
    r#""a\"b""#,
    r#""\n""#,
    r#""""#,
    r#"*"#,
    r#"not (a == 1 or b == "x")"#,
    r#"a == 1 and (b contains "y" || !c == 2)"#,
    r#"props["utm.source"] startswith "news""#,
    r#"user.id == "u-382525""#,
    r#"type == "booking" and cart.total > 950"#,
    r#"page.path matches "^/hotel/[0-9]+$""#,
    r#"cart.items.sku == "SKU-1746""#,
    r#"geo.lat < 45.5 and not exists(user.id)"#,
    r#"session.seq >= 8 and element == null"#,
    r#"page.url contains "/hotels/" and "barcelona""#,
];

struct Sets {
    /// Every filter; `*` and `not` keep the prefilter off whatever the options.
    all: [CompiledSet; 2],
    /// The filters that give the prefilter needles: with and without it.
    prefiltered: [CompiledSet; 2],
}

fn sets() -> &'static Sets {
    static SETS: OnceLock<Sets> = OnceLock::new();
    SETS.get_or_init(|| {
        let sources = parse_all(FILTERS);
        let with = |raw_prefilter| MatcherOptions { raw_prefilter };
        let served: Vec<_> = sources
            .iter()
            .filter(|source| CompiledSet::new(std::slice::from_ref(source), with(true)).matcher.uses_prefilter())
            .cloned()
            .collect();
        let prefiltered = [CompiledSet::new(&served, with(true)), CompiledSet::new(&served, with(false))];
        assert!(prefiltered[0].matcher.uses_prefilter(), "the prefiltered set must use the prefilter");
        assert!(served.len() >= 10, "only {} filters use the prefilter", served.len());
        Sets { all: [CompiledSet::new(&sources, with(true)), CompiledSet::new(&sources, with(false))], prefiltered }
    })
}

thread_local! {
    static SCRATCH: RefCell<MatchScratch> = RefCell::new(MatchScratch::default());
}

fn matched_in<'a>(ids: &'a [u64], set: &CompiledSet) -> Vec<u64> {
    ids.iter().copied().filter(|id| set.sources.iter().any(|(known, _)| known.0 == *id)).collect()
}

fuzz_target!(|data: &[u8]| {
    let sets = sets();
    SCRATCH.with_borrow_mut(|scratch| {
        let [all_on, all_off] = [&sets.all[0], &sets.all[1]].map(|set| set.matches(data, scratch));
        let [pre_on, pre_off] = [&sets.prefiltered[0], &sets.prefiltered[1]].map(|set| set.matches(data, scratch));
        assert_eq!(all_on.ids, all_off.ids, "{}: the whole set, prefilter on and off", Shown(data));
        match (&pre_on.outcome, &pre_on.ids, &pre_off.ids) {
            // A skip proves that no filter matches, not that the event is well-formed.
            (Outcome::Skipped, _, off) => {
                assert!(off.as_ref().is_none_or(|ids| ids.is_empty()), "{}: skipped, yet {off:?}", Shown(data))
            }
            (_, on, off) => assert_eq!(on, off, "{}: the prefiltered set, prefilter on and off", Shown(data)),
        }
        if let (Some(all), Some(subset)) = (&all_off.ids, &pre_off.ids) {
            assert_eq!(&matched_in(all, &sets.prefiltered[1]), subset, "{}: the whole set and its subset", Shown(data));
        }
        check_against_reference(&sets.all[1], data, &all_off);
        check_against_reference(&sets.prefiltered[0], data, &pre_on);
    });
});
