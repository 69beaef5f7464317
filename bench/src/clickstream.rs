//! A deterministic model of a travel website's clickstream.
//!
//! The model keeps a pool of live sessions (1,024 by default) and, for each
//! event, picks one uniformly and advances it one step through a page flow:
//! home → search or city listing → hotel → cart → checkout → booking, with
//! clicks, searches, logins and cart changes along the way and an exit
//! chance on every page. A finished session is replaced by a new one for a
//! user drawn uniformly from `u-1..u-N`, so every user owns the same share
//! of events on average: the 50,000 filters `user.id == "u-1"` ...
//! `"u-50000"` over the default million users select ~5% of events
//! (slightly less: 2% of sessions are a crawler with `"user": null`).
//!
//! Popularity follows Zipf's law: cities (exponent 1.0 over 32 cities),
//! hotels (1.1 over 20,000) and products (1.0 over 5,000 SKUs). A user's
//! segment, home city, usual device and A/B arm come from a hash of the user
//! number, so `u-42` is the same person in every stream and every seed.
//!
//! Each event is one JSON object of ~650 bytes (665 on average over a
//! million events, 482 to 1,043 each), serialized by hand (see [`json`]) into a
//! caller-owned buffer; nothing is allocated per event. A configurable share
//! of events is then corrupted ([`Malformation`]).
//!
//! Speed: 1.5 to 2.5 million events/s (1.0 to 1.6 GB/s) on one core of the
//! 2-core development machine, release build, measured with `clicktail
//! fixtures events --count 5000000 --out /dev/null` while other builds ran.

pub(crate) mod catalog;
pub mod json;
mod malformed;

use crate::rng::{mix64, SplitMix64, Weighted};
use catalog::{Channel, DeviceProfile, Element, CITIES};
pub use malformed::Malformation;

/// How many hotels the site lists, ids `1..=HOTEL_COUNT`.
pub const HOTEL_COUNT: u32 = 20_000;

/// How many products the site sells, `SKU-1..=SKU-PRODUCT_COUNT`.
pub const PRODUCT_COUNT: u32 = 5_000;

/// The bound on the live-session pool (a session is a small fixed-size
/// struct, so the bound is ~100 MB).
pub const LIVE_SESSIONS_MAX: usize = 1_000_000;

/// The bound on one session's length; a crawler or an indecisive user is cut
/// off there, like a real tracker's 30-minute inactivity timeout would.
const SESSION_EVENTS_MAX: u32 = 300;

/// The bound on distinct items in a cart; adding to a full cart raises the
/// quantity of its last item instead.
const CART_ITEMS_MAX: usize = 3;

/// Percentage of sessions that are a search-engine crawler.
const CRAWLER_SESSION_PERCENT: u64 = 2;

/// The site every URL points to.
const SITE: &str = "https://travel.example.com";

/// Domain separators mixed into the seed so that event, session, cart and
/// booking ids come from unrelated sequences.
const EVENT_ID_DOMAIN: u64 = 0x6576_656e_7400_0001;
const SESSION_ID_DOMAIN: u64 = 0x7365_7373_696f_6e02;
const CART_ID_DOMAIN: u64 = 0x6361_7274_0000_0003;
const BOOKING_ID_DOMAIN: u64 = 0x626f_6f6b_696e_6704;
/// Mixed into user numbers for their attributes; independent of the seed.
const USER_DOMAIN: u64 = 0x7573_6572_0000_0005;
/// Mixed into hotel and product numbers for their attributes.
const CATALOG_DOMAIN: u64 = 0x6361_7461_6c6f_6706;

/// What to generate. Every field has a documented default
/// ([`ClickstreamConfig::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickstreamConfig {
    /// The PRNG seed: the same config always yields the same bytes.
    /// Default 1.
    pub seed: u64,
    /// Users are `u-1..=u-{users}`, drawn uniformly per session. Default
    /// 1,000,000; at least 1.
    pub users: u64,
    /// Events per million that are corrupted into malformed messages.
    /// Default 0; at most 1,000,000.
    pub malformed_per_million: u32,
    /// Sessions interleaved at any moment. More sessions spread one user's
    /// events further apart in the stream. Default 1,024; 1 to
    /// [`LIVE_SESSIONS_MAX`].
    pub live_sessions: usize,
    /// The `ts` of the first event, milliseconds since the Unix epoch.
    /// Default 1,717,200,000,000 (2024-06-01T00:00:00Z).
    pub start_ts_ms: u64,
    /// The traffic rate the `ts` values describe (not how fast the
    /// generator runs): consecutive events are on average `1 /
    /// events_per_second` apart. Default 10,000; at least 1.
    pub events_per_second: u32,
}

impl Default for ClickstreamConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            users: 1_000_000,
            malformed_per_million: 0,
            live_sessions: 1_024,
            start_ts_ms: 1_717_200_000_000,
            events_per_second: 10_000,
        }
    }
}

/// A [`ClickstreamConfig`] that cannot be generated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `users` was 0.
    #[error("users must be at least 1")]
    NoUsers,
    /// `malformed_per_million` was above one million.
    #[error("malformed_per_million is {0}, above 1000000")]
    MalformedRateTooHigh(u32),
    /// `live_sessions` was 0 or above [`LIVE_SESSIONS_MAX`].
    #[error("live_sessions is {0}, outside 1..={LIVE_SESSIONS_MAX}")]
    LiveSessionsOutOfRange(usize),
    /// `events_per_second` was 0.
    #[error("events_per_second must be at least 1")]
    NoTraffic,
}

impl ClickstreamConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.users == 0 {
            return Err(ConfigError::NoUsers);
        }
        if self.malformed_per_million > 1_000_000 {
            return Err(ConfigError::MalformedRateTooHigh(self.malformed_per_million));
        }
        if !(1..=LIVE_SESSIONS_MAX).contains(&self.live_sessions) {
            return Err(ConfigError::LiveSessionsOutOfRange(self.live_sessions));
        }
        if self.events_per_second == 0 {
            return Err(ConfigError::NoTraffic);
        }
        Ok(())
    }
}

