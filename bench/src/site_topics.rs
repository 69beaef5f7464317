//! A site's several raw topics (issue 15): the generated clickstream split
//! the way a real site's services publish it, each topic with its own
//! shape and rate.
//!
//! - `site.pageviews`: page views, clicks, logins and cart changes (the
//!   web front end; most of the traffic);
//! - `site.searches`: searches (the search service);
//! - `site.bookings`: bookings (the booking service; rare, large);
//! - `site.payments`: one payment per booking, in the payment service's
//!   own shape (`amount.value`, `method`, `status`), not the tracker's.
//!
//! Every event keeps its `user.id`, so one user can be followed across all
//! of them (`user.id == "u-42"` on every topic).

use crate::clickstream::{EventType, Generated};

pub const PAGEVIEWS: &str = "site.pageviews";
pub const SEARCHES: &str = "site.searches";
pub const BOOKINGS: &str = "site.bookings";
pub const PAYMENTS: &str = "site.payments";

/// Every topic of the site, in name order.
pub const TOPICS: [&str; 4] = [BOOKINGS, PAGEVIEWS, PAYMENTS, SEARCHES];

/// The topic a generated event goes to; `None` for a malformed one (it
/// goes to the front end's topic, where a broken tracker would send it).
pub fn topic_of(generated: Generated) -> &'static str {
    match generated {
        Generated::Event(EventType::Search) => SEARCHES,
        Generated::Event(EventType::Booking) => BOOKINGS,
        Generated::Event(_) | Generated::Malformed(_) => PAGEVIEWS,
    }
}

/// The payment service's record of `booking` (a generated booking event),
/// written to `out`; false when `booking` lacks what a payment needs.
pub fn payment_for(booking: &[u8], out: &mut Vec<u8>) -> bool {
    let (Some(user), Some(id), Some(method), Some(ts)) = (
        text_after(booking, br#""user":{"id":""#),
        text_after(booking, br#""booking":{"id":""#),
        text_after(booking, br#""payment":""#),
        number_after(booking, br#""ts":"#),
    ) else {
        return false;
    };
    let nights = number_after(booking, br#""nights":"#).unwrap_or(1);
    let guests = number_after(booking, br#""guests":"#).unwrap_or(1);
    // A price from the booking's size: 60 to 220 a night per guest.
    let cents = nights * guests.max(1) * (6_000 + (ts % 16) * 1_000);
    out.clear();
    out.extend_from_slice(br#"{"type":"payment","payment_id":"p-"#);
    out.extend_from_slice(id);
    out.extend_from_slice(br#"","booking_id":"b-"#);
    out.extend_from_slice(id);
    out.extend_from_slice(br#"","user":{"id":""#);
    out.extend_from_slice(user);
    out.extend_from_slice(br#""},"amount":{"value":"#);
    out.extend_from_slice(format!("{}.{:02}", cents / 100, cents % 100).as_bytes());
    out.extend_from_slice(br#","currency":"EUR"},"method":""#);
    out.extend_from_slice(method);
    out.extend_from_slice(br#"","status":""#);
    // One payment in twenty is declined.
    out.extend_from_slice(if ts % 20 == 0 { b"declined" } else { b"captured" });
    out.extend_from_slice(br#"","ts":"#);
    out.extend_from_slice(ts.to_string().as_bytes());
    out.push(b'}');
    true
}

/// The string value after `needle` (up to the next `"`).
fn text_after<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    let start = memchr::memmem::find(haystack, needle)? + needle.len();
    let length = memchr::memchr(b'"', &haystack[start..])?;
    Some(&haystack[start..start + length])
}

/// The unsigned number after `needle`.
fn number_after(haystack: &[u8], needle: &[u8]) -> Option<u64> {
    let start = memchr::memmem::find(haystack, needle)? + needle.len();
    let digits = haystack[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&haystack[start..start + digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clickstream::{Clickstream, ClickstreamConfig};

    #[test]
    fn the_stream_splits_over_four_topics_and_each_booking_has_its_payment() {
        let mut stream = Clickstream::new(ClickstreamConfig { seed: 7, ..ClickstreamConfig::default() }).unwrap();
        let (mut event, mut payment) = (Vec::new(), Vec::new());
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..20_000 {
            event.clear();
            let topic = topic_of(stream.next_event(&mut event));
            *counts.entry(topic).or_insert(0u32) += 1;
            if topic == BOOKINGS {
                assert!(payment_for(&event, &mut payment), "{}", String::from_utf8_lossy(&event));
                let parsed: serde_json::Value = serde_json::from_slice(&payment).unwrap();
                assert_eq!(parsed["type"], "payment");
                let booking: serde_json::Value = serde_json::from_slice(&event).unwrap();
                assert_eq!(parsed["user"]["id"], booking["user"]["id"]);
                assert!(parsed["amount"]["value"].as_f64().unwrap() > 0.0);
            }
        }
        // Page views dominate, searches are frequent, bookings rare.
        assert!(counts[PAGEVIEWS] > counts[SEARCHES] && counts[SEARCHES] > counts[BOOKINGS], "{counts:?}");
        assert!(counts[BOOKINGS] > 0, "{counts:?}");
    }
}
