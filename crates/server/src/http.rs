//! The HTTP surface (axum): routing, parsing, authentication, compression, size limits, and
//! problem+json for every error, including those raised by the framework itself.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, head, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use verivali_domain::Lang;
use verivali_protocol::attachment::UPLOAD_LENGTH;
use verivali_protocol::{PushRequest, SessionRequest, UPLOAD_OFFSET};

use crate::app::{App, Caller};
use crate::attachments::Held;
use crate::error::ApiError;

/// Largest request body after decompression (a push of a few thousand visits fits easily).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

type Shared = State<Arc<App>>;

/// The router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/session", post(session))
        .route("/api/v1/sync/push", post(push))
        .route("/api/v1/sync/pull", get(pull))
        .route(
            "/api/v1/attachments/{sha}",
            head(attachment_head).patch(attachment_patch),
        )
        .route("/api/v1/admin/devices/{id}/revoke", post(revoke_device))
        .route("/api/v1/review/visits/{id}/decision", post(decision))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(RequestDecompressionLayer::new().gzip(true).zstd(true))
        .layer(CompressionLayer::new().gzip(true).zstd(true))
        .layer(axum::middleware::map_response(problem_for_plain_errors))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(&"handler panicked").into_response()
        }))
        .with_state(app)
}

/// Serves until the listener fails.
pub async fn serve(app: Arc<App>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The caller's language from `Accept-Language` (Indonesian unless English comes first).
pub fn lang(headers: &HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map_or(Lang::Id, Lang::from_tag)
}

fn bearer(headers: &HeaderMap, lang: Lang) -> Result<String, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() < 200)
        .ok_or_else(|| ApiError::unauthorized(lang, "auth.missing_token"))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], lang: Lang) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let detail: String = e.to_string().chars().take(200).collect();
        ApiError::bad_request(lang, &detail)
    })
}

/// Runs blocking storage work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&e))?
}

fn authed(app: &App, headers: &HeaderMap, addr: SocketAddr) -> Result<Caller, ApiError> {
    let lang = lang(headers);
    app.authenticate(&bearer(headers, lang)?, &addr.ip().to_string(), lang)
}

async fn healthz(State(app): Shared) -> Result<&'static str, ApiError> {
    blocking(move || {
        app.db.read()?;
        Ok("ok")
    })
    .await
}

async fn metrics(State(app): Shared) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

async fn session(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let lang = lang(&headers);
    let req: SessionRequest = parse(&body, lang)?;
    blocking(move || app.sign_in(&req, &addr.ip().to_string(), lang))
        .await
        .map(Json)
}

async fn push(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let lang = lang(&headers);
    bearer(&headers, lang)?;
    let req: PushRequest = parse(&body, lang)?;
    blocking(move || {
        let caller = authed(&app, &headers, addr)?;
        app.push(&caller, &req)
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
struct PullParams {
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn pull(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Query<PullParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let lang = lang(&headers);
    let Query(q) = q.map_err(|e| ApiError::bad_request(lang, &e.body_text()))?;
    blocking(move || {
        let caller = authed(&app, &headers, addr)?;
        app.pull(&caller, q.cursor.as_deref().unwrap_or(""), q.limit)
    })
    .await
    .map(Json)
}

fn offset_header(headers: &HeaderMap, name: &str, lang: Lang) -> Result<u64, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ApiError::bad_request(lang, &format!("header {name} is required (bytes)")))
}

async fn attachment_head(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha): Path<String>,
) -> Result<Response<Body>, ApiError> {
    blocking(move || {
        let caller = authed(&app, &headers, addr)?;
        let held = app.attachment_held(&sha, caller.lang)?;
        let (offset, complete) = match held {
            Held::Complete(n) => (n, true),
            Held::Partial(n) => (n, false),
            Held::None => return Err(ApiError::not_found(caller.lang)),
        };
        let mut r = Response::new(Body::empty());
        r.headers_mut()
            .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
        r.headers_mut().insert(
            "Upload-Complete",
            HeaderValue::from_static(if complete { "?1" } else { "?0" }),
        );
        Ok(r)
    })
    .await
}

async fn attachment_patch(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha): Path<String>,
    body: Bytes,
) -> Result<Response<Body>, ApiError> {
    blocking(move || {
        let caller = authed(&app, &headers, addr)?;
        let offset = offset_header(&headers, UPLOAD_OFFSET, caller.lang)?;
        let length = offset_header(&headers, UPLOAD_LENGTH, caller.lang)?;
        let (status, st) = app.attachment_patch(&caller, &sha, offset, length, &body)?;
        let mut r = (status, Json(&st)).into_response();
        r.headers_mut()
            .insert(UPLOAD_OFFSET, HeaderValue::from(st.upload_offset));
        Ok(r)
    })
    .await
}

async fn revoke_device(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || {
        let caller = authed(&app, &headers, addr)?;
        let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found(caller.lang))?;
        app.revoke_device(Some(&caller), id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn decision(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let lang = lang(&headers);
    let req: verivali_protocol::review::DecisionRequest = parse(&body, lang)?;
    blocking(move || {
        let caller = authed(&app, &headers, addr)?;
        let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found(caller.lang))?;
        app.decide(&caller, id, &req)
    })
    .await
    .map(Json)
}

async fn fallback(headers: HeaderMap) -> ApiError {
    ApiError::not_found(lang(&headers))
}

/// Turns the framework's own plain-text errors (405, 413, 415…) into problem+json.
async fn problem_for_plain_errors(
    method: Method,
    headers: HeaderMap,
    resp: Response<Body>,
) -> Response<Body> {
    let status = resp.status();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if status.as_u16() < 400 || is_problem || method == Method::HEAD {
        return resp;
    }
    let lang = lang(&headers);
    let (code, title, id, en) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "http.method_not_allowed",
            "Method not allowed",
            "Metode tidak diizinkan",
            "Method not allowed",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "request.too_large",
            "Request too large",
            "Permintaan terlalu besar",
            "Request too large",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "request.encoding",
            "Unsupported encoding",
            "Content-Encoding tidak didukung (pakai zstd atau gzip)",
            "Unsupported Content-Encoding (use zstd or gzip)",
        ),
        _ => ("http.error", "Error", "Permintaan gagal", "Request failed"),
    };
    ApiError::new(status, code, title, lang, id, en).into_response()
}
