//! The caseworker web page, served at `/staff/`.
//!
//! Plain HTML, CSS and JavaScript modules, embedded in the binary at build time (no build step,
//! no files to deploy). The page talks to the server only through the documented protocol
//! (`docs/protocol.md`); the staff token is typed into the page and kept in the tab's
//! `sessionStorage`, never in a URL.
//!
//! Also here: the citizen's join link `/j/#<code>` (a phone with the app opens the app; without
//! it, this friendly page explains the app and shows the code). The code is in the fragment,
//! which browsers never send, so it lands in no server's or proxy's access log; the page's
//! script (`join.js`) reads it. Links from before (`/j/<code>`) still get the same page, with
//! the code written by the server. Neither looks the code up: they tell nothing about whether
//! it exists. The QR code of a meeting's link is a staff request by meeting id
//! (`GET /api/v1/meetings/{id}/qr.svg`, see `http.rs`), so the code is in no URL either.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::sync::Arc;

use crate::error::AppError;
use samtale_protocol::JoinCode;

/// One embedded file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_str!("../web/index.html"),
};

/// Every file below `/staff/` except the page itself.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/app.js"),
    },
    Asset {
        name: "call.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/call.js"),
    },
    Asset {
        name: "i18n.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/i18n.js"),
    },
    Asset {
        name: "join.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/join.js"),
    },
    Asset {
        name: "status.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/status.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../web/style.css"),
    },
];

/// Headers sent with every file of the page.
#[derive(Debug, Clone)]
pub(crate) struct PageHeaders {
    csp: HeaderValue,
}

impl PageHeaders {
    /// Headers for a server whose tickets carry `signalling_url`: the page may open a WebSocket
    /// to that origin and fetch from its own, and load nothing from anywhere else.
    pub(crate) fn new(signalling_url: &str) -> Self {
        let ws_origin = url::Url::parse(signalling_url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null")
            .unwrap_or_default();
        let connect = if ws_origin.is_empty() {
            "'self'".to_owned()
        } else {
            format!("'self' {ws_origin}")
        };
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             media-src 'self' blob: mediastream:; connect-src {connect}; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        let csp = HeaderValue::from_str(&csp)
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
        Self { csp }
    }

    fn respond(&self, asset: &Asset) -> Response {
        self.respond_with(asset.body.to_owned(), asset.content_type)
    }

    fn respond_with(&self, body: String, content_type: &'static str) -> Response {
        let mut response = body.into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        // Small files that change with every release: always revalidate.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(
                "camera=(self), microphone=(self), display-capture=(), geolocation=()",
            ),
        );
        response
    }
}

/// Routes of the page; merged into the application's router.
pub(crate) fn routes<S>(headers: PageHeaders) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let headers = Arc::new(headers);
    Router::new()
        // Relative, so that it also works below a --public-url path prefix.
        .route("/staff", get(|| async { Redirect::permanent("staff/") }))
        .route("/staff/", get(index))
        .route("/staff/{file}", get(asset))
        // Relative, so that `/j#<code>` keeps its fragment (browsers carry it over).
        .route("/j", get(|| async { Redirect::permanent("j/") }))
        .route("/j/", get(join_link_page))
        .route("/j/{code}", get(join_page))
        .with_state(headers)
}

/// How the join-link page loads its script (from the page's own files: no inline script).
const JOIN_LINK_SCRIPT: &str = r#"<script type="module" src="../staff/join.js"></script>"#;

/// The page behind a join link `/j/#<code>`: the same words as [`join_page`], the code filled
/// in by `join.js` from the fragment (the server never sees it). Until the script has run (or
/// if it never does) the page says to type the code from the message.
async fn join_link_page(State(headers): State<Arc<PageHeaders>>) -> Response {
    let code = r#"<span data-code></span>"#;
    let body = format!(
        "<div id=\"join-ok\" hidden>\n{}\n</div>\n<div id=\"join-bad\" hidden>\n{}\n</div>\n\
         <div id=\"join-fallback\">\n{}\n</div>\n{JOIN_LINK_SCRIPT}",
        JOIN_PAGE
            .replace(
                r#"aria-label="Koden er {CODE}""#,
                r#"data-code-label="Koden er""#
            )
            .replace("{CODE}", code),
        JOIN_PAGE_BAD_CODE,
        JOIN_PAGE_FALLBACK
    );
    headers.respond_with(join_page_html(&body), "text/html; charset=utf-8")
}

