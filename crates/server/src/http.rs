//! The HTTP surface (axum): routing, parsing, authentication, compression, size limits, and
//! problem+json for every error, including those raised by the framework itself.

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State,
};
use axum::http::request::Parts;
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
use crate::attachments::{Held, Patched};
use crate::edge::Edge;
use crate::error::{ApiError, Refusal};

/// Largest request body after decompression (a push of a few thousand visits fits easily).
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest baseline file the console may send (a 200,000-row file is about 30 MB; send it gzip-
/// or zstd-compressed to save the upload).
pub const MAX_IMPORT_BODY: usize = 128 * 1024 * 1024;

type Shared = State<Arc<App>>;

/// The router, as served directly on a trusted network (tests, benches).
pub fn router(app: Arc<App>) -> Router {
    router_with(app, Edge::default())
}

/// The router behind `edge` (trusted proxies, HTTPS).
pub fn router_with(app: Arc<App>, edge: Edge) -> Router {
    // The push decompresses its own body (`PushBody`), outside the request decompression layer.
    let push_route = Router::new()
        .route("/api/v1/sync/push", post(push))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/session", post(session))
        .route("/api/v1/sync/pull", get(pull))
        .route(
            "/api/v1/attachments/{sha}",
            head(attachment_head).patch(attachment_patch),
        )
        .route("/api/v1/admin/devices/{id}/revoke", post(revoke_device))
        .route("/api/v1/admin/devices", get(list_devices))
        .route(
            "/api/v1/admin/imports/households",
            post(start_baseline_import).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY)),
        )
        .route("/api/v1/admin/jobs/{id}", get(job))
        .route("/api/v1/admin/regions", post(import_regions))
        .route(
            "/api/v1/admin/questionnaires",
            get(questionnaire_versions).post(upload_questionnaire),
        )
        .route(
            "/api/v1/admin/questionnaires/{id}/publish",
            post(publish_questionnaire),
        )
        .route("/api/v1/regions", get(regions))
        .route("/api/v1/admin/jobs/{id}/bad-rows.csv", get(job_bad_rows))
        .route("/api/v1/sync/wiped", post(confirm_wipe))
        .route("/api/v1/review/visits/{id}/decision", post(decision))
        .route("/api/v1/review/visits", get(review_list))
        .route("/api/v1/review/visits/{id}", get(review_one))
        .route("/api/v1/review/visits/{id}/photos/{sha}", get(review_photo))
        .route("/api/v1/review/batches", get(review_batches))
        .route("/api/v1/review/batches/{id}/approve", post(approve_batch))
        .route("/api/v1/review/progress", get(progress))
        .route("/api/v1/review/verify", post(verify_many))
        .route("/api/v1/review/enumerators", get(enumerator_comparison))
        .route(
            "/api/v1/admin/quality/thresholds",
            get(quality_thresholds).put(set_quality_thresholds),
        )
        .route("/api/v1/export/{file}", get(export))
        .route("/api/v1/admin/audit", get(audit_log))
        .route("/api/v1/admin/users", get(list_users).post(create_user))
        .route(
            "/api/v1/admin/users/{id}",
            axum::routing::patch(change_user),
        )
        .route("/api/v1/assignments", post(assign).get(assignments))
        .route("/api/v1/assignments/import", post(import_assignments))
        .route("/api/v1/assignments/board", get(assignment_board))
        .route("/api/v1/assignments/{id}", axum::routing::delete(unassign))
        .route("/api/v1/questionnaire", get(questionnaire))
        .route(
            "/api/v1/web/session",
            post(crate::web::sign_in).delete(crate::web::sign_out),
        )
        .route("/api/v1/periods", get(periods))
        .route("/api/v1/admin/periods", post(create_period))
        .route("/api/v1/admin/periods/{id}/{to}", post(move_period))
        .route("/api/v1/periods/{name}/{file}", get(period_document))
        .route("/api/v1/proposals", post(create_proposal).get(proposals))
        .route("/api/v1/proposals/import", post(import_proposals))
        .route("/api/v1/households/search", get(search_households))
        .route("/api/v1/musdes", post(record_musdes).get(musdes_list))
        .route("/api/v1/musdes/{id}", get(musdes_one))
        .route("/api/v1/musdes/{id}/berita-acara.pdf", get(berita_acara))
        .route("/api/v1/musdes/{id}/scan", axum::routing::put(musdes_scan))
        .route("/api/v1/web/me", get(crate::web::me))
        .route("/", get(crate::web::index))
        .route("/assets/{file}", get(crate::web::asset))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(RequestDecompressionLayer::new().gzip(true).zstd(true))
        .merge(push_route)
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

