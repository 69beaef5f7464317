//! Tests of the clickstream model: determinism, validity, size, mix, rates.

use super::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Generates `count` events with `config`, one `Vec` each.
fn generate(config: ClickstreamConfig, count: usize) -> Vec<(Generated, Vec<u8>)> {
    let mut stream = Clickstream::new(config).expect("valid config");
    (0..count)
        .map(|_| {
            let mut event = Vec::new();
            let generated = stream.next_event(&mut event);
            (generated, event)
        })
        .collect()
}

fn parse(event: &[u8]) -> Value {
    serde_json::from_slice(event).unwrap_or_else(|error| {
        panic!("{error}: {}", String::from_utf8_lossy(event));
    })
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let config = ClickstreamConfig { seed: 42, malformed_per_million: 10_000, ..ClickstreamConfig::default() };
    let first = generate(config.clone(), 5_000);
    assert_eq!(first, generate(config.clone(), 5_000));
    let other = generate(ClickstreamConfig { seed: 43, ..config }, 5_000);
    assert_ne!(first[0].1, other[0].1);
}

#[test]
fn next_event_appends_without_clearing() {
    let mut stream = Clickstream::new(ClickstreamConfig::default()).expect("valid config");
    let mut buffer = b"prefix\n".to_vec();
    stream.next_event(&mut buffer);
    assert!(buffer.starts_with(b"prefix\n{\"event_id\":\"e-"));
    assert_eq!(buffer.last(), Some(&b'}'));
    assert_eq!(stream.events_generated(), 1);
}

#[test]
fn every_event_is_valid_json_with_the_documented_shape() {
    let events = generate(ClickstreamConfig::default(), 50_000);
    let mut event_ids = HashSet::new();
    let mut last_ts = 0;
    for (generated, bytes) in &events {
        let Generated::Event(event_type) = *generated else {
            panic!("no malformed events by default");
        };
        assert!(!bytes.contains(&b'\n'), "one event per line");
        let event = parse(bytes);
        assert_eq!(event["type"], event_type.as_str());
        assert!(event_ids.insert(event["event_id"].as_str().expect("event_id").to_owned()));
        let ts = event["ts"].as_u64().expect("ts is an integer");
        assert!(ts >= last_ts, "ts never goes back");
        last_ts = ts;
        assert!(event["session"]["seq"].as_u64().expect("seq") >= 1);
        assert!(event["page"]["path"].as_str().expect("path").starts_with('/'));
        assert!(event["page"]["url"].as_str().expect("url").starts_with(SITE));
        assert!(event["geo"]["lat"].is_f64() && event["geo"]["lon"].is_f64());
        assert!(event["device"]["country"].is_string());
        assert!(event["props"]["ab test"].is_string());
        assert!(event["tags"].as_array().expect("tags").iter().all(Value::is_string));
        match &event["user"] {
            Value::Null => assert_eq!(event["device"]["type"], "bot"),
            user => {
                assert!(user["id"].as_str().expect("user.id").starts_with("u-"));
                assert!(user["logged_in"].is_boolean());
            }
        }
        match event_type {
            EventType::PageView => assert!(event["element"].is_null()),
            EventType::Click => assert!(event["element"]["id"].is_string()),
            EventType::Search => assert!(event["search"]["results"].is_u64()),
            EventType::Login => assert!(event["login"]["method"].is_string()),
            EventType::AddToCart | EventType::RemoveFromCart | EventType::Booking => {
                let cart = &event["cart"];
                let items = cart["items"].as_array().expect("cart.items");
                let total: f64 = items
                    .iter()
                    .map(|item| item["qty"].as_f64().expect("qty") * item["price"].as_f64().expect("price"))
                    .sum();
                let written = cart["total"].as_f64().expect("cart.total");
                assert!((total - written).abs() < 0.005, "total {written} != sum {total}");
                if event_type == EventType::Booking {
                    assert!(!items.is_empty());
                    assert!(event["booking"]["checkin"].as_str().expect("checkin").starts_with("2024-"));
                }
            }
        }
        if !matches!(event_type, EventType::Search) {
            assert!(event.get("search").is_none(), "search only on search events");
        }
    }
}

