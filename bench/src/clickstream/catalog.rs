//! The website's static world: cities, hotel-name parts, products, devices,
//! traffic channels and the clickable elements of each page.
//!
//! Tables are ordered by popularity where the generator draws them with a
//! Zipf law (cities), and carry explicit weights where the real mix is known
//! to be lopsided in a specific way (devices, channels). Some strings
//! deliberately contain quotes, backslash-free punctuation and non-ASCII
//! letters so that every consumer's JSON decoding is exercised.

/// A city: a search destination, a hotel location and a user's home.
#[derive(Debug)]
pub struct City {
    /// The name as a local would write it (`"Zürich"`, `"São Paulo"`).
    pub name: &'static str,
    /// The ASCII form used in URLs (`/hotels/zurich`).
    pub slug: &'static str,
    /// ISO 3166-1 alpha-2 country code.
    pub country: &'static str,
    /// ISO 4217 code of the currency that residents pay in.
    pub currency: &'static str,
    /// Latitude in units of 1e-4 degree (4 decimals are ~11 m, what a
    /// geo-IP lookup resolves to at best).
    pub latitude_e4: i32,
    /// Longitude in units of 1e-4 degree.
    pub longitude_e4: i32,
}

macro_rules! city {
    ($name:expr, $slug:expr, $country:expr, $currency:expr, $lat:expr, $lon:expr) => {
        City { name: $name, slug: $slug, country: $country, currency: $currency, latitude_e4: $lat, longitude_e4: $lon }
    };
}

/// Cities in decreasing popularity (drawn with a Zipf law).
pub const CITIES: &[City] = &[
    city!("Paris", "paris", "FR", "EUR", 488_566, 23_522),
    city!("London", "london", "GB", "GBP", 515_074, -1_278),
    city!("Berlin", "berlin", "DE", "EUR", 525_200, 134_050),
    city!("New York", "new-york", "US", "USD", 407_128, -740_060),
    city!("Madrid", "madrid", "ES", "EUR", 404_168, -37_038),
    city!("Zürich", "zurich", "CH", "CHF", 473_769, 85_417),
    city!("Roma", "rome", "IT", "EUR", 419_028, 124_964),
    city!("Barcelona", "barcelona", "ES", "EUR", 413_874, 21_686),
    city!("São Paulo", "sao-paulo", "BR", "BRL", -235_505, -466_333),
    city!("Amsterdam", "amsterdam", "NL", "EUR", 523_676, 49_041),
    city!("Málaga", "malaga", "ES", "EUR", 367_213, -44_214),
    city!("München", "munich", "DE", "EUR", 481_351, 115_820),
    city!("Lisboa", "lisbon", "PT", "EUR", 387_223, -91_393),
    city!("Tokyo", "tokyo", "JP", "JPY", 356_762, 1_396_503),
    city!("Wien", "vienna", "AT", "EUR", 482_082, 163_738),
    city!("Milano", "milan", "IT", "EUR", 454_642, 91_900),
    city!("Nice", "nice", "FR", "EUR", 437_102, 72_620),
    city!("Praha", "prague", "CZ", "CZK", 500_755, 144_378),
    city!("San Francisco", "san-francisco", "US", "USD", 377_749, -1_224_194),
    city!("Bruxelles", "brussels", "BE", "EUR", 508_503, 43_517),
    city!("Genève", "geneva", "CH", "CHF", 462_044, 61_432),
    city!("Montréal", "montreal", "CA", "CAD", 455_017, -735_673),
    city!("Kraków", "krakow", "PL", "PLN", 500_647, 199_450),
    city!("København", "copenhagen", "DK", "DKK", 556_761, 125_683),
    city!("Lyon", "lyon", "FR", "EUR", 457_640, 48_357),
    city!("Stockholm", "stockholm", "SE", "SEK", 593_293, 180_686),
    city!("Ciudad de México", "mexico-city", "MX", "MXN", 194_326, -991_332),
    city!("Istanbul", "istanbul", "TR", "TRY", 410_082, 289_784),
    city!("Sydney", "sydney", "AU", "AUD", -338_688, 1_512_093),
    city!("Dubai", "dubai", "AE", "AED", 252_048, 552_708),
    city!("Bogotá", "bogota", "CO", "COP", 47_110, -740_721),
    city!("Reykjavík", "reykjavik", "IS", "ISK", 641_466, -219_426),
];