/// A connection whose writes leave at once (`TCP_NODELAY`): an answer's last small segment
/// otherwise waits for the client's delayed acknowledgement (40 ms on Linux) whenever the
/// client is busy with the page before it.
pub trait NoDelay {
    /// Sets `TCP_NODELAY` (best effort).
    fn no_delay(&self);
}

impl NoDelay for tokio::net::TcpStream {
    fn no_delay(&self) {
        let _ = self.set_nodelay(true);
    }
}

impl NoDelay for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn no_delay(&self) {
        let _ = self.get_ref().0.set_nodelay(true);
    }
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
    L::Io: NoDelay,
{
    use axum::serve::ListenerExt;
    // `tap_io` makes the peer address available to `ConnectInfo` for any listener.
    axum::serve(
        listener.tap_io(|io| io.no_delay()),
        router_with(app, edge).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Refuses a path or query whose decoded text holds a character no backend can store
/// ([`verivali_domain::text`]): `?area=%00` would otherwise reach PostgreSQL and fail there.
async fn text_in_uri(
    req: axum::http::Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response<axum::body::Body> {
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
pub(crate) fn bearer(headers: &HeaderMap, lang: Lang) -> Result<String, ApiError> {
    use crate::web::Credential;
    match crate::web::credential(headers) {
        Some(Credential::Bearer(t) | Credential::Cookie(t)) if !t.is_empty() && t.len() < 200 => {
            Ok(t)
        }
        Some(_) => Err(ApiError::unauthorized(lang, "auth.invalid_token")),
        None => Err(ApiError::unauthorized(lang, "auth.missing_token")),
    }
}

/// The caller's language, from `Accept-Language`; never refuses.
pub struct Language(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for Language {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Language(lang(&parts.headers)))
    }
}

/// The caller's network address as the edge layer settled it (a trusted proxy's client, or the
/// peer).
pub struct Address(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Address {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Address(
            addr.map(|c| c.0.ip().to_string()).unwrap_or_default(),
        ))
    }
}

/// The caller's session token as sent (bearer or cookie), 401 without one.
pub struct Token(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        bearer(&parts.headers, lang(&parts.headers)).map(Token)
    }
}

/// The caller's credential, not yet checked: for handlers with a body, which read the whole body
/// before the token lookup (as a device expects: a refused token on a 2 MiB push must still answer
/// 401, not reset a half-sent request).
pub struct Unverified {
    token: String,
    address: String,
    lang: Lang,
}

impl<S: Send + Sync> FromRequestParts<S> for Unverified {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let lang = lang(&parts.headers);
        let token = bearer(&parts.headers, lang)?;
        let Ok(Address(address)) = Address::from_request_parts(parts, state).await;
        Ok(Unverified {
            token,
            address,
            lang,
        })
    }
}

impl Unverified {
    /// The caller, on a blocking thread (the lookup reads the database).
    fn verify(&self, app: &App) -> Result<Caller, ApiError> {
        app.authenticate(&self.token, &self.address, self.lang)
    }

    /// The caller of a call that carries a device's work in ([`App::authenticate_outgoing`]).
    fn verify_outgoing(&self, app: &App) -> Result<Caller, ApiError> {
        app.authenticate_outgoing(&self.token, &self.address, self.lang)
    }
}

/// Authentication as an extractor: the token lookup (a database read) runs off the async threads,
/// and a handler that takes a [`Caller`] is never reached without one.
impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let lang = lang(&parts.headers);
        let token = bearer(&parts.headers, lang)?;
        let Ok(Address(address)) = Address::from_request_parts(parts, app).await;
        let app = app.clone();
        blocking(move || app.authenticate(&token, &address, lang)).await
    }
}

/// Query parameters, or 400 in the caller's language.
pub struct Q<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Q(q))
            .map_err(|e| ApiError::bad_request(lang(&parts.headers), &e.body_text()))
    }
}

