use super::*;

const A: FilterId = FilterId(1);
const B: FilterId = FilterId(2);

fn frame(text: &str) -> Utf8Bytes {
    Utf8Bytes::from(text.to_owned())
}

fn queue(frames_max: usize, bytes_max: usize, filters: &[FilterId], metrics: &Metrics) -> Outbound {
    let mut queue = Outbound::new(frames_max, bytes_max);
    for filter in filters {
        queue.add_filter(*filter, metrics);
    }
    queue
}

fn drain(queue: &mut Outbound, metrics: &Metrics) -> Vec<String> {
    std::iter::from_fn(|| queue.pop(metrics)).map(|frame| frame.as_str().to_owned()).collect()
}

fn dropped(filter: FilterId, count: u64, total: u64, session_total: u64) -> String {
    format!(
        r#"{{"type":"dropped","filter":{},"count":{count},"total":{total},"session_total":{session_total}}}"#,
        filter.0
    )
}

#[test]
fn filters_take_turns() {
    let metrics = Metrics::default();
    let mut queue = queue(100, 1_000, &[A, B], &metrics);
    for text in ["a0", "a1", "a2"] {
        assert_eq!(queue.offer_event(A, frame(text), &metrics), Offer::Queued);
    }
    for text in ["b0", "b1"] {
        assert_eq!(queue.offer_event(B, frame(text), &metrics), Offer::Queued);
    }
    assert_eq!(drain(&mut queue, &metrics), ["a0", "b0", "a1", "b1", "a2"]);
    assert_eq!(metrics.queue_bytes.load(Relaxed), 0);
}

#[test]
fn a_flooding_filter_loses_only_its_own_frames_and_is_told_at_half_its_share() {
    let metrics = Metrics::default();
    // Two filters share 8 frames: 4 each.
    let mut queue = queue(8, 1_000, &[A, B], &metrics);
    let offered: Vec<Offer> = (0..7).map(|n| queue.offer_event(A, frame(&format!("a{n}")), &metrics)).collect();
    assert_eq!(offered.iter().filter(|offer| **offer == Offer::Queued).count(), 4);
    assert_eq!(queue.offer_event(B, frame("b0"), &metrics), Offer::Queued);
    assert_eq!(queue.offer_event(B, frame("b1"), &metrics), Offer::Queued);
    assert_eq!(
        drain(&mut queue, &metrics),
        ["a0", "b0", "a1", "b1", &dropped(A, 3, 3, 3), "a2", "a3"].map(str::to_owned)
    );
    assert_eq!(metrics.frames_dropped_total.load(Relaxed), 3);
    assert_eq!(metrics.queue_bytes.load(Relaxed), 0);
}

#[test]
fn a_flood_that_keeps_its_lane_full_is_told_once_per_share_of_drops() {
    let metrics = Metrics::default();
    let mut queue = queue(4, 1_000, &[A], &metrics);
    let mut written = Vec::new();
    // Each turn, two frames arrive and one is written: the lane stays full.
    for n in 0..12 {
        queue.offer_event(A, frame(&format!("a{}", 2 * n)), &metrics);
        queue.offer_event(A, frame(&format!("a{}", 2 * n + 1)), &metrics);
        written.extend(queue.pop(&metrics).map(|frame| frame.as_str().to_owned()));
    }
    // a7, a9, a11 and a13 do not fit; the fourth drop makes the notice due.
    assert_eq!(
        written,
        ["a0", "a1", "a2", "a3", "a4", "a5", &dropped(A, 4, 4, 4), "a6", "a8", &dropped(A, 4, 8, 8), "a10", "a12"]
            .map(str::to_owned)
    );
}

#[test]
fn a_quiet_filter_gets_every_frame_from_a_slow_reader_while_another_floods() {
    let metrics = Metrics::default();
    let mut queue = queue(64, 1_000_000, &[A, B], &metrics);
    let mut written: Vec<String> = Vec::new();
    // 20 frames of A for each of B, and the reader writes 3 per 20 offered.
    for n in 0..2_000 {
        if n % 20 == 0 {
            queue.offer_event(B, frame(&format!("b{}", n / 20)), &metrics);
        } else {
            queue.offer_event(A, frame("a"), &metrics);
        }
        if n % 20 < 3 {
            written.extend(queue.pop(&metrics).map(|frame| frame.as_str().to_owned()));
        }
    }
    written.extend(drain(&mut queue, &metrics));
    let quiet: Vec<String> = written.iter().filter(|text| text.starts_with('b')).cloned().collect();
    assert_eq!(quiet, (0..100).map(|n| format!("b{n}")).collect::<Vec<_>>());
    let notices: Vec<serde_json::Value> = written
        .iter()
        .filter(|text| text.contains("dropped"))
        .map(|text| serde_json::from_str(text).unwrap())
        .collect();
    assert!(!notices.is_empty());
    assert!(notices.iter().all(|notice| notice["filter"] == A.0), "{notices:?}");
    let told: u64 = notices.iter().map(|notice| notice["count"].as_u64().unwrap()).sum();
    let a_written = written.iter().filter(|text| *text == "a").count() as u64;
    assert_eq!(told + a_written, 1_900);
    assert_eq!(metrics.frames_dropped_total.load(Relaxed), told);
}