/// First words of hotel names.
pub const HOTEL_PREFIXES: &[&str] =
    &["Hôtel", "Hotel", "Grand Hotel", "Hostal", "Pension", "Residence", "Boutique Hotel", "Albergo", "B&B", "Posada"];

/// Second words of hotel names; one carries quotes on purpose.
pub const HOTEL_NAMES: &[&str] = &[
    "Lumière",
    "du Parc",
    "Central",
    "Bellevue",
    "Miramar",
    "Zur Post",
    "Cœur de Ville",
    "Le \"Petit\" Palais",
    "Sol y Mar",
    "Kaiserhof",
    "Riverside",
    "Les Deux Îles",
    "Nordlys",
    "Flor de Lis",
    "Sakura",
    "Old Town",
];

/// Products sold alongside rooms; a SKU's product is `PRODUCTS[hash % len]`.
pub const PRODUCTS: &[&str] = &[
    "Room night – Double",
    "Room night – Twin",
    "Suite upgrade",
    "Breakfast buffet",
    "Airport transfer",
    "Late check-out",
    "Spa access",
    "City pass 48h",
    "Travel insurance",
    "Parking",
    "Museum ticket",
    "Bike rental",
    "Crêpe cooking class",
    "Dinner for two",
];

/// A device profile: what the `device` object says.
#[derive(Debug)]
pub struct DeviceProfile {
    /// `desktop`, `mobile`, `tablet` or `bot`.
    pub kind: &'static str,
    /// Operating system and version.
    pub os: &'static str,
    /// Browser and major version.
    pub browser: &'static str,
    /// Relative frequency among human sessions (0 for the crawler).
    pub weight: u64,
}

macro_rules! device {
    ($kind:expr, $os:expr, $browser:expr, $weight:expr) => {
        DeviceProfile { kind: $kind, os: $os, browser: $browser, weight: $weight }
    };
}

/// Human device profiles with their share of sessions (mobile ~55%,
/// desktop ~38%, tablet ~7%: a typical travel site's mix).
pub const DEVICES: &[DeviceProfile] = &[
    device!("mobile", "iOS 17.5", "Safari 17.5", 22),
    device!("mobile", "Android 14", "Chrome 125", 24),
    device!("mobile", "Android 13", "Samsung Internet 25", 9),
    device!("desktop", "Windows 11", "Chrome 125", 16),
    device!("desktop", "Windows 10", "Edge 125", 7),
    device!("desktop", "macOS 14.5", "Safari 17.5", 8),
    device!("desktop", "macOS 14.5", "Chrome 125", 4),
    device!("desktop", "Linux", "Firefox 126", 3),
    device!("tablet", "iPadOS 17.5", "Safari 17.5", 5),
    device!("tablet", "Android 14", "Chrome 125", 2),
];

/// The crawler's device; crawler sessions have `"user": null`.
pub const CRAWLER: DeviceProfile = device!("bot", "Linux", "Googlebot 2.1", 0);

/// How a session arrived, which sets its referrer and `utm.*` props.
#[derive(Debug)]
pub struct Channel {
    /// `utm.source`, absent for direct and organic traffic.
    pub utm_source: Option<&'static str>,
    /// `utm.medium`.
    pub utm_medium: &'static str,
    /// `utm.campaign`, absent for organic and direct traffic.
    pub utm_campaign: Option<&'static str>,
    /// The entry page's referrer; `None` writes `null` (typed URL, app link).
    pub referrer: Option<&'static str>,
    /// Relative frequency among sessions.
    pub weight: u64,
}

macro_rules! channel {
    ($source:expr, $medium:expr, $campaign:expr, $referrer:expr, $weight:expr) => {
        Channel {
            utm_source: $source,
            utm_medium: $medium,
            utm_campaign: $campaign,
            referrer: $referrer,
            weight: $weight,
        }
    };
}