/// The QR code (SVG, error correction M) of a meeting's absolute join link.
pub(crate) fn join_qr_svg(base_url: &str, digits: &str) -> Option<String> {
    let link = format!("{}/j/#{digits}", base_url.trim_end_matches('/'));
    let qr =
        qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        qr.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(160, 160)
            .quiet_zone(true)
            .build(),
    )
}

/// The page behind a join link, for a phone without the app. Danish first, English below.
async fn join_page(State(headers): State<Arc<PageHeaders>>, Path(code): Path<String>) -> Response {
    let body = match JoinCode::parse(&code) {
        Ok(code) => join_page_html(&JOIN_PAGE.replace("{CODE}", &code.display())),
        Err(_) => join_page_html(JOIN_PAGE_BAD_CODE),
    };
    headers.respond_with(body, "text/html; charset=utf-8")
}

/// The join-link page around `body` (Danish first, English in a section below).
fn join_page_html(body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="da">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Videomøde med Samtale</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="../staff/style.css">
</head>
<body>
<main class="join-page">
{body}
</main>
</body>
</html>
"#
    )
}

const JOIN_PAGE: &str = r#"<h1>Du er inviteret til et videomøde</h1>
<ol class="steps">
<li>Åbn appen <strong>Samtale</strong> på din telefon. Har du den ikke, så hent den i App Store eller Google Play.</li>
<li>Tryk på den store knap <strong>Deltag</strong>.</li>
<li>Skriv koden:</li>
</ol>
<p class="code" aria-label="Koden er {CODE}">{CODE}</p>
<p>Din kontaktperson venter på dig i mødet. Du behøver ikke skynde dig.</p>
<p>Har du brug for hjælp, så ring til din kontaktperson.</p>
<section lang="en">
<h2>You are invited to a video meeting</h2>
<p>Open the <strong>Samtale</strong> app on your phone (get it from the App Store or Google Play), tap <strong>Join</strong> and type the code <strong>{CODE}</strong>. Your contact person is waiting for you.</p>
</section>"#;

const JOIN_PAGE_FALLBACK: &str = r#"<h1>Du er inviteret til et videomøde</h1>
<p>Åbn appen <strong>Samtale</strong> på din telefon, tryk på <strong>Deltag</strong> og skriv koden fra beskeden, du har fået.</p>
<p lang="en">Open the <strong>Samtale</strong> app, tap <strong>Join</strong> and type the code from your message.</p>"#;

const JOIN_PAGE_BAD_CODE: &str = r#"<h1>Linket ser forkert ud</h1>
<p>Koden i linket er ikke en gyldig mødekode. Tjek beskeden fra din kontaktperson, eller ring til din kontaktperson.</p>
<section lang="en">
<h2>This link looks wrong</h2>
<p>The code in the link is not a valid meeting code. Check the message from your contact person, or call them.</p>
</section>"#;

async fn index(State(headers): State<Arc<PageHeaders>>) -> Response {
    headers.respond(&INDEX)
}

async fn asset(
    State(headers): State<Arc<PageHeaders>>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    if file == INDEX.name {
        return Ok(headers.respond(&INDEX));
    }
    ASSETS
        .iter()
        .find(|a| a.name == file)
        .map(|a| headers.respond(a))
        .ok_or(AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_the_signalling_origin_only() {
        let h = PageHeaders::new("wss://samtale.example.dk:8443/kommune/api/v1/signal");
        let csp = h.csp.to_str().unwrap_or_default().to_owned();
        assert!(csp.contains("connect-src 'self' wss://samtale.example.dk:8443;"));
        assert!(csp.contains("script-src 'self';"));
        let h = PageHeaders::new("not a url");
        let csp = h.csp.to_str().unwrap_or_default().to_owned();
        assert!(csp.contains("connect-src 'self';"));
    }

    #[test]
    fn every_asset_is_linked_from_the_page_or_a_module() {
        for asset in ASSETS {
            // join.js belongs to the join-link page (`join_link_page`), not the staff page.
            let linked = INDEX.body.contains(asset.name)
                || (asset.name == "join.js" && JOIN_LINK_SCRIPT.contains(asset.name))
                || ASSETS
                    .iter()
                    .any(|a| a.body.contains(&format!("./{}", asset.name)));
            assert!(linked, "{} is embedded but never used", asset.name);
        }
    }
}