/// The `type` of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A page was displayed; `element` is `null`.
    PageView,
    /// An element was clicked; `element` describes it.
    Click,
    /// A search was submitted; `search` has the query and result count.
    Search,
    /// A product was added; `cart` shows the cart after it.
    AddToCart,
    /// An item was removed; `cart` shows the cart after it.
    RemoveFromCart,
    /// An anonymous visitor signed in; `login` has the method.
    Login,
    /// A booking was paid; `cart` and `booking` describe it.
    Booking,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 7] = [
        EventType::PageView,
        EventType::Click,
        EventType::Search,
        EventType::AddToCart,
        EventType::RemoveFromCart,
        EventType::Login,
        EventType::Booking,
    ];

    /// The value of the `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PageView => "page_view",
            EventType::Click => "click",
            EventType::Search => "search",
            EventType::AddToCart => "add_to_cart",
            EventType::RemoveFromCart => "remove_from_cart",
            EventType::Login => "login",
            EventType::Booking => "booking",
        }
    }
}

/// What [`Clickstream::next_event`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generated {
    /// A well-formed event of this type.
    Event(EventType),
    /// An event corrupted this way (its type is not reported: it no longer
    /// has one that a parser could see).
    Malformed(Malformation),
}

/// The event generator. See the module docs for the model.
pub struct Clickstream {
    /// The configuration, validated.
    config: ClickstreamConfig,
    /// The single source of randomness; every draw happens in a fixed order
    /// so the stream depends only on the config.
    rng: SplitMix64,
    /// Popularity tables and per-hotel data, built once.
    world: World,
    /// The live-session pool; a finished session is replaced in place.
    sessions: Vec<Session>,
    /// Keys that turn counters into ids (see the `*_DOMAIN` constants).
    id_keys: IdKeys,
    /// Events generated so far, malformed included; numbers event ids.
    events_generated: u64,
    /// Sessions started so far; numbers session ids.
    sessions_started: u64,
    /// Bookings made so far; numbers booking ids.
    bookings_made: u64,
    /// Microseconds of simulated traffic since `start_ts_ms`.
    clock_us: u64,
    /// Mean gap between events in microseconds, from `events_per_second`.
    mean_gap_us: u64,
}

impl Clickstream {
    /// A generator for `config`, or why the config is unusable.
    pub fn new(config: ClickstreamConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = SplitMix64::new(config.seed);
        let world = World::new();
        let id_keys = IdKeys {
            event: mix64(config.seed ^ EVENT_ID_DOMAIN),
            session: mix64(config.seed ^ SESSION_ID_DOMAIN),
            cart: mix64(config.seed ^ CART_ID_DOMAIN),
            booking: mix64(config.seed ^ BOOKING_ID_DOMAIN),
        };
        let mut sessions_started = 0;
        let sessions = (0..config.live_sessions)
            .map(|_| {
                sessions_started += 1;
                Session::start(sessions_started, config.users, &world, &mut rng)
            })
            .collect();
        let mut stream = Self {
            mean_gap_us: (1_000_000 / u64::from(config.events_per_second)).max(1),
            config,
            rng,
            world,
            sessions,
            id_keys,
            events_generated: 0,
            sessions_started,
            bookings_made: 0,
            clock_us: 0,
        };
        stream.warm_up();
        Ok(stream)
    }

    /// Ages the session pool so the stream starts in steady state.
    ///
    /// A real stream is joined mid-flight: sessions of every age, carts
    /// already filled. Without this, the first ~1,000 events of a stream
    /// would be 80% landing-page views with no bookings (measured on the
    /// 1,000-event sample). Each session takes 0 to `WARM_UP_STEPS_MAX - 1`
    /// silent steps (nothing is written and the clock does not move), and a
    /// session that ends is replaced as usual.
    fn warm_up(&mut self) {
        /// About twice the mean session length (~15 events).
        const WARM_UP_STEPS_MAX: u64 = 32;
        for slot in 0..self.sessions.len() {
            for _ in 0..self.rng.below(WARM_UP_STEPS_MAX) {
                let session = &mut self.sessions[slot];
                let step = session.plan(&self.world, &mut self.rng, &mut self.bookings_made);
                session.begin_step(step);
                if session.finish_step(step, &mut self.rng) {
                    self.sessions_started += 1;
                    self.sessions[slot] =
                        Session::start(self.sessions_started, self.config.users, &self.world, &mut self.rng);
                }
            }
        }
    }

    /// The configuration this generator runs with.
    pub fn config(&self) -> &ClickstreamConfig {
        &self.config
    }

    /// Events generated so far, malformed included.
    pub fn events_generated(&self) -> u64 {
        self.events_generated
    }

    /// Appends the next event to `out` (no newline; `out` is not cleared, so
    /// a caller may batch many events with its own separators) and says what
    /// it was.
    pub fn next_event(&mut self, out: &mut Vec<u8>) -> Generated {
        let start = out.len();
        self.events_generated += 1;
        self.clock_us += self.rng.below(2 * self.mean_gap_us + 1);
        let slot = self.rng.below(self.sessions.len() as u64) as usize;

        let session = &mut self.sessions[slot];
        let step = session.plan(&self.world, &mut self.rng, &mut self.bookings_made);
        session.begin_step(step);
        let event = EventWriter { out, world: &self.world, session, id_keys: &self.id_keys, rng: &mut self.rng };
        event.write(&step, self.events_generated, self.config.start_ts_ms + self.clock_us / 1_000);
        let event_type = step.event_type();
        let finished = session.finish_step(step, &mut self.rng);
        if finished {
            self.sessions_started += 1;
            self.sessions[slot] = Session::start(self.sessions_started, self.config.users, &self.world, &mut self.rng);
        }

        if self.config.malformed_per_million > 0 && self.rng.per_million(self.config.malformed_per_million) {
            return Generated::Malformed(malformed::corrupt(out, start, &mut self.rng));
        }
        Generated::Event(event_type)
    }
}