#[test]
fn byte_shares_bound_each_filter_and_the_session() {
    let metrics = Metrics::default();
    // Two filters share 20 bytes: 10 each.
    let mut queue = queue(100, 20, &[A, B], &metrics);
    // An empty lane takes a frame larger than its share when the session has room.
    assert_eq!(queue.offer_event(A, frame("012345678901234"), &metrics), Offer::Queued);
    assert_eq!(queue.offer_event(A, frame("x"), &metrics), Offer::Dropped);
    // The session bound holds whatever the share says.
    assert_eq!(queue.offer_event(B, frame("012345"), &metrics), Offer::Dropped);
    assert_eq!(queue.offer_event(B, frame("01234"), &metrics), Offer::Queued);
    assert_eq!(metrics.queue_bytes.load(Relaxed), 20);
}

#[test]
fn replies_go_first_never_lose_room_to_events_and_overflow_closes() {
    let metrics = Metrics::default();
    let mut queue = queue(2, 1_000, &[A], &metrics);
    for text in ["a0", "a1", "a2"] {
        queue.offer_event(A, frame(text), &metrics);
    }
    assert_eq!(queue.offer_reply(frame("r0"), &metrics), Offer::Queued);
    assert_eq!(queue.offer_reply(frame("r1"), &metrics), Offer::Queued);
    assert!(!queue.control_overflowed());
    assert_eq!(queue.offer_reply(frame("r2"), &metrics), Offer::Dropped);
    assert!(queue.control_overflowed());
    assert_eq!(drain(&mut queue, &metrics), ["r0", "r1", "a0", &dropped(A, 1, 1, 1), "a1"].map(str::to_owned));
    assert_eq!(metrics.frames_dropped_total.load(Relaxed), 1);
}

#[test]
fn a_new_filter_shrinks_the_other_lanes_to_its_share() {
    let metrics = Metrics::default();
    let mut queue = queue(4, 1_000, &[A], &metrics);
    for n in 0..4 {
        assert_eq!(queue.offer_event(A, frame(&format!("a{n}")), &metrics), Offer::Queued);
    }
    queue.add_filter(B, &metrics);
    assert_eq!(queue.offer_event(B, frame("b0"), &metrics), Offer::Queued);
    // A keeps its newest 2 of 4 and, having lost a share's worth, tells it
    // at once; B gets its turn in between.
    assert_eq!(drain(&mut queue, &metrics), [&dropped(A, 2, 2, 2), "b0", "a2", "a3"].map(str::to_owned));
    assert_eq!(metrics.frames_dropped_total.load(Relaxed), 2);
    assert_eq!(metrics.queue_bytes.load(Relaxed), 0);
}

#[test]
fn a_removed_filter_takes_its_frames_and_later_ones_are_unrouted() {
    let metrics = Metrics::default();
    let mut queue = queue(2, 1_000, &[A, B], &metrics);
    queue.offer_event(A, frame("a0"), &metrics);
    queue.offer_event(A, frame("a1"), &metrics);
    queue.offer_event(B, frame("b0"), &metrics);
    queue.remove_filter(A, &metrics);
    assert_eq!(queue.offer_event(A, frame("a2"), &metrics), Offer::NotSubscribed);
    assert_eq!(metrics.records_unrouted_total.load(Relaxed), 1);
    // B now has the whole bound.
    assert_eq!(queue.offer_event(B, frame("b1"), &metrics), Offer::Queued);
    assert_eq!(drain(&mut queue, &metrics), ["b0", "b1"]);
    assert_eq!(metrics.queue_bytes.load(Relaxed), 0);
}

#[test]
fn frames_missed_upstream_are_told_per_filter_without_counting_them_twice() {
    let metrics = Metrics::default();
    let mut queue = queue(10, 1_000, &[A, B], &metrics);
    queue.count_missed(B, 3);
    queue.count_missed(FilterId(99), 5);
    queue.offer_event(B, frame("b0"), &metrics);
    assert_eq!(drain(&mut queue, &metrics), [dropped(B, 3, 3, 3), "b0".to_owned()]);
    // The delivery thread counted them when its push failed.
    assert_eq!(metrics.frames_dropped_total.load(Relaxed), 0);
}

#[test]
fn clear_keeps_the_gauge_right() {
    let metrics = Metrics::default();
    let mut queue = queue(10, 1_000, &[A], &metrics);
    queue.offer_event(A, frame("a0"), &metrics);
    queue.offer_reply(frame("r0"), &metrics);
    assert_eq!(metrics.queue_bytes.load(Relaxed), 4);
    queue.clear(&metrics);
    assert_eq!(metrics.queue_bytes.load(Relaxed), 0);
    assert_eq!(queue.pop(&metrics), None);
}

#[test]
fn a_drained_queue_hands_its_room_back_and_a_busy_one_keeps_it() {
    let metrics = Metrics::default();
    let mut queue = queue(100, 10_000, &[A, B], &metrics);
    for index in 0..20 {
        queue.offer_event(A, frame(&format!("a{index}")), &metrics);
    }
    queue.offer_reply(frame("reply"), &metrics);
    queue.pop(&metrics);
    queue.release_idle_memory();
    assert!(queue.lanes[0].frames.capacity() >= 20, "frames still queued keep their room");
    drain(&mut queue, &metrics);
    queue.release_idle_memory();
    assert_eq!(queue.lanes[0].frames.capacity(), 0);
    assert_eq!(queue.control.capacity(), 0);
    assert_eq!(queue.lanes.capacity(), 2);
    assert!(!queue.queued_since_release);
}
