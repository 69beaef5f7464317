//! Static files embedded at build time: the admin UI and the tracker. Served
//! from memory, so a gateway binary is the whole deployment. The UI's script
//! is ES modules: `/app.js`, the entry, imports the modules under `/js/`, and
//! each needs its arm here (a test follows the imports from the entry).

pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

pub fn find(path: &str) -> Option<Asset> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", include_str!("../../ui/index.html")),
        "/app.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/app.js")),
        "/js/aggregates.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/aggregates.js")),
        "/js/bounds.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/bounds.js")),
        "/js/columns.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/columns.js")),
        "/js/counters.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/counters.js")),
        "/js/details.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/details.js")),
        "/js/dom.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/dom.js")),
        "/js/draw.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/draw.js")),
        "/js/export.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/export.js")),
        "/js/form.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/form.js")),
        "/js/frames.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/frames.js")),
        "/js/help.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/help.js")),
        "/js/link.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/link.js")),
        "/js/panels.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/panels.js")),
        "/js/paths.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/paths.js")),
        "/js/rows.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/rows.js")),
        "/js/schema.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/schema.js")),
        "/js/state.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/state.js")),
        "/js/topics.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/js/topics.js")),
        "/app.css" => ("text/css; charset=utf-8", include_str!("../../ui/app.css")),
        "/tracker.js" => ("text/javascript; charset=utf-8", include_str!("../../ui/tracker.js")),
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
            assert_eq!(asset.content_type, "text/javascript; charset=utf-8", "{path}");
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