/// Keys that turn counters into ids: `mix64(key + counter)` is unique per
/// counter (`mix64` is a bijection) yet looks random.
struct IdKeys {
    /// For `event_id`.
    event: u64,
    /// For `session.id`.
    session: u64,
    /// For `cart.id`.
    cart: u64,
    /// For `booking.id` and confirmation URLs.
    booking: u64,
}

/// The static world plus the distributions drawn from it, built once per
/// generator.
struct World {
    /// Destination and home-city popularity (Zipf over `CITIES`).
    cities: Weighted,
    /// Hotel popularity (Zipf over ids `1..=HOTEL_COUNT`, index = id - 1).
    hotels: Weighted,
    /// Product popularity (Zipf over `SKU-1..`, index = number - 1).
    products: Weighted,
    /// Human device mix.
    devices: Weighted,
    /// Traffic channel mix.
    channels: Weighted,
    /// User segment mix.
    segments: Weighted,
    /// Each hotel's city index, at `hotel id - 1`.
    hotel_city: Vec<u16>,
    /// Hotel ids of each city, ascending (so most popular first).
    hotels_by_city: Vec<Vec<u32>>,
    /// Lowercased city names, for queries typed without capitals.
    lowercase_city_names: Vec<String>,
    /// Where crawler sessions are located: their data centres are near
    /// San Francisco.
    crawler_city: u16,
}

impl World {
    fn new() -> Self {
        let cities = Weighted::zipf(CITIES.len(), 1.0);
        let hotel_city: Vec<u16> = (1..=HOTEL_COUNT)
            .map(|hotel| cities.sample_from(mix64(u64::from(hotel) ^ CATALOG_DOMAIN)) as u16)
            .collect();
        let mut hotels_by_city = vec![Vec::new(); CITIES.len()];
        for (index, &city) in hotel_city.iter().enumerate() {
            hotels_by_city[usize::from(city)].push(index as u32 + 1);
        }
        assert!(hotels_by_city.iter().all(|hotels| !hotels.is_empty()), "every city needs a hotel");
        Self {
            cities,
            hotels: Weighted::zipf(HOTEL_COUNT as usize, 1.1),
            products: Weighted::zipf(PRODUCT_COUNT as usize, 1.0),
            devices: Weighted::from_weights(catalog::DEVICES.iter().map(|device| device.weight)),
            channels: Weighted::from_weights(catalog::CHANNELS.iter().map(|channel| channel.weight)),
            segments: Weighted::from_weights(catalog::SEGMENTS.iter().map(|&(_, weight)| weight)),
            hotel_city,
            hotels_by_city,
            lowercase_city_names: CITIES.iter().map(|city| city.name.to_lowercase()).collect(),
            crawler_city: CITIES
                .iter()
                .position(|city| city.slug == "san-francisco")
                .expect("the catalog has San Francisco") as u16,
        }
    }

    /// A hotel drawn by global popularity.
    fn popular_hotel(&self, rng: &mut SplitMix64) -> u32 {
        self.hotels.sample(rng) as u32 + 1
    }

    /// A hotel in `city`, skewed towards the city's popular ones (the
    /// minimum of two uniform draws favours low, i.e. popular, ids).
    fn hotel_in(&self, city: u16, rng: &mut SplitMix64) -> u32 {
        let hotels = &self.hotels_by_city[usize::from(city)];
        let count = hotels.len() as u64;
        hotels[rng.below(count).min(rng.below(count)) as usize]
    }

    fn city_of_hotel(&self, hotel: u32) -> u16 {
        self.hotel_city[hotel as usize - 1]
    }

    fn popular_city(&self, rng: &mut SplitMix64) -> u16 {
        self.cities.sample(rng) as u16
    }

    /// The city name as the query's user typed it.
    fn city_as_typed(&self, query: Query) -> &str {
        if query.lowercase {
            &self.lowercase_city_names[usize::from(query.city)]
        } else {
            CITIES[usize::from(query.city)].name
        }
    }
}

/// A hotel's stable attributes, derived from its id.
struct Hotel {
    /// First word(s) of the name (`"Hôtel"`).
    prefix: &'static str,
    /// Rest of the name (`"Lumière"`).
    name: &'static str,
    /// Index into `CITIES`.
    city: u16,
}

impl Hotel {
    fn of(world: &World, id: u32) -> Self {
        let hash = mix64(u64::from(id) ^ CATALOG_DOMAIN.rotate_left(17));
        Self {
            prefix: catalog::HOTEL_PREFIXES[(hash % catalog::HOTEL_PREFIXES.len() as u64) as usize],
            name: catalog::HOTEL_NAMES[((hash >> 16) % catalog::HOTEL_NAMES.len() as u64) as usize],
            city: world.city_of_hotel(id),
        }
    }
}

/// A product's stable attributes, derived from its SKU number.
struct Product {
    /// Display name.
    name: &'static str,
    /// Unit price in cents (5.00 to 404.99).
    price_cents: u64,
}

impl Product {
    fn of(sku: u32) -> Self {
        let hash = mix64(u64::from(sku) ^ CATALOG_DOMAIN.rotate_left(33));
        Self {
            name: catalog::PRODUCTS[(hash % catalog::PRODUCTS.len() as u64) as usize],
            price_cents: 500 + (hash >> 20) % 40_000,
        }
    }
}

/// A search query, stored as indices so sessions hold no strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Query {
    /// Index into `QUERY_TEMPLATES`.
    template: u8,
    /// Index into `CITIES`.
    city: u16,
    /// Whether the user typed the city in lowercase.
    lowercase: bool,
}

/// A page of the site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    /// `/`.
    Home,
    /// `/deals/summer-sale`.
    Deals,
    /// `/hotels/{city slug}`.
    HotelsList { city: u16 },
    /// `/search?q=...`.
    Search { query: Query },
    /// `/hotel/{id}`.
    Hotel { hotel: u32 },
    /// `/cart`.
    Cart,
    /// `/checkout`.
    Checkout,
    /// `/booking/{booking id}/confirmation`; holds the booking number.
    Confirmation { booking: u64 },
    /// `/account`.
    Account,
}