/// A path segment that names a record by UUID; anything else is 404 (as an unknown id is).
pub struct Id(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let not_found = ApiError::not_found(lang(&parts.headers));
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => uuid::Uuid::parse_str(&id).map(Id).map_err(|_| not_found),
            Err(_) => Err(not_found),
        }
    }
}

/// A JSON body whose every string can be stored ([`verivali_domain::text`]), or 400.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let lang = lang(req.headers());
        let bytes = body_bytes(req, state, lang).await?;
        parse(&bytes, lang).map(Body)
    }
}

/// A JSON body that also says so (`Content-Type: application/json`), else 415: a cross-site HTML
/// form cannot send one, which keeps the browser sign-in safe from login CSRF.
pub struct JsonOnly<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonOnly<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let lang = lang(req.headers());
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                Refusal::UnsupportedMediaType,
                "request.content_type",
                "JSON required",
                lang,
                "Kirim data masuk sebagai JSON",
                "Send the sign-in as JSON",
            ));
        }
        Body::from_request(req, state)
            .await
            .map(|Body(v)| JsonOnly(v))
    }
}

/// The `User-Agent`, scrubbed of control characters (it is stored with the session).
pub struct UserAgent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        Ok(UserAgent(
            verivali_domain::text::scrub(agent.unwrap_or("")).into_owned(),
        ))
    }
}

/// A push's body as it came (zstd, gzip or plain JSON), decoded on the blocking thread by
/// [`PushBody::decode`], with no text check: the push's strings are checked op by op so that one
/// bad visit never blocks the others.
///
/// The push is routed around the request decompression layer, which inflated a body through
/// zstd's window buffer into a stream of chunks that the `Bytes` extractor then copied into one
/// buffer: two more copies of ~2–4 MB per large push, where a profile placed a quarter of a
/// fresh server's page faults in a 10,000-visit sync. A zstd frame that states its size (every
/// device's does) is inflated here in one call, straight into a buffer of that size
/// (docs/benchmarks.md, nineteenth pass).
pub struct PushBody {
    body: Bytes,
    encoding: Encoding,
    lang: Lang,
}

/// A push body's `Content-Encoding`.
#[derive(Clone, Copy)]
enum Encoding {
    Identity,
    Zstd,
    Gzip,
}

impl<S: Send + Sync> FromRequest<S> for PushBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let lang = lang(req.headers());
        let encoding = match req.headers().get(header::CONTENT_ENCODING) {
            None => Encoding::Identity,
            Some(v) if v.as_bytes().eq_ignore_ascii_case(b"identity") => Encoding::Identity,
            Some(v) if v.as_bytes().eq_ignore_ascii_case(b"zstd") => Encoding::Zstd,
            Some(v) if v.as_bytes().eq_ignore_ascii_case(b"gzip") => Encoding::Gzip,
            Some(_) => return Err(framework_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, lang)),
        };
        let body = body_bytes(req, state, lang).await?;
        Ok(PushBody {
            body,
            encoding,
            lang,
        })
    }
}

impl PushBody {
    /// The push request: inflated (at most [`MAX_BODY`] bytes, else 413) and parsed (else 400).
    fn decode(self) -> Result<PushRequest, ApiError> {
        let lang = self.lang;
        let json = inflate(&self.body, self.encoding, MAX_BODY).map_err(|e| match e {
            Inflate::TooLarge => framework_error(StatusCode::PAYLOAD_TOO_LARGE, lang),
            Inflate::Corrupt(e) => {
                ApiError::bad_request(lang, &format!("the body could not be decompressed: {e}"))
            }
        })?;
        decode(&json, lang)
    }
}

/// Why a body could not be inflated.
#[derive(Debug)]
enum Inflate {
    /// It inflates to more than the limit.
    TooLarge,
    /// It is not valid zstd or gzip.
    Corrupt(std::io::Error),
}

