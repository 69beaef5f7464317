//! Static files embedded at build time: the admin UI and the tracker. Served
//! from memory, so a gateway binary is the whole deployment. The UI's script
//! is ES modules: `/app.js`, the entry, imports the modules under `/js/`, and
//! each is listed once in `ui_modules!` (a test follows the imports from the
//! entry).

pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// `ui_module(name)`: the UI module `ui/js/<name>`, for each name listed once.
macro_rules! ui_modules {
    ($($name:literal),* $(,)?) => {
        fn ui_module(name: &str) -> Option<&'static str> {
            match name {
                $($name => Some(include_str!(concat!("../../ui/js/", $name))),)*
                _ => None,
            }
        }
    };
}

ui_modules!(
    "aggregates.js",
    "bounds.js",
    "columns.js",
    "counters.js",
    "details.js",
    "dom.js",
    "draw.js",
    "export.js",
    "form.js",
    "frames.js",
    "help.js",
    "link.js",
    "panels.js",
    "paths.js",
    "rows.js",
    "schema.js",
    "state.js",
    "topics.js",
);

pub fn find(path: &str) -> Option<Asset> {
    if let Some(module) = path.strip_prefix("/js/") {
        return ui_module(module).map(|body| Asset { content_type: JAVASCRIPT, body });
    }
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", include_str!("../../ui/index.html")),
        "/app.js" => (JAVASCRIPT, include_str!("../../ui/app.js")),
        "/app.css" => ("text/css; charset=utf-8", include_str!("../../ui/app.css")),
        "/tracker.js" => (JAVASCRIPT, include_str!("../../ui/tracker.js")),
        _ => return None,
    };
    Some(Asset { content_type, body })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The page loads `/app.js` as a module, and every module it imports,
    /// directly or not, is served as JavaScript: a module added under
    /// `ui/js/` without its arm would break the page at load.
    #[test]
    fn every_module_the_ui_imports_is_served() {
        let page = find("/").unwrap().body;
        assert!(page.contains(r#"<script type="module" src="/app.js"></script>"#));
        let mut pending = vec!["/app.js".to_string()];
        let mut served = HashSet::new();
        while let Some(path) = pending.pop() {
            if !served.insert(path.clone()) {
                continue;
            }
            let asset = find(&path).unwrap_or_else(|| panic!("{path} is imported but not served"));
            assert_eq!(asset.content_type, JAVASCRIPT, "{path}");
            let folder = &path[..=path.rfind('/').unwrap()];
            for line in asset.body.lines().filter(|line| line.starts_with("import ")) {
                let specifier = line
                    .rsplit_once(" from \"./")
                    .and_then(|(_, rest)| rest.strip_suffix("\";"))
                    .unwrap_or_else(|| panic!("{path}: an import this test cannot read: {line}"));
                pending.push(format!("{folder}{specifier}"));
            }
        }
        assert!(served.contains("/js/state.js"), "{served:?}");
        // The page preloads exactly the modules it imports.
        let preloaded: HashSet<String> = page
            .lines()
            .filter_map(|line| line.strip_prefix(r#"<link rel="modulepreload" href=""#)?.strip_suffix(r#"">"#))
            .map(str::to_owned)
            .collect();
        let imported: HashSet<String> = served.iter().filter(|path| path.starts_with("/js/")).cloned().collect();
        assert_eq!(preloaded, imported, "index.html's modulepreload links");
    }
}
