//! The criteria admin sessions subscribe to: a weighted mix of kinds, each
//! session drawing one kind and one criterion of it.
//!
//! Written `user:80,type:8,text:8,all:2,mixed:2` (the default): selective
//! user ids dominate, as in the live tail's main use; a few sessions watch a
//! whole event type or a full-text term; a couple stand on the noisy `*`,
//! which receives every event and is what fills queues and drops frames.

use crate::clickstream::EventType;
use crate::filters::{selective_filter, MixedFilters};
use crate::rng::{SplitMix64, Weighted};

use super::LoadgenError;

/// Full-text terms that occur in the generated stream (city names, hotel
/// amenities, the crawler's user agent), from common to rare.
const TEXT_TERMS: &[&str] = &["paris", "london", "spa", "breakfast", "googlebot", "summer sale"];

/// Event types an admin watches whole: the rarer ones (a `page_view` watch
/// would be nearly as noisy as `*`, which the mix has its own kind for).
const WATCHED_TYPES: &[EventType] =
    &[EventType::Booking, EventType::Search, EventType::AddToCart, EventType::Login, EventType::RemoveFromCart];

/// One kind of criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    /// `user.id == "u-N"`, N uniform over the generated users.
    User,
    /// `type == "booking"` and the other rare types in turn.
    Type,
    /// A quoted full-text term.
    Text,
    /// `*`: every well-formed event.
    All,
    /// One filter of the realistic mixed set (`crate::filters`).
    Mixed,
}

impl FilterKind {
    const NAMES: [(&'static str, FilterKind); 5] = [
        ("user", FilterKind::User),
        ("type", FilterKind::Type),
        ("text", FilterKind::Text),
        ("all", FilterKind::All),
        ("mixed", FilterKind::Mixed),
    ];

    /// The name used in the mix and the report.
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, kind)| *kind == self).map_or("?", |(name, _)| name)
    }
}

/// Weights per kind; see the module docs for the syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterMix {
    /// Each kind with its relative weight (non-zero).
    weights: Vec<(FilterKind, u64)>,
}

impl Default for FilterMix {
    fn default() -> Self {
        FilterMix {
            weights: vec![
                (FilterKind::User, 80),
                (FilterKind::Type, 8),
                (FilterKind::Text, 8),
                (FilterKind::All, 2),
                (FilterKind::Mixed, 2),
            ],
        }
    }
}

impl std::str::FromStr for FilterMix {
    type Err = LoadgenError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| LoadgenError::FilterMix { mix: text.to_owned(), reason };
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (name, weight) = part.split_once(':').ok_or_else(|| bad(format!("{part:?} is not kind:weight")))?;
            let kind = FilterKind::NAMES
                .iter()
                .find(|(known, _)| *known == name.trim())
                .map(|(_, kind)| *kind)
                .ok_or_else(|| bad(format!("unknown kind {name:?} (user, type, text, all, mixed)")))?;
            let weight: u64 =
                weight.trim().parse().map_err(|_| bad(format!("weight {weight:?} is not a whole number")))?;
            if weight > 0 {
                weights.push((kind, weight));
            }
        }
        if weights.is_empty() {
            return Err(bad("no kind has a positive weight".into()));
        }
        Ok(FilterMix { weights })
    }
}

/// Draws criteria for sessions, deterministically for a seed.
pub struct CriterionDrawer {
    /// The kinds in the mix, indexed like `weighted`.
    kinds: Vec<FilterKind>,
    /// Sampling by weight.
    weighted: Weighted,
    /// The source of every choice.
    rng: SplitMix64,
    /// Users of the generated stream.
    users: u64,
    /// How many `Type` and `Text` criteria were drawn, to rotate through them.
    rotation: usize,
    /// The realistic mixed set, for `Mixed`.
    mixed: MixedFilters,
}

impl CriterionDrawer {
    /// A drawer over `mix` for a stream of `users` users (at least 1).
    pub fn new(mix: &FilterMix, seed: u64, users: u64) -> Self {
        CriterionDrawer {
            kinds: mix.weights.iter().map(|(kind, _)| *kind).collect(),
            weighted: Weighted::from_weights(mix.weights.iter().map(|(_, weight)| *weight)),
            rng: SplitMix64::new(seed),
            users: users.max(1),
            rotation: 0,
            mixed: MixedFilters::new(seed, users.max(1)),
        }
    }

    /// The next session's kind and criterion.
    pub fn next_criterion(&mut self) -> (FilterKind, String) {
        let kind = self.kinds[self.weighted.sample(&mut self.rng)];
        let criterion = match kind {
            FilterKind::User => selective_filter(self.rng.between(1, self.users)),
            FilterKind::Type => {
                self.rotation += 1;
                format!("type == \"{}\"", WATCHED_TYPES[self.rotation % WATCHED_TYPES.len()].as_str())
            }
            FilterKind::Text => {
                self.rotation += 1;
                format!("\"{}\"", TEXT_TERMS[self.rotation % TEXT_TERMS.len()])
            }
            FilterKind::All => "*".to_owned(),
            FilterKind::Mixed => self.mixed.next_filter(),
        };
        (kind, criterion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_syntax() {
        let mix: FilterMix = "user:80, type:8,text:8,all:2,mixed:2".parse().unwrap();
        assert_eq!(mix, FilterMix::default());
        let only_all: FilterMix = "all:1,user:0".parse().unwrap();
        assert_eq!(only_all.weights, vec![(FilterKind::All, 1)]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in ["", "user", "users:3", "user:-1", "user:0"] {
            assert!(bad.parse::<FilterMix>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn draws_every_kind_of_a_mix_and_only_those() {
        let mix: FilterMix = "user:1,all:1".parse().unwrap();
        let mut drawer = CriterionDrawer::new(&mix, 7, 100);
        let drawn: Vec<_> = (0..200).map(|_| drawer.next_criterion()).collect();
        assert!(drawn.iter().any(|(kind, criterion)| *kind == FilterKind::All && criterion == "*"));
        assert!(drawn.iter().any(|(kind, criterion)| *kind == FilterKind::User && criterion.starts_with("user.id")));
        assert!(drawn.iter().all(|(kind, _)| matches!(kind, FilterKind::User | FilterKind::All)));
    }
}
