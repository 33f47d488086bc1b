//! The supervisor dashboard's HTTP side: its static files (embedded in the binary, no build
//! step), the browser session and CSRF.
//!
//! A browser signs in at `POST /api/v1/web/session` and gets the session token in an `HttpOnly;
//! SameSite=Strict` cookie, which scripts cannot read and other sites cannot send. Every
//! state-changing request authenticated by that cookie must also carry `X-CSRF-Token`, a value
//! derived from the token ([`crate::auth::csrf_token`]) that the page learns from the sign-in
//! answer or `GET /api/v1/web/me`. Calls with `Authorization: Bearer` (devices, scripts) need no
//! CSRF token: a browser never adds that header on its own. Any other `Authorization` scheme is
//! ignored (see [`Credential`]). Over HTTPS the cookie is `__Host-verivali_session; Secure`. Sessions last
//! [`crate::auth::WEB_SESSION_HOURS`] hours and end at sign-out.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;

use axum::Json;
use axum::extract::State;
use std::sync::Arc;

use crate::app::{App, Caller};
use crate::auth;
use crate::error::{ApiError, Refusal};
use crate::http::{Address, JsonOnly, Language, Token, UserAgent, blocking};

/// The session cookie's name.
pub const COOKIE: &str = "verivali_session";
/// The CSRF header's name.
pub const CSRF_HEADER: &str = "x-csrf-token";

const INDEX: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const APP_CSS: &str = include_str!("../web/app.css");
const MESSAGES: &str = include_str!("../web/messages.json");
/// The vocabularies of verivali-domain (generated; see `verivali_domain::vocabulary`).
const VOCABULARY: &str = include_str!("../../domain/vocabulary.json");

/// Content-Security-Policy of the dashboard: only its own files; photos and the GPS plot are
/// same-origin or inline SVG; no frames.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

fn page(content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /`: the dashboard.
pub async fn index() -> Response<Body> {
    page("text/html; charset=utf-8", INDEX)
}

/// `GET /assets/{file}`.
pub async fn asset(
    axum::extract::Path(file): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    match file.as_str() {
        "app.js" => page("text/javascript; charset=utf-8", APP_JS),
        "app.css" => page("text/css; charset=utf-8", APP_CSS),
        "messages.json" => page("application/json", MESSAGES),
        "vocabulary.json" => page("application/json", VOCABULARY),
        _ => ApiError::not_found(crate::http::lang(&headers)).into_response(),
    }
}

/// How a request authenticates. The token lookup and the CSRF guard both ask this one function,
/// so they cannot disagree about which credential a request uses: an `Authorization` header
/// counts only when its scheme is `Bearer` (a browser behind a Basic-auth proxy adds `Basic` on
/// its own, and that must not exempt a cookie-authenticated write from CSRF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer TOKEN` (devices, scripts): a browser never adds it by itself.
    Bearer(String),
    /// The dashboard's session cookie: its writes need `X-CSRF-Token`.
    Cookie(String),
}

/// The request's credential, if any; see [`Credential`].
pub fn credential(headers: &HeaderMap) -> Option<Credential> {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    match bearer {
        // A Bearer header decides even when its token is empty or too long: it then fails
        // authentication rather than falling back to a cookie.
        Some(t) => Some(Credential::Bearer(t)),
        None => cookie_token(headers).map(Credential::Cookie),
    }
}

/// The session token from the cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() < 200)
}

/// `Set-Cookie` for a new session (or, with `None`, one that clears it).
pub fn set_cookie(token: Option<&str>) -> HeaderValue {
    let v = match token {
        Some(t) => format!(
            "{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
            auth::WEB_SESSION_HOURS * 3600
        ),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn csrf_refused(headers: &HeaderMap) -> Response<Body> {
    ApiError::new(
        Refusal::Forbidden,
        "auth.csrf",
        "CSRF check failed",
        crate::http::lang(headers),
        "Permintaan ditolak: token keamanan halaman tidak cocok; muat ulang halaman",
        "Request refused: the page's security token does not match; reload the page",
    )
    .into_response()
}

/// Middleware: a state-changing request authenticated only by the session cookie must carry
/// the matching `X-CSRF-Token`. Signing in (which has no session yet) is exempt; it needs a
/// JSON body, which a cross-site form cannot send.
pub async fn csrf_guard(req: Request<Body>, next: Next) -> Response<Body> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let sign_in = req.method() == Method::POST && req.uri().path() == "/api/v1/web/session";
    let headers = req.headers();
    if !safe
        && !sign_in
        && let Some(Credential::Cookie(token)) = credential(headers)
    {
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !auth::same_secret(given, &auth::csrf_token(&token)) {
            return csrf_refused(headers);
        }
    }
    let mut resp = next.run(req).await;
    // Answers of the API carry personal data: never cached by a browser or a proxy.
    if !resp.headers().contains_key(header::CACHE_CONTROL) {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[derive(serde::Deserialize)]
pub(crate) struct SignIn {
    username: String,
    password: String,
    /// After an admin's password reset (`auth.password_change_required`).
    #[serde(default)]
    new_password: Option<String>,
}

/// What the dashboard keeps of its session: who, and the CSRF token for its writes.
#[derive(serde::Serialize)]
struct WebSession {
    user: verivali_protocol::UserInfo,
    csrf: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// `POST /api/v1/web/session`: signs a browser in (JSON only, so a cross-site form cannot) and
/// sets the session cookie.
pub(crate) async fn sign_in(
    State(app): State<Arc<App>>,
    Address(addr): Address,
    Language(lang): Language,
    UserAgent(agent): UserAgent,
    JsonOnly(req): JsonOnly<SignIn>,
) -> Result<Response<Body>, ApiError> {
    let s = blocking(move || {
        app.sign_in_web(
            &req.username,
            &req.password,
            req.new_password.as_deref(),
            &agent,
            &addr,
            lang,
        )
    })
    .await?;
    let cookie = set_cookie(Some(&s.token));
    let csrf = auth::csrf_token(&s.token);
    let session = WebSession {
        csrf,
        user: s.user,
        expires_at: s.expires_at,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(session)).into_response())
}

/// `GET /api/v1/web/me`: who is signed in, and the CSRF token again (after a reload).
pub(crate) async fn me(caller: Caller, Token(token): Token) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "user": caller.user.info(),
        "csrf": auth::csrf_token(&token),
    }))
}

/// `DELETE /api/v1/web/session`: ends the session and clears the cookie.
pub(crate) async fn sign_out(
    State(app): State<Arc<App>>,
    caller: Caller,
    Token(token): Token,
) -> Result<Response<Body>, ApiError> {
    blocking(move || app.sign_out(&caller, &token)).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, set_cookie(None));
    Ok(r)
}
