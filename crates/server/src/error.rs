//! API errors as RFC 9457 problem details with a stable `code`, in the caller's language.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use verivali_domain::Lang;
use verivali_protocol::Problem;
use verivali_protocol::problem::CONTENT_TYPE;

use crate::db::DbError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
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
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        lang: Lang,
        id: &str,
        en: &str,
    ) -> ApiError {
        ApiError {
            status,
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
            _ => ("Perlu masuk terlebih dahulu", "Sign-in required"),
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, "Unauthorized", lang, id, en)
    }

    /// 403 for a role that may not make the call.
    pub fn forbidden(lang: Lang) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
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
            StatusCode::BAD_REQUEST,
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
            status: StatusCode::BAD_REQUEST,
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
            StatusCode::NOT_FOUND,
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
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "server.internal",
            title: "Internal error",
            detail: "Kesalahan server; coba lagi nanti / Server error; try again later".into(),
            extra: vec![],
            headers: vec![],
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
        let mut p = Problem::new(self.status.as_u16(), self.code, self.title, self.detail);
        for (k, v) in self.extra {
            p = p.with(k, v);
        }
        if let Some(id) = crate::ops::current_request_id() {
            p = p.with("request_id", Value::String(id));
        }
        let body = serde_json::to_vec(&p).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
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
