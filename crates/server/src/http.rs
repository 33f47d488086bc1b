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
use crate::edge::Edge;
use crate::error::ApiError;

/// Largest request body after decompression (a push of a few thousand visits fits easily).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

type Shared = State<Arc<App>>;

/// The router, as served directly on a trusted network (tests, benches).
pub fn router(app: Arc<App>) -> Router {
    router_with(app, Edge::default())
}

/// The router behind `edge` (trusted proxies, HTTPS).
pub fn router_with(app: Arc<App>, edge: Edge) -> Router {
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
        .route("/api/v1/review/visits", get(review_list))
        .route("/api/v1/review/visits/{id}", get(review_one))
        .route("/api/v1/review/visits/{id}/photos/{sha}", get(review_photo))
        .route("/api/v1/review/batches", get(review_batches))
        .route("/api/v1/review/batches/{id}/approve", post(approve_batch))
        .route("/api/v1/review/progress", get(progress))
        .route("/api/v1/export/{file}", get(export))
        .route("/api/v1/admin/audit", get(audit_log))
        .route("/api/v1/questionnaire", get(questionnaire))
        .route(
            "/api/v1/web/session",
            post(web_sign_in).delete(web_sign_out),
        )
        .route("/api/v1/web/me", get(web_me))
        .route("/", get(crate::web::index))
        .route("/assets/{file}", get(crate::web::asset))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(RequestDecompressionLayer::new().gzip(true).zstd(true))
        .layer(CompressionLayer::new().gzip(true).zstd(true))
        .layer(axum::middleware::from_fn(crate::web::csrf_guard))
        .layer(axum::middleware::from_fn(text_in_uri))
        .layer(axum::middleware::map_response(problem_for_plain_errors))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(&"handler panicked").into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(edge),
            crate::edge::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::ops::request,
        ))
        .with_state(app)
}

/// Serves on a plain TCP listener until it fails.
pub async fn serve(app: Arc<App>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_with(app, listener, Edge::default(), std::future::pending()).await
}

/// Serves on `listener` (TCP or [`crate::edge::TlsListener`]) until `shutdown` resolves, then
/// stops accepting and waits for the requests in flight to finish.
pub async fn serve_with<L>(
    app: Arc<App>,
    listener: L,
    edge: Edge,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use axum::serve::ListenerExt;
    // `tap_io` makes the peer address available to `ConnectInfo` for any listener.
    axum::serve(
        listener.tap_io(|_| {}),
        router_with(app, edge).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Refuses a path or query whose decoded text holds a character no backend can store
/// ([`verivali_domain::text`]): `?area=%00` would otherwise reach PostgreSQL and fail there.
async fn text_in_uri(
    req: axum::http::Request<Body>,
    next: axum::middleware::Next,
) -> Response<Body> {
    let uri = req.uri();
    let decoded = percent_decode(uri.path().as_bytes())
        .chain(
            uri.query()
                .map(|q| percent_decode(q.as_bytes()))
                .into_iter()
                .flatten(),
        )
        .collect::<Vec<u8>>();
    let text = String::from_utf8_lossy(&decoded);
    if let Err(e) = verivali_domain::text::check("uri", &text) {
        return ApiError::unstorable_text(lang(req.headers()), &e).into_response();
    }
    next.run(req).await
}

/// `%XX` decoded (and `+` as a space, as in a query); malformed escapes stay as they are.
fn percent_decode(s: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *s.get(i)?;
        i += 1;
        if b == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i).and_then(|b| hex(*b)),
                s.get(i + 1).and_then(|b| hex(*b)),
            )
        {
            i += 2;
            return Some(h << 4 | l);
        }
        Some(if b == b'+' { b' ' } else { b })
    })
}

/// The caller's language from `Accept-Language` (Indonesian unless English comes first).
pub fn lang(headers: &HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map_or(Lang::Id, Lang::from_tag)
}

/// The caller's token: `Authorization: Bearer`, else the dashboard's session cookie (whose
/// writes [`crate::web::csrf_guard`] has already checked).
fn bearer(headers: &HeaderMap, lang: Lang) -> Result<String, ApiError> {
    use crate::web::Credential;
    match crate::web::credential(headers) {
        Some(Credential::Bearer(t) | Credential::Cookie(t)) if !t.is_empty() && t.len() < 200 => {
            Ok(t)
        }
        Some(_) => Err(ApiError::unauthorized(lang, "auth.invalid_token")),
        None => Err(ApiError::unauthorized(lang, "auth.missing_token")),
    }
}