/// `body` decompressed, at most `limit` bytes. A zstd frame that states its size is inflated in
/// one call into a buffer of exactly that size; anything else (no size, several frames, a size
/// that lies, gzip) in a stream, stopped past the limit.
fn inflate(
    body: &[u8],
    encoding: Encoding,
    limit: usize,
) -> Result<std::borrow::Cow<'_, [u8]>, Inflate> {
    use std::io::Read;
    let stream = |mut r: Box<dyn Read + '_>, hint: usize| {
        let mut out = Vec::with_capacity(hint.min(limit));
        r.by_ref()
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(Inflate::Corrupt)?;
        if out.len() > limit {
            return Err(Inflate::TooLarge);
        }
        Ok(std::borrow::Cow::Owned(out))
    };
    match encoding {
        Encoding::Identity if body.len() > limit => Err(Inflate::TooLarge),
        Encoding::Identity => Ok(std::borrow::Cow::Borrowed(body)),
        Encoding::Zstd => {
            let stated = zstd::zstd_safe::get_frame_content_size(body)
                .ok()
                .flatten()
                .and_then(|n| usize::try_from(n).ok());
            if let Some(n) = stated {
                if n > limit {
                    return Err(Inflate::TooLarge);
                }
                if let Ok(out) = zstd::bulk::decompress(body, n) {
                    return Ok(std::borrow::Cow::Owned(out));
                }
            }
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(body).map_err(Inflate::Corrupt)?;
            // A frame may ask for a window of up to 2^27 bytes (zstd's default limit), which the
            // stream reserves whatever the body holds: no push needs more than its own limit
            // (16 MiB, 2^24), and a device's level-1 frames use 2^19.
            decoder.window_log_max(24).map_err(Inflate::Corrupt)?;
            stream(Box::new(decoder), stated.unwrap_or(body.len() * 8))
        }
        Encoding::Gzip => stream(
            Box::new(flate2::read::MultiGzDecoder::new(body)),
            body.len() * 8,
        ),
    }
}

async fn body_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
    lang: Lang,
) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e| match e.status() {
            StatusCode::BAD_REQUEST => {
                ApiError::bad_request(lang, &verivali_domain::text::scrub(&e.body_text()))
            }
            status => framework_error(status, lang),
        })
}

/// A JSON body as `T`, or 400.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8], lang: Lang) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let detail: String = verivali_domain::text::scrub(&e.to_string())
            .chars()
            .take(200)
            .collect();
        ApiError::bad_request(lang, &detail)
    })
}

/// A JSON body as `T` whose every string can be stored, or 400.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    body: &[u8],
    lang: Lang,
) -> Result<T, ApiError> {
    let v: serde_json::Value = decode(body, lang)?;
    verivali_domain::text::check_json("", &v).map_err(|e| ApiError::unstorable_text(lang, &e))?;
    serde_json::from_value(v).map_err(|e| {
        let detail: String = e.to_string().chars().take(200).collect();
        ApiError::bad_request(lang, &detail)
    })
}

/// Runs blocking storage work off the async threads, keeping the request id for the log.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let id = crate::ops::current_request_id();
    tokio::task::spawn_blocking(move || crate::ops::with_request_id(id, f))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

async fn healthz(State(app): Shared) -> Result<&'static str, ApiError> {
    blocking(move || app.db.read().map(|_| "ok").map_err(ApiError::from)).await
}

async fn metrics(State(app): Shared) -> impl IntoResponse {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], app.metrics.render())
}

async fn session(
    State(app): Shared,
    Address(addr): Address,
    Language(lang): Language,
    Body(req): Body<SessionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.sign_in(&req, &addr, lang))
        .await
        .map(Json)
}