/// Traffic channels with their share of sessions.
pub const CHANNELS: &[Channel] = &[
    channel!(None, "direct", None, None, 30),
    channel!(None, "organic", None, Some("https://www.google.com/"), 25),
    channel!(Some("google"), "cpc", Some("brand-eu"), Some("https://www.google.com/"), 12),
    channel!(Some("newsletter"), "email", Some("summer-sale"), None, 9),
    channel!(Some("news.google"), "referral", None, Some("https://news.google.com/"), 3),
    channel!(Some("facebook"), "social", Some("retargeting"), Some("https://l.facebook.com/"), 8),
    channel!(Some("tiktok"), "social", Some("city-breaks"), Some("https://www.tiktok.com/"), 4),
    channel!(Some("partner.kayak"), "affiliate", Some("meta-search"), Some("https://www.kayak.com/"), 6),
    channel!(Some("bing"), "cpc", Some("brand-us"), Some("https://www.bing.com/"), 3),
];

/// User segments with their share of users.
pub const SEGMENTS: &[(&str, u64)] = &[("new", 30), ("returning", 45), ("loyal", 15), ("vip", 5), ("business", 5)];

/// A clickable element: the `element` object of a click event.
#[derive(Debug)]
pub struct Element {
    /// The DOM id.
    pub id: &'static str,
    /// The visible text.
    pub text: &'static str,
    /// The lowercase tag name.
    pub tag: &'static str,
}

macro_rules! element {
    ($id:expr, $text:expr, $tag:expr) => {
        Element { id: $id, text: $text, tag: $tag }
    };
}

/// Elements of the home page.
pub const HOME_ELEMENTS: &[Element] = &[
    element!("search-box", "Where are you going?", "input"),
    element!("btn-search", "Search", "button"),
    element!("nav-deals", "Deals", "a"),
    element!("banner-summer", "Summer sale – up to 40% off", "a"),
    element!("nav-login", "Sign in", "a"),
];

/// Elements of search results and city listings.
pub const RESULTS_ELEMENTS: &[Element] = &[
    element!("filter-stars-4", "4 stars", "input"),
    element!("sort-price", "Price (lowest first)", "button"),
    element!("result-title", "See availability", "a"),
    element!("map-toggle", "Show on map", "button"),
    element!("page-next", "Next »", "a"),
];

/// Elements of a hotel page.
pub const HOTEL_ELEMENTS: &[Element] = &[
    element!("btn-book", "Book now", "button"),
    element!("gallery-next", "›", "button"),
    element!("tab-reviews", "Reviews", "a"),
    element!("room-select", "Select room", "select"),
    element!("btn-add-extra", "Add to stay", "button"),
    element!("faq-toggle", "Is breakfast included?", "summary"),
];

/// Elements of the cart, checkout, confirmation and deals pages.
pub const CHECKOUT_ELEMENTS: &[Element] = &[
    element!("btn-checkout", "Proceed to checkout", "button"),
    element!("promo-code", "Promo code", "input"),
    element!("btn-pay", "Pay now", "button"),
    element!("remove-item", "Remove", "button"),
    element!("terms", "I accept the \"terms & conditions\"", "input"),
];

/// Search query templates; `{}` stands for the city. One carries quotes and
/// one a tab, as typed or pasted by real users.
pub const QUERY_TEMPLATES: &[(&str, &str)] = &[
    ("", ""),
    ("hotels in ", ""),
    ("", " hotel spa"),
    ("cheap hotels ", ""),
    ("", " 4 stars"),
    ("\"", "\" city centre"),
    ("", "\tbreakfast included"),
    ("family hotel ", " pool"),
];

/// Login methods of `login` events.
pub const LOGIN_METHODS: &[&str] = &["password", "google", "apple", "magic-link"];

/// Payment methods of `booking` events.
pub const PAYMENT_METHODS: &[&str] = &["card", "paypal", "apple-pay", "klarna"];

/// A/B test arms, written as `props["ab test"]`.
pub const AB_ARMS: &[&str] = &["A", "B"];