/// Query parameters, or 400 in the caller's language.
fn query<T>(q: Result<Query<T>, QueryRejection>, lang: Lang) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(lang, &e.body_text()))
}

/// A JSON body as `T`, or 400. Only for the push, whose strings are checked op by op.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8], lang: Lang) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let detail: String = verivali_domain::text::scrub(&e.to_string())
            .chars()
            .take(200)
            .collect();
        ApiError::bad_request(lang, &detail)
    })
}

/// A JSON body as `T` whose every string can be stored ([`verivali_domain::text`]), or 400.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8], lang: Lang) -> Result<T, ApiError> {
    let v: serde_json::Value = decode(body, lang)?;
    verivali_domain::text::check_json("", &v).map_err(|e| ApiError::unstorable_text(lang, &e))?;
    serde_json::from_value(v).map_err(|e| {
        let detail: String = e.to_string().chars().take(200).collect();
        ApiError::bad_request(lang, &detail)
    })
}

/// Runs blocking storage work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let id = crate::ops::current_request_id();
    tokio::task::spawn_blocking(move || crate::ops::with_request_id(id, f))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

/// Authenticates the caller and runs `f` with them, off the async threads.
async fn with_caller<T: Send + 'static>(
    app: Arc<App>,
    headers: HeaderMap,
    addr: SocketAddr,
    f: impl FnOnce(&App, &Caller) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(move || f(&app, &authed(&app, &headers, addr)?)).await
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
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
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
    let req: PushRequest = decode(&body, lang)?;
    with_caller(app, headers, addr, move |app, caller| {
        app.push(caller, &req)
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
    let q = query(q, lang)?;
    with_caller(app, headers, addr, move |app, caller| {
        app.pull(caller, q.cursor.as_deref().unwrap_or(""), q.limit)
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
    with_caller(app, headers, addr, move |app, caller| {
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
    with_caller(app, headers.clone(), addr, move |app, caller| {
        let offset = offset_header(&headers, UPLOAD_OFFSET, caller.lang)?;
        let length = offset_header(&headers, UPLOAD_LENGTH, caller.lang)?;
        let (status, st) = app.attachment_patch(caller, &sha, offset, length, &body)?;
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
    with_caller(app, headers, addr, move |app, caller| {
        let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found(caller.lang))?;
        app.revoke_device(Some(caller), id)?;
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
    with_caller(app, headers, addr, move |app, caller| {
        let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found(caller.lang))?;
        app.decide(caller, id, &req)
    })
    .await
    .map(Json)
}

async fn review_list(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Query<crate::queue::QueueQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let lang = lang(&headers);
    let q = query(q, lang)?;
    with_caller(app, headers, addr, move |app, c| app.review_list(c, &q))
        .await
        .map(Json)
}

fn path_uuid(id: &str, lang: Lang) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(lang))
}

async fn review_one(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    with_caller(app, headers, addr, move |app, caller| {
        app.review_one(caller, path_uuid(&id, caller.lang)?)
    })
    .await
    .map(Json)
}

async fn review_photo(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((id, sha)): Path<(String, String)>,
) -> Result<Response<Body>, ApiError> {
    let bytes = with_caller(app, headers, addr, move |app, caller| {
        let path = app.review_photo(caller, path_uuid(&id, caller.lang)?, &sha)?;
        std::fs::read(path).map_err(|e| ApiError::internal(&e))
    })
    .await?;
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(r)
}

#[derive(Deserialize)]
struct AreaParams {
    area: Option<String>,
    state: Option<String>,
}

async fn review_batches(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Query<AreaParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let lang = lang(&headers);
    let q = query(q, lang)?;
    with_caller(app, headers, addr, move |app, c| {
        app.review_batches(c, q.area.as_deref())
    })
    .await
    .map(Json)
}

async fn approve_batch(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    with_caller(app, headers, addr, move |app, caller| {
        app.approve_batch(caller, path_uuid(&id, caller.lang)?)
    })
    .await
    .map(Json)
}

async fn progress(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Query<AreaParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let lang = lang(&headers);
    let q = query(q, lang)?;
    with_caller(app, headers, addr, move |app, c| {
        app.progress(c, q.area.as_deref())
    })
    .await
    .map(Json)
}

async fn questionnaire(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    with_caller(app, headers, addr, move |app, caller| {
        let mut tx = app.db.read()?;
        crate::repo::active_questionnaire(tx.as_mut())?
            .ok_or_else(|| ApiError::not_found(caller.lang))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/export/visits.csv|visits.xlsx?state=approved&area=CODE`: streamed.
async fn export(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(file): Path<String>,
    q: Result<Query<AreaParams>, QueryRejection>,
) -> Result<Response<Body>, ApiError> {
    use crate::export::ExportFormat;
    let lang = lang(&headers);
    let format = match file.as_str() {
        "visits.csv" => ExportFormat::Csv,
        "visits.xlsx" => ExportFormat::Xlsx,
        _ => return Err(ApiError::not_found(lang)),
    };
    let q = query(q, lang)?;
    let app2 = app.clone();
    let req = blocking(move || {
        let caller = authed(&app2, &headers, addr)?;
        app2.export_request(&caller, q.state.as_deref(), q.area.as_deref(), format)
    })
    .await?;
    let stamp = app.now().format("%Y%m%d-%H%M");
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx.clone());
        let done = match format {
            ExportFormat::Csv => app.export_csv(&req, &mut out).map(|_| ()),
            ExportFormat::Xlsx => export_xlsx_stream(&app, &req, &mut out),
        };
        if let Err(e) = done {
            // The status line is gone: end the body with an error so the download fails
            // visibly rather than looking complete.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let mut rx = rx;
    // poll_fn keeps answering `None` once the channel is done (compression polls again).
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"kunjungan-{stamp}.{}\"",
        format.ext()
    )) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

fn export_xlsx_stream(
    app: &App,
    req: &crate::export::ExportRequest,
    out: &mut ChannelWriter,
) -> Result<(), crate::export::ExportError> {
    use std::io::Write;
    let dir = tempfile::tempdir_in(&app.attachments_dir)?;
    let path = dir.path().join("export.xlsx");
    app.export_xlsx(req, &path)?;
    let mut f = std::fs::File::open(&path)?;
    std::io::copy(&mut f, out)?;
    out.flush()?;
    Ok(())
}

/// A blocking writer that hands 64 KiB chunks to the response body.
struct ChannelWriter(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for chunk in buf.chunks(64 * 1024) {
            self.0
                .blocking_send(Ok(Bytes::copy_from_slice(chunk)))
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Deserialize)]
struct AuditParams {
    before: Option<i64>,
    action: Option<String>,
    limit: Option<usize>,
}

async fn audit_log(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let lang = lang(&headers);
    let q = query(q, lang)?;
    with_caller(app, headers, addr, move |app, caller| {
        app.audit_log(caller, q.before, q.action.as_deref(), q.limit)
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
struct WebSignIn {
    username: String,
    password: String,
}

/// What the dashboard keeps of its session: who, and the CSRF token for its writes.
#[derive(serde::Serialize)]
struct WebSession {
    user: verivali_protocol::UserInfo,
    csrf: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

async fn web_sign_in(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, ApiError> {
    let lang = lang(&headers);
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.content_type",
            "JSON required",
            lang,
            "Kirim data masuk sebagai JSON",
            "Send the sign-in as JSON",
        ));
    }
    let req: WebSignIn = parse(&body, lang)?;
    let agent = verivali_domain::text::scrub(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
    .into_owned();
    let s = blocking(move || {
        app.sign_in_web(
            &req.username,
            &req.password,
            &agent,
            &addr.ip().to_string(),
            lang,
        )
    })
    .await?;
    let mut r = Json(WebSession {
        csrf: crate::auth::csrf_token(&s.token),
        user: s.user,
        expires_at: s.expires_at,
    })
    .into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, crate::web::set_cookie(Some(&s.token)));
    Ok(r)
}

async fn web_me(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let token = bearer(&headers, lang(&headers))?;
    blocking(move || {
        let c = authed(&app, &headers, addr)?;
        Ok(Json(serde_json::json!({
            "user": c.user.info(),
            "csrf": crate::auth::csrf_token(&token),
        })))
    })
    .await
}

async fn web_sign_out(
    State(app): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let token = bearer(&headers, lang(&headers))?;
    blocking(move || {
        let c = authed(&app, &headers, addr)?;
        app.sign_out(&c, &token)
    })
    .await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, crate::web::set_cookie(None));
    Ok(r)
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