async fn push(
    State(app): Shared,
    who: Unverified,
    body: PushBody,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || {
        let req = body.decode()?;
        app.push(&who.verify_outgoing(&app)?, req)
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
    caller: Caller,
    Q(q): Q<PullParams>,
) -> Result<impl IntoResponse, ApiError> {
    let cursor = q.cursor.unwrap_or_default();
    blocking(move || app.pull(&caller, &cursor, q.limit))
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

fn with_offset(mut r: Response<axum::body::Body>, offset: u64) -> Response<axum::body::Body> {
    r.headers_mut()
        .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    r
}

async fn attachment_head(
    State(app): Shared,
    who: Unverified,
    Path(sha): Path<String>,
) -> Result<Response<axum::body::Body>, ApiError> {
    let lang = who.lang;
    let held = blocking(move || {
        who.verify_outgoing(&app)?;
        app.attachment_held(&sha, lang)
    });
    let (offset, complete) = match held.await? {
        Held::Complete(n) => (n, "?1"),
        Held::Partial(n) => (n, "?0"),
        Held::None => return Err(ApiError::not_found(lang)),
    };
    let r = ([("Upload-Complete", complete)], ()).into_response();
    Ok(with_offset(r, offset))
}

async fn attachment_patch(
    State(app): Shared,
    who: Unverified,
    Path(sha): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response<axum::body::Body>, ApiError> {
    let (done, st) = blocking(move || {
        let caller = who.verify_outgoing(&app)?;
        let offset = offset_header(&headers, UPLOAD_OFFSET, caller.lang)?;
        let length = offset_header(&headers, UPLOAD_LENGTH, caller.lang)?;
        app.attachment_patch(&caller, &sha, offset, length, &body)
    })
    .await?;
    let status = match done {
        Patched::Created => StatusCode::CREATED,
        Patched::Progress => StatusCode::OK,
    };
    Ok(with_offset(
        (status, Json(&st)).into_response(),
        st.upload_offset,
    ))
}

/// `{"wipe": true}` revokes with a wipe; an empty body is a plain revocation.
#[derive(Deserialize, Default)]
struct RevokeRequest {
    #[serde(default)]
    wipe: bool,
}

async fn revoke_device(
    State(app): Shared,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: RevokeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeRequest::default()
    } else {
        decode(&body, caller.lang)?
    };
    blocking(move || app.revoke_device(Some(&caller), id, req.wipe)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn upload_questionnaire(
    State(app): Shared,
    who: Unverified,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.upload_questionnaire(&who.verify(&app)?, &body))
        .await
        .map(|d| (StatusCode::CREATED, Json(d)))
}

async fn questionnaire_versions(
    State(app): Shared,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.questionnaire_versions(&caller))
        .await
        .map(Json)
}

async fn publish_questionnaire(
    State(app): Shared,
    caller: Caller,
    Id(id): Id,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.publish_draft(&caller, id))
        .await
        .map(Json)
}

async fn import_regions(
    State(app): Shared,
    who: Unverified,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.import_regions(&who.verify(&app)?, &body))
        .await
        .map(Json)
}

async fn regions(State(app): Shared, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.regions(&caller)).await.map(Json)
}

async fn start_baseline_import(
    State(app): Shared,
    who: Unverified,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.start_baseline_import(&who.verify(&app)?, body))
        .await
        .map(|j| (StatusCode::ACCEPTED, Json(j)))
}

async fn job(
    State(app): Shared,
    caller: Caller,
    Id(id): Id,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.job(&caller, id)).await.map(Json)
}

async fn job_bad_rows(
    State(app): Shared,
    caller: Caller,
    Id(id): Id,
) -> Result<impl IntoResponse, ApiError> {
    let csv = blocking(move || app.job_bad_rows_csv(&caller, id)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"baris-ditolak.csv\"",
            ),
        ],
        csv,
    ))
}

#[derive(Deserialize)]
struct DeviceParams {
    area: Option<String>,
}

async fn list_devices(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<DeviceParams>,
) -> Result<impl IntoResponse, ApiError> {
    let area = q.area.filter(|a| !a.is_empty());
    blocking(move || app.list_devices(&caller, area.as_deref()))
        .await
        .map(Json)
}

/// `POST /api/v1/sync/wiped`: a device revoked with a wipe says it sent everything and erased
/// itself.
async fn confirm_wipe(State(app): Shared, who: Unverified) -> Result<StatusCode, ApiError> {
    blocking(move || app.confirm_wipe(&who.verify_outgoing(&app)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn decision(
    State(app): Shared,
    caller: Caller,
    Id(id): Id,
    Body(req): Body<verivali_protocol::review::DecisionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.decide(&caller, id, &req))
        .await
        .map(Json)
}

async fn review_list(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<crate::review::reads::QueueQuery>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.review_list(&caller, &q))
        .await
        .map(Json)
}

async fn review_one(
    State(app): Shared,
    caller: Caller,
    Id(id): Id,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.review_one(&caller, id))
        .await
        .map(Json)
}

async fn review_photo(
    State(app): Shared,
    caller: Caller,
    Path((id, sha)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found(caller.lang))?;
    let bytes = blocking(move || app.review_photo(&caller, id, &sha)).await?;
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream"),
        (header::CACHE_CONTROL, "private, max-age=3600"),
    ];
    Ok((headers, bytes))
}

