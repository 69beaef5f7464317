//! The schema sample served at `GET /schema`: the field paths of this node's
//! recent matches and their frequent values, so the admin UI can complete a
//! criterion before its page has received a single event (issue 13, item 4).
//!
//! The delivery thread offers routed events; at most
//! [`SAMPLED_PER_SECOND_MAX`] a second are parsed (a flood must not turn
//! into a JSON parse per record), and the newest [`SAMPLED_EVENTS_MAX`] of
//! those are kept as lists of leaves. A request counts over them, keeps the
//! [`PATHS_MAX`] most frequent paths and [`VALUES_PER_PATH_MAX`] values of
//! each, and the answer is reused for [`ANSWER_REUSE`] so that requests in a
//! burst cost one count (it runs on an event loop).
//!
//! What it shows is what any admin of this gateway could see by subscribing
//! `*`: it is served behind the same admission as `/ws`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Events kept, newest first out.
pub const SAMPLED_EVENTS_MAX: usize = 1_000;
/// Events parsed per second at most, however many are delivered.
pub const SAMPLED_PER_SECOND_MAX: u32 = 50;
/// Paths in an answer (the most frequent).
pub const PATHS_MAX: usize = 400;
/// Values per path in an answer (the most frequent).
pub const VALUES_PER_PATH_MAX: usize = 40;
/// Leaves read per event: a huge event costs no more than this.
const LEAVES_PER_EVENT_MAX: usize = 200;
/// A path or string value longer than this is not offered (a value of it
/// would not be typed by hand; its type is still counted).
const PATH_CHARS_MAX: usize = 200;
const VALUE_CHARS_MAX: usize = 80;
/// How long an answer is reused.
const ANSWER_REUSE: Duration = Duration::from_secs(1);

/// One leaf of an event: where it is, its JSON type, and the literal that
/// compares equal to it (`None` for a long string).
struct Leaf {
    path: Box<str>,
    kind: &'static str,
    literal: Option<Box<str>>,
}

#[derive(Default)]
pub struct SchemaSample {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    events: VecDeque<Arc<[Leaf]>>,
    answer: Option<(Instant, Arc<str>)>,
}

impl SchemaSample {
    /// Reads `event` (JSON bytes) into the sample; anything but a JSON
    /// object or array is ignored.
    pub fn add(&self, event: &[u8]) {
        let Ok(value) = serde_json::from_slice::<Value>(event) else { return };
        let mut leaves = Vec::new();
        walk(&value, &mut String::new(), &mut leaves);
        if leaves.is_empty() {
            return;
        }
        let mut inner = self.lock();
        if inner.events.len() == SAMPLED_EVENTS_MAX {
            inner.events.pop_front();
        }
        inner.events.push_back(leaves.into());
    }

    /// The answer of `GET /schema` (JSON):
    /// `{"events":N,"paths":[{"path","types","count","values":[{"literal","count"}]}]}`,
    /// paths and values by count, most frequent first.
    pub fn answer(&self, now: Instant) -> Arc<str> {
        let events: Vec<Arc<[Leaf]>> = {
            let inner = self.lock();
            if let Some((at, answer)) = &inner.answer {
                if now.duration_since(*at) < ANSWER_REUSE {
                    return answer.clone();
                }
            }
            inner.events.iter().cloned().collect()
        };
        let answer: Arc<str> = count(&events).into();
        self.lock().answer = Some((now, answer.clone()));
        answer
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a single push or assignment: a poisoned lock still
        // guards a whole sample.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The delivery thread's parse budget: [`SAMPLED_PER_SECOND_MAX`] events a
/// second. Its own (no lock per record): it asks for every routed record.
#[derive(Default)]
pub struct SampleBudget {
    second_started: Option<Instant>,
    taken: u32,
}

impl SampleBudget {
    /// Whether an event may be parsed into the sample now.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.second_started.is_none_or(|started| now.duration_since(started) >= Duration::from_secs(1)) {
            self.second_started = Some(now);
            self.taken = 0;
        }
        if self.taken >= SAMPLED_PER_SECOND_MAX {
            return false;
        }
        self.taken += 1;
        true
    }
}

#[derive(Default)]
struct PathCount<'a> {
    count: u64,
    kinds: Vec<&'static str>,
    values: HashMap<&'a str, u64>,
}

fn count(events: &[Arc<[Leaf]>]) -> String {
    let mut paths: HashMap<&str, PathCount> = HashMap::new();
    for leaves in events {
        for leaf in leaves.iter() {
            let counted = paths.entry(&leaf.path).or_default();
            counted.count += 1;
            if !counted.kinds.contains(&leaf.kind) {
                counted.kinds.push(leaf.kind);
            }
            if let Some(literal) = &leaf.literal {
                *counted.values.entry(literal).or_insert(0) += 1;
            }
        }
    }
    let mut ranked: Vec<(&str, PathCount)> = paths.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    ranked.truncate(PATHS_MAX);
    let paths: Vec<Value> = ranked
        .into_iter()
        .map(|(path, counted)| {
            let mut values: Vec<(&str, u64)> = counted.values.into_iter().collect();
            values.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            values.truncate(VALUES_PER_PATH_MAX);
            let values: Vec<Value> = values
                .into_iter()
                .map(|(literal, count)| serde_json::json!({"literal": literal, "count": count}))
                .collect();
            serde_json::json!({"path": path, "types": counted.kinds, "count": counted.count, "values": values})
        })
        .collect();
    serde_json::json!({"events": events.len(), "paths": paths}).to_string()
}

