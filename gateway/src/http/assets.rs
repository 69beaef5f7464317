//! Static files embedded at build time: the admin UI and the tracker. Served
//! from memory, so a gateway binary is the whole deployment.

pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

pub fn find(path: &str) -> Option<Asset> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", include_str!("../../ui/index.html")),
        "/app.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/app.js")),
        "/app.css" => ("text/css; charset=utf-8", include_str!("../../ui/app.css")),
        "/tracker.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/tracker.js")),
        _ => return None,
    };
    Some(Asset { content_type, body })
}