/// `?area=CODE&state=NAME` of the reviewer's lists and the export.
#[derive(Deserialize)]
pub struct AreaParams {
    /// A region inside the caller's areas.
    pub area: Option<String>,
    /// A review state by wire name.
    pub state: Option<String>,
}

async fn review_batches(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<AreaParams>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.review_batches(&caller, q.area.as_deref()))
        .await
        .map(Json)
}

async fn approve_batch(
    State(app): Shared,
    caller: Caller,
    Id(id): Id,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    // The body is optional: none confirms no flagged visit.
    let req: verivali_protocol::review::BulkApproveRequest =
        if body.iter().all(u8::is_ascii_whitespace) {
            Default::default()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(caller.lang, &format!("body: {e}")))?
        };
    blocking(move || app.approve_batch(&caller, id, &req))
        .await
        .map(Json)
}

async fn enumerator_comparison(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<AreaParams>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.enumerator_comparison(&caller, q.area.as_deref()))
        .await
        .map(Json)
}

async fn quality_thresholds(
    State(app): Shared,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.quality_thresholds(&caller))
        .await
        .map(Json)
}

async fn set_quality_thresholds(
    State(app): Shared,
    caller: Caller,
    Body(t): Body<verivali_domain::quality::Thresholds>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || {
        let checked = app.set_quality_thresholds(&caller, &t)?;
        Ok(serde_json::json!({ "thresholds": t, "rechecked": checked }))
    })
    .await
    .map(Json)
}

async fn progress(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<AreaParams>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.progress(&caller, q.area.as_deref()))
        .await
        .map(Json)
}

async fn questionnaire(State(app): Shared, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.active_questionnaire(&caller))
        .await
        .map(Json)
}

async fn export(
    State(app): Shared,
    caller: Caller,
    Path(file): Path<String>,
    Q(q): Q<AreaParams>,
) -> Result<Response<axum::body::Body>, ApiError> {
    crate::export::download(app, caller, &file, q).await
}

async fn assign(
    State(app): Shared,
    who: Unverified,
    Body(req): Body<verivali_protocol::assignment::AssignRequest>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.assign(&who.verify(&app)?, &req))
        .await
        .map(Json)
}

async fn import_assignments(
    State(app): Shared,
    who: Unverified,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.import_assignments(&who.verify(&app)?, &body))
        .await
        .map(Json)
}

#[derive(Deserialize)]
struct AssignmentParams {
    area: Option<String>,
    enumerator: Option<String>,
}

async fn assignments(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<AssignmentParams>,
) -> Result<impl IntoResponse, ApiError> {
    let (area, enumerator) = (q.area, q.enumerator);
    blocking(move || app.assignments(&caller, area.as_deref(), enumerator.as_deref()))
        .await
        .map(Json)
}

async fn assignment_board(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<AreaParams>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.assignment_board(&caller, q.area.as_deref()))
        .await
        .map(Json)
}

async fn unassign(State(app): Shared, caller: Caller, Id(id): Id) -> Result<StatusCode, ApiError> {
    blocking(move || app.unassign(&caller, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct UserParams {
    role: Option<String>,
    area: Option<String>,
    disabled: Option<bool>,
    q: Option<String>,
}

async fn list_users(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<UserParams>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || {
        app.list_users(
            &caller,
            q.role.as_deref(),
            q.area.as_deref().filter(|a| !a.is_empty()),
            q.disabled,
            q.q.as_deref(),
        )
    })
    .await
    .map(Json)
}

async fn create_user(
    State(app): Shared,
    who: Unverified,
    Body(req): Body<verivali_protocol::admin::CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.create_user(&who.verify(&app)?, &req))
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
}

async fn change_user(
    State(app): Shared,
    who: Unverified,
    Id(id): Id,
    Body(req): Body<verivali_protocol::admin::UserPatch>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.change_user(&who.verify(&app)?, id, &req))
        .await
        .map(Json)
}

#[derive(Deserialize)]
struct AuditParams {
    before: Option<i64>,
    action: Option<String>,
    limit: Option<usize>,
}

async fn audit_log(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<AuditParams>,
) -> Result<impl IntoResponse, ApiError> {
    let action = q.action.filter(|a| !a.is_empty());
    blocking(move || app.audit_log(&caller, q.before, action.as_deref(), q.limit))
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
    resp: Response<axum::body::Body>,
) -> Response<axum::body::Body> {
    let status = resp.status();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if status.as_u16() < 400 || is_problem || method == Method::HEAD {
        return resp;
    }
    framework_error(status, lang(&headers)).into_response()
}