/// Collects the leaves under `value`, `path` being where it is. A step into
/// an array keeps the path: in the filter language a path applies to every
/// element (docs/filters.md).
fn walk(value: &Value, path: &mut String, leaves: &mut Vec<Leaf>) {
    if leaves.len() >= LEAVES_PER_EVENT_MAX {
        return;
    }
    match value {
        Value::Array(elements) => elements.iter().for_each(|element| walk(element, path, leaves)),
        Value::Object(fields) => {
            for (key, inner) in fields {
                let length = path.len();
                if !push_key(path, key) {
                    continue;
                }
                if path.len() <= PATH_CHARS_MAX {
                    walk(inner, path, leaves);
                }
                path.truncate(length);
            }
        }
        scalar if !path.is_empty() => {
            let (kind, literal) = match scalar {
                Value::String(text) if text.chars().count() > VALUE_CHARS_MAX => ("string", None),
                Value::String(_) => ("string", Some(scalar.to_string())),
                Value::Number(_) => ("number", Some(scalar.to_string())),
                Value::Bool(_) => ("boolean", Some(scalar.to_string())),
                _ => ("null", Some("null".to_owned())),
            };
            leaves.push(Leaf { path: path.as_str().into(), kind, literal: literal.map(Into::into) });
        }
        _ => {}
    }
}

/// Appends `key` to `path` as the filter language writes it: `a.b`, or
/// `a["b c"]` for a key that is not a bare segment. A first key that cannot
/// be written bare (or is `not`) cannot start a path: false, path unchanged.
fn push_key(path: &mut String, key: &str) -> bool {
    let bare = is_segment(key);
    if path.is_empty() {
        if !bare || key.eq_ignore_ascii_case("not") {
            return false;
        }
        path.push_str(key);
    } else if bare {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
    }
    true
}

/// A bare path segment: `[A-Za-z_$@][A-Za-z0-9_$@-]*` (docs/filters.md).
fn is_segment(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || matches!(first, '_' | '$' | '@'))
        && chars.all(|rest| rest.is_ascii_alphanumeric() || matches!(rest, '_' | '$' | '@' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_of(events: &[&str]) -> Value {
        let sample = SchemaSample::default();
        for event in events {
            sample.add(event.as_bytes());
        }
        serde_json::from_str(&sample.answer(Instant::now())).unwrap()
    }

    #[test]
    fn paths_are_written_as_the_filter_language_reads_them_with_counted_values() {
        let answer = answer_of(&[
            r#"{"type":"booking","cart":{"total":812.5},"props":{"utm.source":"ads"},"tags":["a","b"]}"#,
            r#"{"type":"booking","cart":{"total":99},"not":1,"9x":2}"#,
            r#"{"type":"login","ok":true,"gone":null}"#,
            r#""a string is no event""#,
        ]);
        assert_eq!(answer["events"], 3);
        let paths: Vec<&str> =
            answer["paths"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["type", "cart.total", "tags", "gone", "ok", r#"props["utm.source"]"#]);
        assert_eq!(
            answer["paths"][0],
            serde_json::json!({"path": "type", "types": ["string"], "count": 3,
                "values": [{"literal": "\"booking\"", "count": 2}, {"literal": "\"login\"", "count": 1}]})
        );
        assert_eq!(
            answer["paths"][1]["values"],
            serde_json::json!([{"literal": "812.5", "count": 1}, {"literal": "99", "count": 1}])
        );
        assert_eq!(answer["paths"][2]["count"], 2, "each element of an array counts under the array's path");
        assert_eq!(answer["paths"][3]["types"], serde_json::json!(["null"]));
        assert_eq!(answer["paths"][4]["values"], serde_json::json!([{"literal": "true", "count": 1}]));
    }

    #[test]
    fn the_sample_is_bounded_in_events_paths_values_and_parses_per_second() {
        let sample = SchemaSample::default();
        for i in 0..(SAMPLED_EVENTS_MAX + 10) {
            sample.add(
                format!(r#"{{"n":{i},"long":"{}","f{}":1}}"#, "x".repeat(VALUE_CHARS_MAX + 1), i % 500).as_bytes(),
            );
        }
        let answer: Value = serde_json::from_str(&sample.answer(Instant::now())).unwrap();
        assert_eq!(answer["events"], SAMPLED_EVENTS_MAX);
        let paths = answer["paths"].as_array().unwrap();
        assert_eq!(paths.len(), PATHS_MAX);
        let n = paths.iter().find(|p| p["path"] == "n").unwrap();
        assert_eq!(n["count"], SAMPLED_EVENTS_MAX);
        assert_eq!(n["values"].as_array().unwrap().len(), VALUES_PER_PATH_MAX);
        // The oldest ten left: the first literal in byte order is now 10.
        assert_eq!(n["values"][0], serde_json::json!({"literal": "10", "count": 1}));
        let long = paths.iter().find(|p| p["path"] == "long").unwrap();
        assert_eq!(
            (long["types"].clone(), long["values"].clone()),
            (serde_json::json!(["string"]), serde_json::json!([]))
        );

        let mut budget = SampleBudget::default();
        let start = Instant::now();
        let taken = (0..200).filter(|_| budget.take(start + Duration::from_millis(999))).count();
        assert_eq!(taken, SAMPLED_PER_SECOND_MAX as usize);
        assert!(budget.take(start + Duration::from_millis(1_999)), "the budget refills after a second");
    }
}
