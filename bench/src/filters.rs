//! Filter sets in the language of FILTERS.md, matching the values that
//! [`crate::Clickstream`] generates.
//!
//! Two sets model the two loads the matcher is designed for (DESIGN.md,
//! "Where the speed comes from"):
//!
//! - *selective*: one `user.id == "u-N"` per admin session, the common case
//!   of 50,000 admins each tailing one user; over the default million users
//!   they select ~5% of events;
//! - *mixed*: what a population of admins and downstream consumers really
//!   types: mostly user ids, then every operator of the language on paths
//!   and values that occur in the stream (equality, `in`, ordering on
//!   numbers, `contains`, `startswith`, `endswith`, `matches`, full-text
//!   terms, `exists`, `not`, bracketed keys, array paths), some
//!   selective and some broad. It never contains the match-everything `*`,
//!   which would make every event a match and hide the matcher's cost.

use crate::clickstream::catalog::{self, CITIES};
use crate::clickstream::{json, PRODUCT_COUNT};
use crate::rng::{SplitMix64, Weighted};

/// The selective filter for user number `user`: `user.id == "u-{user}"`.
pub fn selective_filter(user: u64) -> String {
    format!("user.id == \"u-{user}\"")
}

/// A generator of the mixed filter set; deterministic for a seed.
pub struct MixedFilters {
    /// The source of every choice.
    rng: SplitMix64,
    /// User ids in filters are drawn from `u-1..=u-{users}`.
    users: u64,
    /// Which recipe each filter follows, by `RECIPES` weight.
    recipes: Weighted,
    /// SKU popularity, as in the stream, so that filtered SKUs occur.
    products: Weighted,
}

/// How one kind of filter is written.
type Recipe = fn(&mut MixedFilters) -> String;

/// Each recipe with its expected count per 1,000 filters.
///
/// User ids dominate, as in the live tail's main use. Broad filters (a
/// quarter to nine tenths of events: `user.segment != "vip"`, `geo.lat >
/// N`, `page.path matches "^/hotel/[0-9]+$"`...) are each a handful, as
/// the few admins watching a whole segment; most others are narrowed by a
/// conjunction. Over the default stream, 1,000 filters give ~20 matches
/// per event (see fixtures/README.md).
const RECIPES: &[(u64, Recipe)] = &[
    (330, |filters| selective_filter(filters.user())),
    (30, |filters| {
        let count = filters.rng.between(2, 5);
        let ids: Vec<String> = (0..count).map(|_| quoted(&format!("u-{}", filters.user()))).collect();
        format!("user.id in [{}]", ids.join(", "))
    }),
    (20, |filters| format!("user.id == \"u-{}\" and type == \"page_view\"", filters.user())),
    (60, |filters| format!("type == \"booking\" and cart.total > {}", 50 * filters.rng.between(2, 40))),
    (5, |filters| format!("device.country in [{}]", filters.countries())),
    (25, |filters| format!("type == \"search\" and device.country in [{}]", filters.countries())),
    (3, |_| "page.url contains \"/hotels/\"".to_owned()),
    (30, |filters| format!("page.url contains {}", quoted(&format!("/hotels/{}", filters.city().slug)))),
    (3, |_| "page.path startswith \"/search\"".to_owned()),
    (15, |_| "page.path startswith \"/search\" and search.results == 0".to_owned()),
    (2, |_| "page.path matches \"^/hotel/[0-9]+$\"".to_owned()),
    (10, |_| "page.path matches \"^/hotel/1[0-9]{2}$\" and type == \"click\"".to_owned()),
    (10, |_| "page.path matches \"^/booking/b-[0-9a-f]{16}/confirmation$\"".to_owned()),
    (15, |filters| quoted(&filters.city().name.to_lowercase())),
    (10, |filters| quoted(filters.city().name)),
    (10, |filters| {
        let term = filters.rng.pick_copy(&["spa", "breakfast", "Le \"Petit\" Palais", "Summer sale", "googlebot"]);
        quoted(term)
    }),
    (15, |_| "not exists(user.id)".to_owned()),
    (2, |_| "user.segment != \"vip\"".to_owned()),
    (20, |_| "user.segment == \"vip\" and type == \"booking\"".to_owned()),
    (5, |_| "props[\"utm.source\"] startswith \"news\"".to_owned()),
    (10, |_| "props[\"utm.campaign\"] == \"summer-sale\" and type == \"booking\"".to_owned()),
    (10, |_| "props[\"ab test\"] == \"B\" and page.path == \"/checkout\"".to_owned()),
    (5, |filters| format!("props[\"ttfb ms\"] >= {}", 50 * filters.rng.between(6, 8))),
    (40, |filters| format!("cart.items.sku == \"SKU-{}\"", filters.sku())),
    (10, |filters| {
        let (first, second) = (filters.sku(), filters.sku());
        format!("cart.items.sku in [\"SKU-{first}\", \"SKU-{second}\"] and cart.items.qty >= 3")
    }),
    (5, |filters| format!("geo.lat > {}.5", filters.rng.between(45, 60))),
    (10, |_| "geo.lat >= 40 and geo.lon < -70.25".to_owned()),
    (10, |filters| format!("geo.city == {}", quoted(filters.city().name))),
    (30, |filters| {
        let element = filters.rng.pick(catalog::HOTEL_ELEMENTS);
        format!("type == \"click\" and element.id == {}", quoted(element.id))
    }),
    (10, |_| "element.text contains \"terms\"".to_owned()),
    (20, |_| "search.results == 0".to_owned()),
    (20, |_| "search.query contains \"spa\"".to_owned()),
    (20, |filters| format!("type == \"search\" && search.query endswith {}", quoted(filters.city().name))),
    (10, |_| "type == \"search\" AND NOT search.query contains \"hotel\"".to_owned()),
    (15, |filters| format!("session.seq >= {}", 10 * filters.rng.between(3, 10))),
    (10, |_| "user.logged_in == false and type == \"add_to_cart\"".to_owned()),
    (2, |_| "device.type == \"mobile\" or device.type == \"tablet\"".to_owned()),
    (20, |_| "(device.type == \"mobile\" or device.type == \"tablet\") and type == \"booking\"".to_owned()),
    (5, |_| "device.browser startswith \"Safari\" and device.os contains \"iOS\"".to_owned()),
    (20, |_| "tags == \"conversion\"".to_owned()),
    (20, |filters| format!("booking.nights >= {}", filters.rng.between(4, 7))),
    (10, |_| "!(device.type == \"bot\") && page.path == \"/checkout\"".to_owned()),
    (20, |_| "(type == \"booking\" or type == \"add_to_cart\") and geo.country in [\"US\", \"CA\"]".to_owned()),
    (10, |_| "exists(search) and not exists(cart)".to_owned()),
    (10, |_| "element == null and page.path == \"/\"".to_owned()),
    (5, |_| "page.referrer == null || page.referrer startswith \"https://www.google.\"".to_owned()),
    (10, |_| "cart.currency != \"EUR\" and cart.total >= 250.5".to_owned()),
    // The default stream spans 100 s per million events (10,000 events/s).
    (10, |filters| format!("ts >= {}", 1_717_200_000_000 + 100 * filters.rng.between(1, 1_000))),
];