/// The framework's own refusal (405, 413, 415…) as problem+json with a stable code.
fn framework_error(status: StatusCode, lang: Lang) -> ApiError {
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
    ApiError::new(Refusal::from_status(status), code, title, lang, id, en)
}

// The update cycle (DESIGN.md §12; crate::cycle).

fn path_id(id: &str, lang: Lang) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(lang))
}

async fn periods(State(app): Shared, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.periods(&caller)).await.map(Json)
}

async fn create_period(
    State(app): Shared,
    who: Unverified,
    Body(req): Body<verivali_protocol::cycle::NewPeriod>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.create_period(&who.verify(&app)?, &req))
        .await
        .map(|p| (StatusCode::CREATED, Json(p)))
}

async fn move_period(
    State(app): Shared,
    who: Unverified,
    Path((id, to)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || {
        let caller = who.verify(&app)?;
        let id = path_id(&id, caller.lang)?;
        let to = match to.as_str() {
            "open" => verivali_domain::cycle::PeriodState::Open,
            "close" => verivali_domain::cycle::PeriodState::Closed,
            _ => return Err(ApiError::not_found(caller.lang)),
        };
        app.move_period(&caller, id, to)
    })
    .await
    .map(Json)
}

async fn create_proposal(
    State(app): Shared,
    who: Unverified,
    Body(req): Body<verivali_domain::cycle::NewProposal>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.create_proposal(&who.verify(&app)?, &req))
        .await
        .map(|p| (StatusCode::CREATED, Json(p)))
}

async fn proposals(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<AreaParams>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.proposals(&caller, q.area.as_deref()))
        .await
        .map(Json)
}

async fn import_proposals(
    State(app): Shared,
    who: Unverified,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.import_proposals(&who.verify(&app)?, &body))
        .await
        .map(Json)
}

async fn record_musdes(
    State(app): Shared,
    who: Unverified,
    Body(req): Body<verivali_domain::cycle::NewMusdes>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.record_musdes(&who.verify(&app)?, &req))
        .await
        .map(|m| (StatusCode::CREATED, Json(m)))
}

async fn musdes_list(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<AreaParams>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.musdes_list(&caller, q.area.as_deref()))
        .await
        .map(Json)
}

async fn musdes_one(
    State(app): Shared,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, caller.lang)?;
    blocking(move || app.musdes_read(&caller, id))
        .await
        .map(Json)
}

async fn berita_acara(
    State(app): Shared,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, caller.lang)?;
    let pdf = blocking(move || app.berita_acara(&caller, id)).await?;
    let headers = [
        (header::CONTENT_TYPE, "application/pdf"),
        (header::CACHE_CONTROL, "private, no-store"),
        (
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"berita-acara-musdes.pdf\"",
        ),
    ];
    Ok((headers, pdf))
}

async fn musdes_scan(
    State(app): Shared,
    who: Unverified,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    blocking(move || {
        let caller = who.verify(&app)?;
        let id = path_id(&id, caller.lang)?;
        app.put_musdes_scan(&caller, id, &content_type, &body)
    })
    .await
    .map(Json)
}

async fn verify_many(
    State(app): Shared,
    who: Unverified,
    Body(req): Body<verivali_protocol::review::VerifyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || app.verify_many(&who.verify(&app)?, &req))
        .await
        .map(Json)
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
    area: Option<String>,
}

async fn search_households(
    State(app): Shared,
    caller: Caller,
    Q(q): Q<SearchParams>,
) -> Result<impl IntoResponse, ApiError> {
    blocking(move || {
        app.search_households(&caller, q.q.as_deref().unwrap_or(""), q.area.as_deref())
    })
    .await
    .map(Json)
}