/// One line of a cart.
#[derive(Clone, Copy, Debug)]
struct CartItem {
    /// The SKU number.
    sku: u32,
    /// Quantity, 1 to 9.
    quantity: u8,
}

/// One visit of one user (or crawler).
struct Session {
    /// The session number; `session.id` is derived from it.
    number: u64,
    /// The user number, or `None` for a crawler (`"user": null`).
    user: Option<u64>,
    /// Index into `SEGMENTS`.
    segment: usize,
    /// Whether the user is signed in (becomes true on a `login` event).
    logged_in: bool,
    /// The device used for the whole session.
    device: &'static DeviceProfile,
    /// Index into `CITIES` of the user's home: sets device country and
    /// cart currency.
    home_city: u16,
    /// Index into `CITIES` of where the session takes place (the home city
    /// unless travelling).
    geo_city: u16,
    /// Latitude in 1e-4 degree, the city's plus a per-session offset.
    latitude_e4: i32,
    /// Longitude in 1e-4 degree.
    longitude_e4: i32,
    /// How the session arrived.
    channel: &'static Channel,
    /// Index into `AB_ARMS` (sticky per user).
    ab_arm: usize,
    /// Events emitted so far; `session.seq` of the event being written.
    seq: u32,
    /// The page the user is on.
    page: Page,
    /// The page before, or `None` on the entry page (referrer from channel).
    previous_page: Option<Page>,
    /// Whether `page`'s page_view has been emitted.
    page_viewed: bool,
    /// The last hotel seen, 0 if none: the hotel a booking is for.
    last_hotel: u32,
    /// Cart lines, `cart[..cart_len]`.
    cart: [CartItem; CART_ITEMS_MAX],
    /// How many cart lines are in use.
    cart_len: usize,
}