impl MixedFilters {
    /// A generator whose filters are fully determined by `seed`, with user
    /// ids in `u-1..=u-{users}` (`users` at least 1).
    pub fn new(seed: u64, users: u64) -> Self {
        assert!(users > 0, "MixedFilters needs at least one user");
        Self {
            rng: SplitMix64::new(seed),
            users,
            recipes: Weighted::from_weights(RECIPES.iter().map(|&(weight, _)| weight)),
            products: Weighted::zipf(PRODUCT_COUNT as usize, 1.0),
        }
    }

    /// The next filter, one line of text.
    pub fn next_filter(&mut self) -> String {
        let recipe = RECIPES[self.recipes.sample(&mut self.rng)].1;
        recipe(self)
    }

    fn user(&mut self) -> u64 {
        self.rng.between(1, self.users)
    }

    /// A SKU number, the popular ones more often (as in carts).
    fn sku(&mut self) -> u64 {
        self.products.sample(&mut self.rng) as u64 + 1
    }

    fn city(&mut self) -> &'static catalog::City {
        self.rng.pick(CITIES)
    }

    /// One to four distinct countries of the catalog, quoted and
    /// comma-separated: the inside of an `in [...]` list.
    fn countries(&mut self) -> String {
        let wanted = self.rng.between(1, 4) as usize;
        let mut countries: Vec<&str> = Vec::new();
        while countries.len() < wanted {
            let country = self.city().country;
            if !countries.contains(&country) {
                countries.push(country);
            }
        }
        countries.iter().map(|country| quoted(country)).collect::<Vec<_>>().join(", ")
    }
}

/// `text` as a FILTERS.md string literal (a JSON string).
fn quoted(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    json::push_string(&mut out, text);
    String::from_utf8(out).expect("escaping keeps UTF-8")
}

#[cfg(test)]
mod tests;
