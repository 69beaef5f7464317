//! A subscription's `topics`: which raw topics its filter matches events
//! of, checked against the topics the workers announce (`worker_topics`,
//! written by every worker), so a typo is a clear `subscribe_error`, not a
//! filter that silently never matches.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clicktail_engine::log::RawTopics;
use clicktail_engine::registry::{RegistryError, TOPICS_PER_FILTER_MAX};

/// A topic some worker announced within this long is offered and accepted
/// (workers announce every 10 s by default).
pub const ANNOUNCED_WITHIN: Duration = Duration::from_secs(300);

/// The raw topics the workers announced, as the control thread last read
/// them: what `hello` offers a new session (the UI's topic choice).
#[derive(Default)]
pub struct KnownTopics(Mutex<Arc<[String]>>);

impl KnownTopics {
    pub fn get(&self) -> Arc<[String]> {
        Arc::clone(&self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    pub fn set(&self, topics: Vec<String>) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = topics.into();
    }
}

/// The `topics` granted for a requested value: `None` (every topic) when
/// none was asked or `null`; else the list, each name one the workers
/// consume and a `^pattern` matching at least one of them. `known` gives
/// the announced topics; it is asked only when a list was given.
pub fn granted_topics(
    requested: Option<&serde_json::Value>,
    known: impl FnOnce() -> Result<Vec<String>, RegistryError>,
) -> Result<Option<Vec<String>>, String> {
    let list = match requested {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Array(items)) => items,
        Some(other) => return Err(format!("topics must be a list of topic names (or one \"^pattern\"); got {other}")),
    };
    let names: Vec<String> = list
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| "topics must be a list of strings".to_owned())?;
    checked_topic_list(names, known).map(Some)
}

/// `names` (topic names and at most one `^pattern`) when each name is one
/// the workers consume (`known`) and the pattern matches one of them.
pub fn checked_topic_list(
    names: Vec<String>,
    known: impl FnOnce() -> Result<Vec<String>, RegistryError>,
) -> Result<Vec<String>, String> {
    if names.is_empty() || names.len() > TOPICS_PER_FILTER_MAX {
        return Err(format!("topics names 1 to {TOPICS_PER_FILTER_MAX} topics; leave it out for every topic"));
    }
    if names.iter().any(|name| name.contains(',')) {
        return Err("a topic name has no comma: give each topic as its own string".to_owned());
    }
    let parsed = RawTopics::parse(&names.join(",")).map_err(|error| format!("topics: {error}"))?;
    let known = known().map_err(|error| format!("could not check the topics: {error}"))?;
    if known.is_empty() {
        return Err("no worker has announced the raw topics it consumes yet: try again in a moment".to_owned());
    }
    let offered = || known.join(", ");
    if let Some(unknown) = parsed.names().iter().find(|name| !known.contains(name)) {
        return Err(format!("unknown topic {unknown:?}: the workers consume {}", offered()));
    }
    if let Some(pattern) = parsed.pattern() {
        if !known.iter().any(|topic| RawTopics::parse(pattern).is_ok_and(|only| only.contains(topic))) {
            return Err(format!(
                "the pattern {pattern:?} matches none of the topics the workers consume ({})",
                offered()
            ));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn known() -> Result<Vec<String>, RegistryError> {
        Ok(vec!["site.bookings".to_owned(), "site.searches".to_owned()])
    }

    #[test]
    fn listed_topics_are_checked_against_the_announced_ones() {
        assert_eq!(granted_topics(None, known), Ok(None));
        assert_eq!(granted_topics(Some(&json!(null)), known), Ok(None));
        assert_eq!(granted_topics(Some(&json!(["site.bookings"])), known), Ok(Some(vec!["site.bookings".into()])));
        assert_eq!(granted_topics(Some(&json!(["^site\\..*"])), known), Ok(Some(vec!["^site\\..*".into()])));
        let typo = granted_topics(Some(&json!(["site.bokings"])), known).unwrap_err();
        assert_eq!(typo, r#"unknown topic "site.bokings": the workers consume site.bookings, site.searches"#);
        let pattern = granted_topics(Some(&json!(["^shop\\..*"])), known).unwrap_err();
        assert!(pattern.starts_with(r#"the pattern "^shop\\..*$" matches none"#), "{pattern}");
        assert!(granted_topics(Some(&json!([])), known).unwrap_err().starts_with("topics names 1 to 64"));
        assert!(granted_topics(Some(&json!("site.bookings")), known).unwrap_err().starts_with("topics must be a list"));
        assert!(granted_topics(Some(&json!([1])), known).unwrap_err().starts_with("topics must be a list of strings"));
        assert!(granted_topics(Some(&json!(["a,b"])), known).unwrap_err().starts_with("a topic name has no comma"));
        let none = granted_topics(Some(&json!(["site.bookings"])), || Ok(Vec::new())).unwrap_err();
        assert!(none.starts_with("no worker has announced"), "{none}");
    }
}
