//! API errors as RFC 9457 problem details with a stable `code`, in the caller's language.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use verivali_domain::Lang;
use verivali_protocol::Problem;
use verivali_protocol::problem::CONTENT_TYPE;

use crate::db::DbError;

/// Why a request is refused. Services name the refusal; only [`Refusal::status`] turns it into an
/// HTTP status, so the mapping to HTTP lives in this one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request is malformed (bad JSON, unknown filter, unstorable text).
    BadRequest,
    /// No valid credential.
    Unauthorized,
    /// The caller's role may not do this.
    Forbidden,
    /// Nothing there, or nothing the caller may see (the two are not told apart).
    NotFound,
    /// The state of the thing forbids it now (a decided visit, an offset that moved on).
    Conflict,
    /// More bytes than allowed.
    TooLarge,
    /// Not in a format the server reads.
    UnsupportedMediaType,
    /// Well-formed but against a rule (a rejection with no reason, a hash mismatch).
    Unprocessable,
    /// Throttled; `Retry-After` says when to come back.
    TooManyRequests,
    /// The app is older than the server accepts.
    UpgradeRequired,
    /// The framework's own refusal of the method.
    MethodNotAllowed,
    /// The server failed; the caller may retry.
    Internal,
    /// The write met another one head on and lost (PostgreSQL broke a deadlock or a
    /// serialization conflict), on its last try: nothing of it was written; `Retry-After` says
    /// when to come back.
    Busy,
    /// Another status the framework chose itself (408, 411, 414…), kept as it was.
    Framework(StatusCode),
}

impl Refusal {
    /// The HTTP status of the refusal.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::BadRequest => StatusCode::BAD_REQUEST,
            Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden => StatusCode::FORBIDDEN,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Conflict => StatusCode::CONFLICT,
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Refusal::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Refusal::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Framework(status) => status,
        }
    }

    /// The refusal the framework meant by a plain-text error status.
    pub fn from_status(status: StatusCode) -> Refusal {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => Refusal::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Refusal::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Refusal::UnsupportedMediaType,
            StatusCode::NOT_FOUND => Refusal::NotFound,
            StatusCode::BAD_REQUEST => Refusal::BadRequest,
            other => Refusal::Framework(other),
        }
    }
}

impl From<&verivali_domain::TransitionError> for Refusal {
    fn from(e: &verivali_domain::TransitionError) -> Refusal {
        use verivali_domain::TransitionError as T;
        match e {
            T::NotAllowed { .. } => Refusal::Conflict,
            T::ReasonRequired => Refusal::Unprocessable,
            T::Forbidden { .. } => Refusal::Forbidden,
        }
    }
}