/// What a session does in one step.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// The page_view of the current page.
    View,
    /// Go to another page and emit its page_view.
    Navigate(Page),
    /// A click on the current page.
    Click(&'static Element),
    /// A search submitted from the current page.
    Search(Query),
    /// A product added to the cart.
    AddToCart,
    /// A cart line removed.
    RemoveFromCart,
    /// An anonymous user signs in with this method.
    Login(&'static str),
    /// The cart is booked: booking number, nights, guests, payment method.
    Booking { number: u64, nights: u8, guests: u8, payment: &'static str },
}

/// One step: the action, and the page the session moves to after the
/// event (its page_view comes as the session's next event).
#[derive(Clone, Copy, Debug)]
struct Step {
    action: Action,
    follow: Option<Page>,
}

impl Step {
    fn stay(action: Action) -> Self {
        Self { action, follow: None }
    }

    fn event_type(&self) -> EventType {
        match self.action {
            Action::View | Action::Navigate(_) => EventType::PageView,
            Action::Click(_) => EventType::Click,
            Action::Search(_) => EventType::Search,
            Action::AddToCart => EventType::AddToCart,
            Action::RemoveFromCart => EventType::RemoveFromCart,
            Action::Login(_) => EventType::Login,
            Action::Booking { .. } => EventType::Booking,
        }
    }
}

impl Session {
    /// A new session for a uniformly drawn user (or, 2% of the time, the
    /// crawler), landing on an entry page.
    fn start(number: u64, users: u64, world: &World, rng: &mut SplitMix64) -> Self {
        let crawler = rng.percent(CRAWLER_SESSION_PERCENT);
        let user = (!crawler).then(|| rng.between(1, users));
        // Stable per-user attributes: a user is the same person in every
        // session and every seed.
        let user_hash = mix64(user.unwrap_or(0) ^ USER_DOMAIN);
        let segment = world.segments.sample_from(user_hash);
        let home_city = match user {
            Some(_) => world.cities.sample_from(mix64(user_hash)) as u16,
            None => world.crawler_city,
        };
        let usual_device = world.devices.sample_from(mix64(user_hash ^ 1));
        let device = match user {
            None => &catalog::CRAWLER,
            Some(_) if rng.percent(80) => &catalog::DEVICES[usual_device],
            Some(_) => &catalog::DEVICES[world.devices.sample(rng)],
        };
        let travelling = rng.percent(10);
        let geo_city = if crawler {
            world.crawler_city
        } else if travelling {
            world.popular_city(rng)
        } else {
            home_city
        };
        let city = &CITIES[usize::from(geo_city)];
        let channel = if crawler { &catalog::CHANNELS[0] } else { &catalog::CHANNELS[world.channels.sample(rng)] };
        let signed_in_percent = match catalog::SEGMENTS[segment].0 {
            "loyal" | "vip" | "business" => 70,
            _ => 25,
        };
        let page = match rng.below(100) {
            _ if crawler => Page::Home,
            0..=44 => Page::Home,
            45..=64 => Page::HotelsList { city: world.popular_city(rng) },
            65..=84 => Page::Hotel { hotel: world.popular_hotel(rng) },
            85..=94 => Page::Deals,
            _ => Page::Search { query: new_query(world.popular_city(rng), rng) },
        };
        Self {
            number,
            user,
            segment,
            logged_in: user.is_some() && rng.percent(signed_in_percent),
            device,
            home_city,
            geo_city,
            latitude_e4: city.latitude_e4 + rng.below(1_601) as i32 - 800,
            longitude_e4: city.longitude_e4 + rng.below(1_601) as i32 - 800,
            channel,
            ab_arm: (user_hash >> 40) as usize % catalog::AB_ARMS.len(),
            seq: 0,
            page,
            previous_page: None,
            page_viewed: false,
            last_hotel: 0,
            cart: [CartItem { sku: 0, quantity: 0 }; CART_ITEMS_MAX],
            cart_len: 0,
        }
    }

    fn is_crawler(&self) -> bool {
        self.user.is_none()
    }

    fn cart_items(&self) -> &[CartItem] {
        &self.cart[..self.cart_len]
    }

    /// Chooses this step's action from the current page. Percentages are
    /// hand-tuned so that page views are ~45% of events, clicks ~25%,
    /// searches ~8%, cart changes ~10% and bookings ~1%.
    fn plan(&mut self, world: &World, rng: &mut SplitMix64, bookings_made: &mut u64) -> Step {
        if !self.page_viewed {
            return Step::stay(Action::View);
        }
        if self.is_crawler() {
            let page = match rng.below(4) {
                0 => Page::Home,
                1 => Page::HotelsList { city: rng.below(CITIES.len() as u64) as u16 },
                2 => Page::Deals,
                _ => Page::Hotel { hotel: rng.between(1, u64::from(HOTEL_COUNT)) as u32 },
            };
            return Step::stay(Action::Navigate(page));
        }
        let roll = rng.below(100);
        match self.page {
            Page::Home => match roll {
                0..=24 => {
                    let element = rng.pick(catalog::HOME_ELEMENTS);
                    let follow = match element.id {
                        "nav-deals" | "banner-summer" => Some(Page::Deals),
                        "nav-login" => Some(Page::Account),
                        _ => None,
                    };
                    Step { action: Action::Click(element), follow }
                }
                25..=59 => self.search(new_query(world.popular_city(rng), rng)),
                60..=77 => Step::stay(Action::Navigate(Page::HotelsList { city: world.popular_city(rng) })),
                78..=87 => Step::stay(Action::Navigate(Page::Hotel { hotel: world.popular_hotel(rng) })),
                88..=92 if !self.logged_in => Step::stay(Action::Login(rng.pick_copy(catalog::LOGIN_METHODS))),
                88..=92 => Step::stay(Action::Click(rng.pick(catalog::HOME_ELEMENTS))),
                _ => Step::stay(Action::Navigate(Page::Deals)),
            },
            Page::Search { query } => match roll {
                0..=39 => {
                    let element = rng.pick(catalog::RESULTS_ELEMENTS);
                    let follow =
                        (element.id == "result-title").then(|| Page::Hotel { hotel: world.hotel_in(query.city, rng) });
                    Step { action: Action::Click(element), follow }
                }
                40..=64 => Step::stay(Action::Navigate(Page::Hotel { hotel: world.hotel_in(query.city, rng) })),
                65..=84 => {
                    // Refine: mostly the same city with other words.
                    let city = if rng.percent(60) { query.city } else { world.popular_city(rng) };
                    self.search(new_query(city, rng))
                }
                _ => Step::stay(Action::Navigate(Page::HotelsList { city: query.city })),
            },
            Page::HotelsList { city } => match roll {
                0..=44 => Step::stay(Action::Navigate(Page::Hotel { hotel: world.hotel_in(city, rng) })),
                45..=69 => {
                    let element = rng.pick(catalog::RESULTS_ELEMENTS);
                    let follow =
                        (element.id == "result-title").then(|| Page::Hotel { hotel: world.hotel_in(city, rng) });
                    Step { action: Action::Click(element), follow }
                }
                70..=89 => self.search(new_query(city, rng)),
                _ => Step::stay(Action::Navigate(Page::Home)),
            },
            Page::Hotel { hotel } => match roll {
                0..=19 => self.add_to_cart(world, rng),
                20..=49 => {
                    let element = rng.pick(catalog::HOTEL_ELEMENTS);
                    let follow = (element.id == "btn-book" && self.cart_len > 0).then_some(Page::Cart);
                    Step { action: Action::Click(element), follow }
                }
                50..=64 => {
                    Step::stay(Action::Navigate(Page::Hotel { hotel: world.hotel_in(world.city_of_hotel(hotel), rng) }))
                }
                65..=74 => {
                    Step::stay(Action::Navigate(Page::Search { query: new_query(world.city_of_hotel(hotel), rng) }))
                }
                75..=89 if self.cart_len > 0 => Step::stay(Action::Navigate(Page::Cart)),
                75..=89 => self.add_to_cart(world, rng),
                _ => Step::stay(Action::Navigate(Page::Hotel { hotel: world.popular_hotel(rng) })),
            },
            Page::Cart => match roll {
                _ if self.cart_len == 0 => Step::stay(Action::Navigate(Page::Home)),
                0..=44 => Step::stay(Action::Navigate(Page::Checkout)),
                45..=59 => {
                    let line = rng.below(self.cart_len as u64) as usize;
                    self.cart.copy_within(line + 1..self.cart_len, line);
                    self.cart_len -= 1;
                    Step::stay(Action::RemoveFromCart)
                }
                60..=79 => Step::stay(Action::Click(rng.pick(catalog::CHECKOUT_ELEMENTS))),
                _ => Step::stay(Action::Navigate(Page::Hotel {
                    hotel: if self.last_hotel > 0 { self.last_hotel } else { world.popular_hotel(rng) },
                })),
            },
            Page::Checkout => match roll {
                _ if self.cart_len == 0 => Step::stay(Action::Navigate(Page::Home)),
                0..=54 => {
                    *bookings_made += 1;
                    let number = *bookings_made;
                    Step {
                        action: Action::Booking {
                            number,
                            nights: rng.between(1, 7) as u8,
                            guests: rng.between(1, 4) as u8,
                            payment: rng.pick_copy(catalog::PAYMENT_METHODS),
                        },
                        follow: Some(Page::Confirmation { booking: number }),
                    }
                }
                55..=74 => Step::stay(Action::Click(rng.pick(catalog::CHECKOUT_ELEMENTS))),
                75..=84 if !self.logged_in => Step::stay(Action::Login(rng.pick_copy(catalog::LOGIN_METHODS))),
                _ => Step::stay(Action::Navigate(Page::Cart)),
            },
            Page::Confirmation { .. } => match roll {
                0..=39 => Step::stay(Action::Click(rng.pick(catalog::CHECKOUT_ELEMENTS))),
                40..=69 => Step::stay(Action::Navigate(Page::Home)),
                _ => Step::stay(Action::Navigate(Page::Account)),
            },
            Page::Deals => match roll {
                0..=49 => Step::stay(Action::Navigate(Page::Hotel { hotel: world.popular_hotel(rng) })),
                50..=79 => {
                    let element = rng.pick(catalog::RESULTS_ELEMENTS);
                    let follow =
                        (element.id == "result-title").then(|| Page::Hotel { hotel: world.popular_hotel(rng) });
                    Step { action: Action::Click(element), follow }
                }
                _ => Step::stay(Action::Navigate(Page::HotelsList { city: world.popular_city(rng) })),
            },
            Page::Account => match roll {
                0..=49 if !self.logged_in => Step::stay(Action::Login(rng.pick_copy(catalog::LOGIN_METHODS))),
                0..=39 => Step::stay(Action::Click(rng.pick(catalog::HOME_ELEMENTS))),
                _ => Step::stay(Action::Navigate(Page::Home)),
            },
        }
    }

    fn search(&self, query: Query) -> Step {
        Step { action: Action::Search(query), follow: Some(Page::Search { query }) }
    }

    /// Adds a popular product (or more of it) to the cart.
    fn add_to_cart(&mut self, world: &World, rng: &mut SplitMix64) -> Step {
        let sku = world.products.sample(rng) as u32 + 1;
        let quantity = rng.between(1, 4) as u8;
        if let Some(item) = self.cart[..self.cart_len].iter_mut().find(|item| item.sku == sku) {
            item.quantity = (item.quantity + quantity).min(9);
        } else if self.cart_len < CART_ITEMS_MAX {
            self.cart[self.cart_len] = CartItem { sku, quantity };
            self.cart_len += 1;
        } else {
            let last = &mut self.cart[CART_ITEMS_MAX - 1];
            last.quantity = (last.quantity + quantity).min(9);
        }
        Step::stay(Action::AddToCart)
    }

    /// Applies what happens before the step's event is written: the event
    /// is numbered, and a navigation lands on its page (the event is that
    /// page's page_view).
    fn begin_step(&mut self, step: Step) {
        self.seq += 1;
        if let Action::Navigate(page) = step.action {
            self.previous_page = Some(self.page);
            self.page = page;
            self.page_viewed = true;
        }
    }

    /// Applies what happens after the step's event was written; returns
    /// whether the session ends.
    fn finish_step(&mut self, step: Step, rng: &mut SplitMix64) -> bool {
        match step.action {
            Action::View => self.page_viewed = true,
            Action::Navigate(_) => {} // applied by `begin_step`
            Action::Login(_) => self.logged_in = true,
            Action::Booking { .. } => self.cart_len = 0,
            _ => {}
        }
        if let Some(page) = step.follow {
            self.previous_page = Some(self.page);
            self.page = page;
            self.page_viewed = false;
        }
        if let Page::Hotel { hotel } = self.page {
            self.last_hotel = hotel;
        }
        let exit_percent = match self.page {
            _ if self.is_crawler() => 4,
            Page::Home | Page::Cart => 6,
            Page::Search { .. } | Page::Hotel { .. } => 5,
            Page::HotelsList { .. } => 7,
            Page::Checkout => 8,
            Page::Deals => 10,
            Page::Account => 15,
            Page::Confirmation { .. } => 30,
        };
        self.seq >= SESSION_EVENTS_MAX || rng.percent(exit_percent)
    }
}

/// A new query about `city` with a random template and capitalisation.
fn new_query(city: u16, rng: &mut SplitMix64) -> Query {
    Query { template: rng.below(catalog::QUERY_TEMPLATES.len() as u64) as u8, city, lowercase: rng.percent(40) }
}

/// Serializes one event; borrows everything it reads for the duration.
struct EventWriter<'a> {
    out: &'a mut Vec<u8>,
    world: &'a World,
    session: &'a Session,
    id_keys: &'a IdKeys,
    rng: &'a mut SplitMix64,
}

impl EventWriter<'_> {
    /// Writes the whole event. Field order is fixed: `event_id` first (the
    /// malformed-event corruptions rely on it), then `type`, `ts`, `user`,
    /// `session`, `page`, the type's own objects, `device`, `geo`, `props`,
    /// `tags`.
    fn write(mut self, step: &Step, event_number: u64, ts_ms: u64) {
        let event_type = step.event_type();
        let out = &mut *self.out;
        out.extend_from_slice(br#"{"event_id":"e-"#);
        json::push_hex16(out, mix64(self.id_keys.event.wrapping_add(event_number)));
        out.extend_from_slice(br#"","type":""#);
        out.extend_from_slice(event_type.as_str().as_bytes());
        out.extend_from_slice(br#"","ts":"#);
        json::push_u64(out, ts_ms);
        self.write_user();
        self.write_session();
        self.write_page();
        match step.action {
            Action::View | Action::Navigate(_) => self.out.extend_from_slice(br#","element":null"#),
            Action::Click(element) => self.write_element(element),
            Action::Search(query) => self.write_search(query),
            Action::AddToCart | Action::RemoveFromCart => self.write_cart(),
            Action::Login(method) => {
                self.out.extend_from_slice(br#","login":{"method":""#);
                self.out.extend_from_slice(method.as_bytes());
                self.out.extend_from_slice(br#""}"#);
            }
            Action::Booking { number, nights, guests, payment } => {
                self.write_cart();
                self.write_booking(number, nights, guests, payment, ts_ms);
            }
        }
        if matches!(step.action, Action::View | Action::Navigate(_))
            && matches!(self.session.page, Page::Cart | Page::Checkout)
        {
            self.write_cart();
        }
        self.write_device();
        self.write_geo();
        self.write_props(event_type);
        self.write_tags(event_type);
        self.out.push(b'}');
    }

    fn write_user(&mut self) {
        let out = &mut *self.out;
        match self.session.user {
            None => out.extend_from_slice(br#","user":null"#),
            Some(user) => {
                out.extend_from_slice(br#","user":{"id":"u-"#);
                json::push_u64(out, user);
                out.extend_from_slice(br#"","segment":""#);
                out.extend_from_slice(catalog::SEGMENTS[self.session.segment].0.as_bytes());
                out.extend_from_slice(br#"","logged_in":"#);
                json::push_bool(out, self.session.logged_in);
                out.push(b'}');
            }
        }
    }

    fn write_session(&mut self) {
        let out = &mut *self.out;
        out.extend_from_slice(br#","session":{"id":"s-"#);
        json::push_hex16(out, mix64(self.id_keys.session.wrapping_add(self.session.number)));
        out.extend_from_slice(br#"","seq":"#);
        json::push_u64(out, u64::from(self.session.seq));
        out.push(b'}');
    }

    fn write_page(&mut self) {
        let page = self.session.page;
        let entry = self.session.previous_page.is_none();
        self.out.extend_from_slice(br#","page":{"url":""#);
        self.push_url(page);
        if entry {
            // Campaign parameters on the landing URL, as ad platforms add them.
            if let Some(source) = self.session.channel.utm_source {
                self.out.push(if matches!(page, Page::Search { .. }) { b'&' } else { b'?' });
                self.out.extend_from_slice(b"utm_source=");
                json::push_query_value(self.out, source);
                self.out.extend_from_slice(b"&utm_medium=");
                json::push_query_value(self.out, self.session.channel.utm_medium);
            }
        }
        self.out.extend_from_slice(br#"","path":""#);
        self.push_path(page);
        self.out.extend_from_slice(br#"","referrer":"#);
        match (self.session.previous_page, self.session.channel.referrer) {
            (Some(previous), _) => {
                self.out.push(b'"');
                self.push_url(previous);
                self.out.push(b'"');
            }
            (None, Some(external)) => json::push_string(self.out, external),
            (None, None) => self.out.extend_from_slice(b"null"),
        }
        self.out.extend_from_slice(br#","title":""#);
        self.push_title(page);
        self.out.extend_from_slice(br#""}"#);
    }

    /// The page's absolute URL, without quotes; URLs need no JSON escaping
    /// (query values are percent-encoded).
    fn push_url(&mut self, page: Page) {
        self.out.extend_from_slice(SITE.as_bytes());
        self.push_path(page);
        if let Page::Search { query } = page {
            self.out.extend_from_slice(b"?q=");
            let (prefix, suffix) = catalog::QUERY_TEMPLATES[usize::from(query.template)];
            json::push_query_value(self.out, prefix);
            json::push_query_value(self.out, self.world.city_as_typed(query));
            json::push_query_value(self.out, suffix);
        }
    }

    /// The page's path, without quotes.
    fn push_path(&mut self, page: Page) {
        let out = &mut *self.out;
        match page {
            Page::Home => out.push(b'/'),
            Page::Deals => out.extend_from_slice(b"/deals/summer-sale"),
            Page::HotelsList { city } => {
                out.extend_from_slice(b"/hotels/");
                out.extend_from_slice(CITIES[usize::from(city)].slug.as_bytes());
            }
            Page::Search { .. } => out.extend_from_slice(b"/search"),
            Page::Hotel { hotel } => {
                out.extend_from_slice(b"/hotel/");
                json::push_u64(out, u64::from(hotel));
            }
            Page::Cart => out.extend_from_slice(b"/cart"),
            Page::Checkout => out.extend_from_slice(b"/checkout"),
            Page::Confirmation { booking } => {
                out.extend_from_slice(b"/booking/b-");
                json::push_hex16(out, mix64(self.id_keys.booking.wrapping_add(booking)));
                out.extend_from_slice(b"/confirmation");
            }
            Page::Account => out.extend_from_slice(b"/account"),
        }
    }

    /// The page's title, escaped, without quotes.
    fn push_title(&mut self, page: Page) {
        let out = &mut *self.out;
        match page {
            Page::Home => out.extend_from_slice("Example Travel – hotels & deals".as_bytes()),
            Page::Deals => out.extend_from_slice("Summer sale – up to 40% off".as_bytes()),
            Page::HotelsList { city } => {
                out.extend_from_slice(b"Hotels in ");
                json::push_string_body(out, CITIES[usize::from(city)].name);
            }
            Page::Search { query } => {
                out.extend_from_slice(b"Search: ");
                self.push_query_body(query);
            }
            Page::Hotel { hotel } => {
                let hotel = Hotel::of(self.world, hotel);
                json::push_string_body(out, hotel.prefix);
                out.push(b' ');
                json::push_string_body(out, hotel.name);
                out.extend_from_slice(b", ");
                json::push_string_body(out, CITIES[usize::from(hotel.city)].name);
            }
            Page::Cart => out.extend_from_slice(b"Your cart"),
            Page::Checkout => out.extend_from_slice(b"Secure checkout"),
            Page::Confirmation { .. } => out.extend_from_slice("Booking confirmed ✓".as_bytes()),
            Page::Account => out.extend_from_slice(b"My account"),
        }
    }

    /// The query text, escaped, without quotes.
    fn push_query_body(&mut self, query: Query) {
        let (prefix, suffix) = catalog::QUERY_TEMPLATES[usize::from(query.template)];
        json::push_string_body(self.out, prefix);
        json::push_string_body(self.out, self.world.city_as_typed(query));
        json::push_string_body(self.out, suffix);
    }

    fn write_element(&mut self, element: &Element) {
        let out = &mut *self.out;
        out.extend_from_slice(br#","element":{"id":"#);
        json::push_string(out, element.id);
        out.extend_from_slice(br#","text":"#);
        json::push_string(out, element.text);
        out.extend_from_slice(br#","tag":"#);
        json::push_string(out, element.tag);
        out.extend_from_slice(br#","x":"#);
        json::push_u64(out, self.rng.below(1_280));
        out.extend_from_slice(br#","y":"#);
        json::push_u64(out, self.rng.below(2_400));
        out.push(b'}');
    }

    fn write_search(&mut self, query: Query) {
        self.out.extend_from_slice(br#","search":{"query":""#);
        self.push_query_body(query);
        self.out.extend_from_slice(br#"","results":"#);
        // One search in twenty finds nothing (a typo, a sold-out date).
        let results = if self.rng.percent(5) {
            0
        } else {
            self.rng.between(1, self.world.hotels_by_city[usize::from(query.city)].len() as u64)
        };
        json::push_u64(self.out, results);
        self.out.push(b'}');
    }

    fn write_cart(&mut self) {
        let out = &mut *self.out;
        out.extend_from_slice(br#","cart":{"id":"c-"#);
        json::push_hex16(out, mix64(self.id_keys.cart.wrapping_add(self.session.number)));
        let total_cents: u64 = self
            .session
            .cart_items()
            .iter()
            .map(|item| u64::from(item.quantity) * Product::of(item.sku).price_cents)
            .sum();
        out.extend_from_slice(br#"","total":"#);
        json::push_fixed(out, total_cents as i64, 2);
        out.extend_from_slice(br#","currency":""#);
        out.extend_from_slice(CITIES[usize::from(self.session.home_city)].currency.as_bytes());
        out.extend_from_slice(br#"","items":["#);
        for (index, item) in self.session.cart_items().iter().enumerate() {
            let product = Product::of(item.sku);
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"sku":"SKU-"#);
            json::push_u64(out, u64::from(item.sku));
            out.extend_from_slice(br#"","name":"#);
            json::push_string(out, product.name);
            out.extend_from_slice(br#","qty":"#);
            json::push_u64(out, u64::from(item.quantity));
            out.extend_from_slice(br#","price":"#);
            json::push_fixed(out, product.price_cents as i64, 2);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }

    fn write_booking(&mut self, number: u64, nights: u8, guests: u8, payment: &str, ts_ms: u64) {
        let hotel = if self.session.last_hotel > 0 { self.session.last_hotel } else { 1 };
        let out = &mut *self.out;
        out.extend_from_slice(br#","booking":{"id":"b-"#);
        json::push_hex16(out, mix64(self.id_keys.booking.wrapping_add(number)));
        out.extend_from_slice(br#"","hotel_id":"#);
        json::push_u64(out, u64::from(hotel));
        out.extend_from_slice(br#","nights":"#);
        json::push_u64(out, u64::from(nights));
        out.extend_from_slice(br#","guests":"#);
        json::push_u64(out, u64::from(guests));
        out.extend_from_slice(br#","checkin":""#);
        // Check-in 1 to 120 days after the booking.
        let checkin_day = ts_ms / 86_400_000 + self.rng.between(1, 120);
        push_date(out, checkin_day);
        out.extend_from_slice(br#"","payment":""#);
        out.extend_from_slice(payment.as_bytes());
        out.extend_from_slice(br#""}"#);
    }

    fn write_device(&mut self) {
        let device = self.session.device;
        let home = &CITIES[usize::from(self.session.home_city)];
        let out = &mut *self.out;
        out.extend_from_slice(br#","device":{"type":""#);
        out.extend_from_slice(device.kind.as_bytes());
        out.extend_from_slice(br#"","os":""#);
        out.extend_from_slice(device.os.as_bytes());
        out.extend_from_slice(br#"","browser":""#);
        out.extend_from_slice(device.browser.as_bytes());
        out.extend_from_slice(br#"","country":""#);
        out.extend_from_slice(home.country.as_bytes());
        out.extend_from_slice(br#""}"#);
    }

    fn write_geo(&mut self) {
        let city = &CITIES[usize::from(self.session.geo_city)];
        let out = &mut *self.out;
        out.extend_from_slice(br#","geo":{"country":""#);
        out.extend_from_slice(city.country.as_bytes());
        out.extend_from_slice(br#"","city":"#);
        json::push_string(out, city.name);
        out.extend_from_slice(br#","lat":"#);
        json::push_fixed(out, i64::from(self.session.latitude_e4), 4);
        out.extend_from_slice(br#","lon":"#);
        json::push_fixed(out, i64::from(self.session.longitude_e4), 4);
        out.push(b'}');
    }

    fn write_props(&mut self, event_type: EventType) {
        let channel = self.session.channel;
        let out = &mut *self.out;
        out.extend_from_slice(br#","props":{"#);
        if let Some(source) = channel.utm_source {
            out.extend_from_slice(br#""utm.source":"#);
            json::push_string(out, source);
            out.extend_from_slice(br#","utm.medium":"#);
            json::push_string(out, channel.utm_medium);
            if let Some(campaign) = channel.utm_campaign {
                out.extend_from_slice(br#","utm.campaign":"#);
                json::push_string(out, campaign);
            }
            out.push(b',');
        }
        out.extend_from_slice(br#""ab test":""#);
        out.extend_from_slice(catalog::AB_ARMS[self.session.ab_arm].as_bytes());
        out.push(b'"');
        if event_type == EventType::PageView {
            // Time to first byte: a page-load metric, so page views only.
            out.extend_from_slice(br#","ttfb ms":"#);
            json::push_u64(out, 40 + self.rng.below(400));
        }
        out.push(b'}');
    }

    fn write_tags(&mut self, event_type: EventType) {
        let out = &mut *self.out;
        out.extend_from_slice(br#","tags":["web","#);
        json::push_string(out, self.session.device.kind);
        match self.session.user {
            None => out.extend_from_slice(br#","crawler""#),
            Some(_) => {
                out.push(b',');
                json::push_string(out, catalog::SEGMENTS[self.session.segment].0);
            }
        }
        match event_type {
            EventType::Booking => out.extend_from_slice(br#","conversion""#),
            EventType::AddToCart | EventType::RemoveFromCart => out.extend_from_slice(br#","cart""#),
            _ => {}
        }
        out.push(b']');
    }
}

/// Appends the civil date `YYYY-MM-DD` of a day number since 1970-01-01
/// (Howard Hinnant's `civil_from_days`, valid for any day after the epoch).
fn push_date(out: &mut Vec<u8>, days_since_epoch: u64) {
    let z = days_since_epoch + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    json::push_u64(out, year);
    out.push(b'-');
    out.extend_from_slice(&[b'0' + (month / 10) as u8, b'0' + (month % 10) as u8]);
    out.push(b'-');
    out.extend_from_slice(&[b'0' + (day / 10) as u8, b'0' + (day % 10) as u8]);
}

#[cfg(test)]
mod tests;
