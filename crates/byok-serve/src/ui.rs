//! The Provider Vault page (`/` and `/ui/*`): plain HTML, CSS and JavaScript
//! modules embedded in the binary, built only on the REST API. Its own CSP
//! lets it run its own scripts and styles and nothing else (docs/UI.md).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page's CSP: its own files only, no inline script or style, no framing,
/// no form posted elsewhere, no `<base>` trick.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file: its path under the server, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 4] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../ui/index.html"),
    },
    Asset {
        path: "/ui/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../ui/style.css"),
    },
    Asset {
        path: "/ui/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../ui/api.js"),
    },
    Asset {
        path: "/ui/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../ui/app.js"),
    },
];

fn serve(asset: &'static Asset) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
        ],
        asset.body,
    )
        .into_response()
}

/// The page's routes, to merge into the API's router (no state, no token: the
/// files are public; everything they show comes from the token-checked API).
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for asset in &ASSETS {
        router = router.route(asset.path, get(move || async move { serve(asset) }));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_inline_script_or_style_in_the_page() {
        let html = ASSETS[0].body;
        // Every <script> loads a file of its own and holds nothing.
        for tag in html.split("<script").skip(1) {
            let (open, rest) = tag.split_once('>').expect("a closed <script> tag");
            assert!(open.contains("src=\"/ui/"), "inline script: <script{open}>");
            assert!(rest.starts_with("</script>"), "a script with a body");
        }
        assert!(!html.contains("style="), "inline style");
        assert!(!html.contains("<style"), "inline style element");
        assert!(!html.contains("javascript:"), "a javascript: URL");
        // No inline handler: ` on<letters>=` in any tag.
        let bytes = html.as_bytes();
        for (i, _) in html.match_indices(" on") {
            let name: String = bytes[i + 3..]
                .iter()
                .take_while(|b| b.is_ascii_alphabetic())
                .map(|&b| b as char)
                .collect();
            let after = bytes.get(i + 3 + name.len()).copied();
            assert!(
                name.is_empty() || after != Some(b'='),
                "inline handler on{name}="
            );
        }
        for asset in &ASSETS[1..] {
            assert!(
                html.contains(asset.path) || asset.path == "/ui/api.js",
                "{} is not linked",
                asset.path
            );
        }
    }

    #[test]
    fn the_page_never_stores_the_token_nor_writes_html() {
        for asset in &ASSETS[2..] {
            for word in [
                "localStorage",
                "sessionStorage",
                "document.cookie",
                "innerHTML",
                "history.push",
                "history.replace",
                "eval(",
                "new Function",
                "insertAdjacentHTML",
                "outerHTML",
                "document.write",
            ] {
                assert!(!asset.body.contains(word), "{} uses {word}", asset.path);
            }
        }
    }
}
