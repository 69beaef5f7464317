//! Criterion benchmarks of the compiled matcher (issue 2's targets), each
//! against simd-json parsing the same events alone, measured in the same run.
//!
//! `perf/engine/run.sh` runs them and records the figures under
//! `perf/results/`. Events are the bundled clickstream (seed 7, ~665 bytes);
//! filter sets are the bundled generators': 50,000 selective `user.id ==
//! "u-N"` and 1,000 mixed.

use std::hint::black_box;
use std::sync::Arc;

use clicktail_bench::filters::{selective_filter, MixedFilters};
use clicktail_bench::{Clickstream, ClickstreamConfig};
use clicktail_engine::language::parse_filter;
use clicktail_engine::matcher::{FilterId, FilterSet, MatchScratch, Matcher, MatcherOptions, PreparedFilter};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events per iteration: enough to leave the caches' warm-up behind.
const EVENTS: usize = 20_000;

fn events() -> Vec<Vec<u8>> {
    let mut stream =
        Clickstream::new(ClickstreamConfig { seed: 7, ..ClickstreamConfig::default() }).expect("valid config");
    (0..EVENTS)
        .map(|_| {
            let mut event = Vec::new();
            stream.next_event(&mut event);
            event
        })
        .collect()
}

fn prepared(source: &str) -> Arc<PreparedFilter> {
    Arc::new(PreparedFilter::new(&parse_filter(source).expect("generated filters parse")))
}

fn selective_set(options: MatcherOptions) -> FilterSet {
    let mut set = FilterSet::new(options);
    for user in 1..=50_000u64 {
        set.insert(FilterId(user), prepared(&selective_filter(user)));
    }
    set
}

fn mixed_set() -> FilterSet {
    let mut set = FilterSet::new(MatcherOptions::default());
    let mut mixed = MixedFilters::new(1, 1_000_000);
    for id in 1..=1_000u64 {
        set.insert(FilterId(id), prepared(&mixed.next_filter()));
    }
    set
}

fn match_all(matcher: &Matcher, events: &[Vec<u8>], scratch: &mut MatchScratch, matches: &mut Vec<FilterId>) -> usize {
    let mut total = 0;
    for event in events {
        black_box(matcher.match_event(event, scratch, matches));
        total += matches.len();
    }
    total
}

/// The baseline: simd-json into reused buffers, nothing else.
fn bench_parse_only(c: &mut Criterion, events: &[Vec<u8>]) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(events.len() as u64));
    let mut buffers = simd_json::Buffers::default();
    let mut tape = simd_json::Tape::null().reset();
    let mut input = Vec::new();
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            let mut nodes = 0;
            for event in events {
                input.clear();
                input.extend_from_slice(event);
                input.resize(event.len() + simd_json::INPUT_PADDING, 0);
                let mut filled = std::mem::replace(&mut tape, simd_json::Tape::null().reset()).reset();
                if simd_json::fill_tape_padded(&mut input, event.len(), &mut buffers, &mut filled).is_ok() {
                    nodes += filled.0.len();
                }
                tape = filled.reset();
            }
            black_box(nodes)
        })
    });
    group.finish();
}

fn bench_matching(c: &mut Criterion, events: &[Vec<u8>]) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(events.len() as u64));
    let sets = [
        ("match_selective_50k", selective_set(MatcherOptions::default()).build()),
        ("match_selective_50k_no_prefilter", selective_set(MatcherOptions { raw_prefilter: false }).build()),
        ("match_mixed_1k", mixed_set().build()),
    ];
    for (name, matcher) in &sets {
        let mut scratch = MatchScratch::default();
        let mut matches = Vec::new();
        group.bench_function(*name, |b| b.iter(|| match_all(matcher, events, &mut scratch, &mut matches)));
    }
    group.finish();
}

/// One change in 50,000 filters, published; and 1,000 changes, published once.
fn bench_changes(c: &mut Criterion) {
    let mut group = c.benchmark_group("changes");
    group.sample_size(20);
    let mut set = selective_set(MatcherOptions::default());
    let mut previous = set.build();
    let replacement = prepared(&selective_filter(60_000));
    let mut flip = false;
    group.bench_function("one_change_in_50k_published", |b| {
        b.iter(|| {
            // Alternate remove and insert so the set stays at 50,000 ± 1.
            if flip {
                set.insert(FilterId(60_000), Arc::clone(&replacement));
            } else {
                set.remove(FilterId(60_000));
            }
            flip = !flip;
            // Keep the old snapshot alive, as a worker thread would.
            previous = black_box(set.build());
        })
    });
    let additions: Vec<Arc<PreparedFilter>> = (0..1_000).map(|n| prepared(&selective_filter(70_000 + n))).collect();
    group.bench_function("thousand_changes_in_50k_one_publish", |b| {
        b.iter_batched(
            || (),
            |()| {
                for (n, filter) in additions.iter().enumerate() {
                    set.insert(FilterId(70_000 + n as u64), Arc::clone(filter));
                }
                let published = set.build();
                for n in 0..additions.len() {
                    set.remove(FilterId(70_000 + n as u64));
                }
                black_box(published)
            },
            BatchSize::PerIteration,
        )
    });
    black_box(previous);
    group.finish();
}

fn benches(c: &mut Criterion) {
    let events = events();
    bench_parse_only(c, &events);
    bench_matching(c, &events);
    bench_changes(c);
}

criterion_group!(matcher, benches);
criterion_main!(matcher);