#[test]
fn event_mix_and_values_look_like_a_real_site() {
    let events = generate(ClickstreamConfig::default(), 100_000);
    let mut types: HashMap<EventType, usize> = HashMap::new();
    let mut text = String::new();
    let mut crawler_events = 0;
    let mut booking_totals_above_500 = 0;
    for (generated, bytes) in &events {
        let Generated::Event(event_type) = *generated else { unreachable!("no malformed events by default") };
        *types.entry(event_type).or_default() += 1;
        let event = parse(bytes);
        crawler_events += usize::from(event["user"].is_null());
        if event_type == EventType::Booking && event["cart"]["total"].as_f64().expect("total") > 500.0 {
            booking_totals_above_500 += 1;
        }
        text.push_str(std::str::from_utf8(bytes).expect("UTF-8"));
    }
    let share = |event_type| types.get(&event_type).copied().unwrap_or(0) as f64 / events.len() as f64;
    assert!((0.35..0.60).contains(&share(EventType::PageView)), "{types:?}");
    assert!((0.15..0.35).contains(&share(EventType::Click)), "{types:?}");
    assert!((0.04..0.15).contains(&share(EventType::Search)), "{types:?}");
    assert!((0.04..0.15).contains(&share(EventType::AddToCart)), "{types:?}");
    assert!((0.003..0.03).contains(&share(EventType::Booking)), "{types:?}");
    assert!(share(EventType::RemoveFromCart) > 0.0 && share(EventType::Login) > 0.0);
    assert!(booking_totals_above_500 > 0);
    assert!((500..5_000).contains(&crawler_events), "crawler events {crawler_events}");
    // Non-ASCII is raw UTF-8, and escapes are exercised.
    for needle in ["Zürich", "São Paulo", "Málaga", "\\\"", "\\t", "/hotels/", "\"utm.source\":\"newsletter\""] {
        assert!(text.contains(needle), "no {needle:?} in the stream");
    }
    assert!(!text.contains("\\u00"), "non-ASCII is never \\u-escaped");
}

#[test]
fn events_are_about_600_bytes() {
    let events = generate(ClickstreamConfig::default(), 50_000);
    let sizes: Vec<usize> = events.iter().map(|(_, bytes)| bytes.len()).collect();
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    let (smallest, largest) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!((550.0..=700.0).contains(&mean), "mean size {mean}");
    assert!(*smallest >= 450 && *largest <= 1_200, "sizes {smallest}..{largest}");
}

#[test]
fn users_are_uniform_so_the_first_five_percent_own_five_percent_of_events() {
    let events = generate(ClickstreamConfig::default(), 200_000);
    let selected = events
        .iter()
        .filter(|(_, bytes)| {
            let event = parse(bytes);
            let number = event["user"]["id"].as_str().and_then(|id| id[2..].parse::<u64>().ok());
            number.is_some_and(|number| number <= 50_000)
        })
        .count();
    let share = selected as f64 / events.len() as f64;
    assert!((0.04..0.06).contains(&share), "share {share}");
}

#[test]
fn small_user_counts_stay_in_range() {
    let config = ClickstreamConfig { users: 3, ..ClickstreamConfig::default() };
    let mut seen = HashSet::new();
    for (_, bytes) in generate(config, 2_000) {
        if let Some(id) = parse(&bytes)["user"]["id"].as_str() {
            seen.insert(id.to_owned());
        }
    }
    let expected: HashSet<String> = ["u-1", "u-2", "u-3"].map(String::from).into();
    assert_eq!(seen, expected);
}

#[test]
fn malformed_events_come_at_the_configured_rate_and_never_parse() {
    let config = ClickstreamConfig { malformed_per_million: 50_000, ..ClickstreamConfig::default() };
    let events = generate(config, 100_000);
    let mut kinds = HashSet::new();
    let mut malformed = 0;
    for (generated, bytes) in &events {
        assert!(!bytes.contains(&b'\n'), "one event per line, even malformed");
        match generated {
            Generated::Event(_) => {
                parse(bytes);
            }
            Generated::Malformed(kind) => {
                malformed += 1;
                kinds.insert(*kind);
                assert!(
                    serde_json::from_slice::<Value>(bytes).is_err(),
                    "{kind:?} parses: {}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }
    assert!((4_500..5_500).contains(&malformed), "{malformed} malformed of 100000");
    assert_eq!(kinds.len(), Malformation::ALL.len());
}

#[test]
fn no_malformed_events_by_default_and_all_at_one_million() {
    let all = ClickstreamConfig { malformed_per_million: 1_000_000, ..ClickstreamConfig::default() };
    assert!(generate(all, 1_000).iter().all(|(generated, _)| matches!(generated, Generated::Malformed(_))));
}

#[test]
fn invalid_configs_are_rejected() {
    let base = ClickstreamConfig::default();
    let cases = [
        (ClickstreamConfig { users: 0, ..base.clone() }, ConfigError::NoUsers),
        (
            ClickstreamConfig { malformed_per_million: 1_000_001, ..base.clone() },
            ConfigError::MalformedRateTooHigh(1_000_001),
        ),
        (ClickstreamConfig { live_sessions: 0, ..base.clone() }, ConfigError::LiveSessionsOutOfRange(0)),
        (ClickstreamConfig { events_per_second: 0, ..base.clone() }, ConfigError::NoTraffic),
    ];
    for (config, expected) in cases {
        assert_eq!(Clickstream::new(config).err(), Some(expected));
    }
}

#[test]
fn dates_are_civil_dates() {
    let cases = [(0, "1970-01-01"), (19_875, "2024-06-01"), (19_782, "2024-02-29"), (20_088, "2024-12-31")];
    for (day, expected) in cases {
        let mut out = Vec::new();
        push_date(&mut out, day);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