async fn period_document(
    State(app): Shared,
    caller: Caller,
    Path((name, file)): Path<(String, String)>,
    Q(q): Q<AreaParams>,
) -> Result<impl IntoResponse, ApiError> {
    let (bytes, content_type, filename) = blocking(move || match file.as_str() {
        "bnba.csv" => app.bnba(&caller, &name, q.area.as_deref(), false),
        "bnba.xlsx" => app.bnba(&caller, &name, q.area.as_deref(), true),
        "summary.pdf" => app
            .period_summary(&caller, &name, q.area.as_deref())
            .map(|b| (b, "application/pdf", format!("rekap-{name}.pdf"))),
        _ => Err(ApiError::not_found(caller.lang)),
    })
    .await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        filename.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.',
            "_"
        )
    );
    let mut r = axum::response::Response::new(axum::body::Body::from(bytes));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::{Encoding, Inflate, inflate};
    use std::io::Write;

    fn json(n: usize) -> Vec<u8> {
        let mut v = b"[".to_vec();
        for i in 0..n {
            v.extend_from_slice(format!("{{\"i\":{i},\"s\":\"kunjungan\"}},").as_bytes());
        }
        v.push(b'0');
        v.push(b']');
        v
    }

    #[test]
    fn every_form_a_client_may_send_inflates_to_the_same_bytes() {
        let plain = json(5_000);
        let stated = zstd::bulk::compress(&plain, 1).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&stated).unwrap(),
            Some(plain.len() as u64)
        );
        // A streaming encoder does not state the size; two frames are one body.
        let mut streamed = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        streamed.write_all(&plain).unwrap();
        let streamed = streamed.finish().unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(),
            None
        );
        let (a, b) = plain.split_at(1000);
        let mut two = zstd::bulk::compress(a, 1).unwrap();
        two.extend(zstd::bulk::compress(b, 1).unwrap());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        for (name, body, enc) in [
            ("stated", &stated, Encoding::Zstd),
            ("streamed", &streamed, Encoding::Zstd),
            ("two frames", &two, Encoding::Zstd),
            ("gzip", &gz, Encoding::Gzip),
            ("plain", &plain, Encoding::Identity),
        ] {
            let out = inflate(body, enc, plain.len()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(&*out, &plain[..], "{name}");
            // One byte under the limit is too large, in every form.
            assert!(
                matches!(inflate(body, enc, plain.len() - 1), Err(Inflate::TooLarge)),
                "{name}"
            );
        }
    }

    #[test]
    fn a_frame_whose_stated_size_lies_or_is_cut_is_refused_not_trusted() {
        // Over 64 KiB, so that the frame states its size in four bytes.
        let plain = json(5_000);
        let frame = zstd::bulk::compress(&plain, 1).unwrap();
        // Cut: the stated size is right, the data is not all there.
        assert!(matches!(
            inflate(&frame[..frame.len() / 2], Encoding::Zstd, 1 << 20),
            Err(Inflate::Corrupt(_))
        ));
        // Garbage, and gzip that is not gzip.
        assert!(matches!(
            inflate(b"not zstd at all", Encoding::Zstd, 1 << 20),
            Err(Inflate::Corrupt(_))
        ));
        assert!(matches!(
            inflate(b"not gzip at all", Encoding::Gzip, 1 << 20),
            Err(Inflate::Corrupt(_))
        ));
        // A header that claims more than the limit is refused before anything is allocated.
        let mut big = frame.clone();
        // Frame header: magic (4), descriptor (1; its top two bits size the content size field),
        // then the window descriptor unless single-segment, then the content size (LE).
        let fhd = big[4];
        let single = fhd & 0x20 != 0;
        let size_at = 5 + usize::from(!single);
        let field = match fhd >> 6 {
            0 => usize::from(single),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        assert_eq!(field, 4, "a frame of this size states it in four bytes");
        big[size_at..size_at + 4].copy_from_slice(&(64u32 << 20).to_le_bytes());
        assert!(matches!(
            inflate(&big, Encoding::Zstd, 16 << 20),
            Err(Inflate::TooLarge)
        ));
        // A frame without a stated size that asks for a window larger than any push: refused
        // before its window is reserved.
        let mut wide = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        wide.set_parameter(zstd::zstd_safe::CParameter::WindowLog(25))
            .unwrap();
        wide.write_all(&plain).unwrap();
        let wide = wide.finish().unwrap();
        assert!(matches!(
            inflate(&wide, Encoding::Zstd, 16 << 20),
            Err(Inflate::Corrupt(_))
        ));
        // A size that understates the data: the one-call inflate fails, the stream finds out.
        big[size_at..size_at + 4].copy_from_slice(&100u32.to_le_bytes());
        assert!(inflate(&big, Encoding::Zstd, 16 << 20).is_err());
    }
}
