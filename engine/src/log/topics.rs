//! Which raw topics a worker consumes: a list of names and at most one
//! pattern, as Kafka's subscription takes them (`clicks,^site\..*`).
//!
//! A pattern starts with `^` (Kafka's convention) and is a regular
//! expression over the whole topic name. Kafka re-evaluates it on every
//! metadata refresh (`topic.metadata.refresh.interval.ms`), so a topic
//! created after the worker started is picked up without a restart; the
//! in-memory log re-evaluates it on every poll.

use std::fmt;

/// A worker's raw-topic subscription.
#[derive(Clone, Debug)]
pub struct RawTopics {
    names: Vec<String>,
    pattern: Option<regex::Regex>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RawTopicsError {
    #[error("no raw topic given (a comma-separated list of names and/or one `^pattern`)")]
    Empty,
    #[error("only one `^pattern` is allowed, got {first:?} and {second:?}")]
    TwoPatterns { first: String, second: String },
    #[error("the topic pattern {pattern:?} is not a regular expression: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("{name:?} is not a topic name (letters, digits, `.`, `_`, `-`; at most 249)")]
    BadName { name: String },
}

/// Kafka's rule for topic names (`Topic.validate`).
pub fn is_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl RawTopics {
    /// Exactly one topic (`--raw-topic`).
    pub fn one(name: &str) -> RawTopics {
        RawTopics { names: vec![name.to_owned()], pattern: None }
    }

    /// Parses `clicks,searches,^site\..*`: comma-separated names and at most
    /// one pattern. Blank items are ignored; duplicates are kept once.
    pub fn parse(spec: &str) -> Result<RawTopics, RawTopicsError> {
        let mut names: Vec<String> = Vec::new();
        let mut pattern: Option<regex::Regex> = None;
        for item in spec.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            if item.starts_with('^') {
                if let Some(first) = &pattern {
                    return Err(RawTopicsError::TwoPatterns { first: first.as_str().to_owned(), second: item.into() });
                }
                pattern = Some(compile_pattern(item)?);
            } else if !is_topic_name(item) {
                return Err(RawTopicsError::BadName { name: item.to_owned() });
            } else if !names.iter().any(|name| name == item) {
                names.push(item.to_owned());
            }
        }
        if names.is_empty() && pattern.is_none() {
            return Err(RawTopicsError::Empty);
        }
        Ok(RawTopics { names, pattern })
    }

    /// The topics named explicitly; they must exist when a worker starts.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The pattern as given (with its `^`), if any.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_ref().map(regex::Regex::as_str)
    }

    /// What Kafka's `subscribe` takes: every name and the pattern.
    pub fn subscription(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).chain(self.pattern()).collect()
    }

    /// True when `topic` is one of these names or matches the pattern.
    pub fn contains(&self, topic: &str) -> bool {
        self.names.iter().any(|name| name == topic) || self.pattern.as_ref().is_some_and(|p| p.is_match(topic))
    }

    /// The topics consumed among `existing` (every topic of the cluster):
    /// sorted, each once. A named topic is listed even when absent.
    pub fn resolve<'a>(&self, existing: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut topics: Vec<String> = self.names.clone();
        if let Some(pattern) = &self.pattern {
            // Kafka's pattern subscriptions never match internal topics.
            topics.extend(
                existing.into_iter().filter(|t| !t.starts_with("__") && pattern.is_match(t)).map(str::to_owned),
            );
        }
        topics.sort();
        topics.dedup();
        topics
    }
}

fn compile_pattern(pattern: &str) -> Result<regex::Regex, RawTopicsError> {
    // Anchored at both ends, as Kafka matches a pattern against the whole name.
    let anchored = if pattern.ends_with('$') { pattern.to_owned() } else { format!("{pattern}$") };
    regex::Regex::new(&anchored)
        .map_err(|error| RawTopicsError::BadPattern { pattern: pattern.to_owned(), reason: error.to_string() })
}

impl fmt::Display for RawTopics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.subscription().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_and_one_pattern_parse_and_resolve_against_the_cluster() {
        let topics = RawTopics::parse(" clicks, site.searches ,^site\\..*,clicks").unwrap();
        assert_eq!(topics.names(), ["clicks", "site.searches"]);
        assert_eq!(topics.pattern(), Some("^site\\..*$"));
        assert!(topics.contains("site.bookings"));
        assert!(!topics.contains("website.bookings"));
        let existing = ["site.bookings", "clicks.filtered", "site.searches", "__consumer_offsets", "other"];
        assert_eq!(topics.resolve(existing), ["clicks", "site.bookings", "site.searches"]);
        assert_eq!(topics.to_string(), "clicks,site.searches,^site\\..*$");
    }

    #[test]
    fn bad_subscriptions_say_what_is_wrong() {
        assert_eq!(RawTopics::parse(" , ").unwrap_err(), RawTopicsError::Empty);
        assert!(matches!(RawTopics::parse("^a.*,^b.*"), Err(RawTopicsError::TwoPatterns { .. })));
        assert!(matches!(RawTopics::parse("^(a"), Err(RawTopicsError::BadPattern { .. })));
        assert_eq!(RawTopics::parse("a b").unwrap_err(), RawTopicsError::BadName { name: "a b".into() });
    }
}