/// An error answer: a refusal with a stable code and a detail in the caller's language.
#[derive(Debug)]
pub struct ApiError {
    pub refusal: Refusal,
    /// Stable code.
    pub code: &'static str,
    /// Short English title.
    pub title: &'static str,
    /// Detail in the caller's language.
    pub detail: String,
    /// Extra members.
    pub extra: Vec<(&'static str, Value)>,
    /// Extra headers (Retry-After…).
    pub headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    /// A new error with a detail in both languages.
    pub fn new(
        refusal: Refusal,
        code: &'static str,
        title: &'static str,
        lang: Lang,
        id: &str,
        en: &str,
    ) -> ApiError {
        ApiError {
            refusal,
            code,
            title,
            detail: if lang == Lang::En {
                en.to_string()
            } else {
                id.to_string()
            },
            extra: vec![],
            headers: vec![],
        }
    }

    /// A domain refusal (anything [`verivali_domain::Coded`]) as an answer: its code, and its
    /// message in the caller's language.
    pub fn coded(
        refusal: Refusal,
        title: &'static str,
        e: &dyn verivali_domain::Coded,
        lang: Lang,
    ) -> ApiError {
        ApiError {
            refusal,
            code: e.code(),
            title,
            detail: e.message(lang),
            extra: vec![],
            headers: vec![],
        }
    }

    /// Adds an extra member.
    pub fn with(mut self, key: &'static str, value: Value) -> ApiError {
        self.extra.push((key, value));
        self
    }

    /// 401 for a missing, unknown, expired or revoked token.
    pub fn unauthorized(lang: Lang, code: &'static str) -> ApiError {
        let (id, en) = match code {
            "auth.token_expired" => (
                "Sesi sudah habis; silakan masuk lagi",
                "The session has expired; sign in again",
            ),
            "auth.device_revoked" => (
                "Perangkat ini sudah dicabut oleh admin",
                "This device was revoked by an admin",
            ),
            "auth.device_wipe" => (
                "Perangkat ini dicabut dan harus dihapus: kirim dulu semua data, lalu data di perangkat dihapus",
                "This device was revoked and must be wiped: it sends everything first, then erases its data",
            ),
            "auth.token_revoked" => (
                "Sesi ini sudah diakhiri; silakan masuk lagi",
                "This session was ended; sign in again",
            ),
            "auth.account_disabled" => (
                "Akun ini dinonaktifkan oleh admin; data di perangkat tetap aman",
                "This account was disabled by an admin; the data on the device is safe",
            ),
            _ => ("Perlu masuk terlebih dahulu", "Sign-in required"),
        };
        ApiError::new(Refusal::Unauthorized, code, "Unauthorized", lang, id, en)
    }

    /// 403 for a role that may not make the call.
    pub fn forbidden(lang: Lang) -> ApiError {
        ApiError::new(
            Refusal::Forbidden,
            "auth.forbidden",
            "Forbidden",
            lang,
            "Peran Anda tidak boleh melakukan ini",
            "Your role may not do this",
        )
    }

    /// 400 for a body that is not the expected JSON.
    pub fn bad_request(lang: Lang, detail: &str) -> ApiError {
        ApiError::new(
            Refusal::BadRequest,
            "request.invalid",
            "Invalid request",
            lang,
            &format!("Permintaan tidak valid: {detail}"),
            &format!("Invalid request: {detail}"),
        )
    }

    /// 400 for a finding of the domain's text rule, naming the field.
    pub fn unstorable_text(lang: Lang, e: &verivali_domain::ControlChar) -> ApiError {
        use verivali_domain::Coded;
        ApiError {
            refusal: Refusal::BadRequest,
            code: "text.control_char",
            title: "Unstorable text",
            detail: e.message(lang),
            extra: vec![("field", Value::String(e.field.clone()))],
            headers: vec![],
        }
    }

    /// 404.
    pub fn not_found(lang: Lang) -> ApiError {
        ApiError::new(
            Refusal::NotFound,
            "not_found",
            "Not found",
            lang,
            "Tidak ditemukan",
            "Not found",
        )
    }

    /// 500 for storage failures (details go to the log, not to the caller).
    pub fn internal(e: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(
            request_id = crate::ops::current_request_id().unwrap_or_default(),
            error = %e,
            "internal error"
        );
        ApiError {
            refusal: Refusal::Internal,
            code: "server.internal",
            title: "Internal error",
            detail: "Kesalahan server; coba lagi nanti / Server error; try again later".into(),
            extra: vec![],
            headers: vec![],
        }
    }

    /// 503 for a write job PostgreSQL aborted to break a deadlock or a serialization conflict
    /// with another, on the last of the tries [`crate::app::App::run_write_then`] gives it (a
    /// push has one: its decoded records go into the first). The job's transaction was rolled
    /// back, and the same request a moment later will most likely go through: devices retry a
    /// 503 with backoff like any 5xx. Only that path answers it: elsewhere a transient failure
    /// may come after a commit (a re-check after new thresholds), and stays a 500.
    pub fn busy(e: &dyn std::fmt::Display) -> ApiError {
        tracing::warn!(
            request_id = crate::ops::current_request_id().unwrap_or_default(),
            error = %e,
            "write lost to a concurrent one"
        );
        ApiError {
            refusal: Refusal::Busy,
            code: "server.busy",
            title: "Busy",
            detail: "Server sedang sibuk dengan perubahan lain pada data yang sama; tidak ada yang tersimpan, coba lagi sebentar lagi / The server was busy with another change to the same data; nothing was saved, try again in a moment".into(),
            extra: vec![],
            headers: vec![(header::RETRY_AFTER, "1".into())],
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut p = Problem::new(
            self.refusal.status().as_u16(),
            self.code,
            self.title,
            self.detail,
        );
        for (k, v) in self.extra {
            p = p.with(k, v);
        }
        if let Some(id) = crate::ops::current_request_id() {
            p = p.with("request_id", Value::String(id));
        }
        let body = serde_json::to_vec(&p).unwrap_or_default();
        let mut resp = (self.refusal.status(), body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}
