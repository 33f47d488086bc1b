//! Operations: the request id, the log line of every answer, and the Prometheus metrics.
//!
//! Every answer carries `X-Request-Id` (the caller's own when it sent a sane one, so a proxy's id
//! follows the request through; else a new one). The same id is in the answer's log line and, for
//! errors, in the problem+json body as `request_id`, so a supervisor's screenshot of an error leads
//! the kabupaten's IT to the log line. Logs go through `tracing` (`RUST_LOG`, text or JSON); a log
//! line names the route pattern, never the query or body, which may hold personal data.
//!
//! Metrics come from `prometheus-client` at `GET /metrics` (OpenMetrics text): latency
//! histograms per route, method and status; pushes, ops by result, pull pages, sign-ins and their
//! failures, attachments.

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderValue, Request, Response};
use axum::middleware::Next;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

use crate::App;

/// The request id's header.
pub const REQUEST_ID: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request being answered, for problem+json bodies made further in.
    static CURRENT: String;
}

/// The current request's id, when answering one.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `f` (on a blocking thread) with the request id of the task that handed it over, so that
/// what it logs names the request.
pub fn with_request_id<T>(id: Option<String>, f: impl FnOnce() -> T) -> T {
    match id {
        Some(id) => CURRENT.sync_scope(id, f),
        None => f(),
    }
}

/// A sent id is kept when it is short and plain (a proxy's UUID or hex); anything else could
/// forge log lines, so a new one is made.
fn request_id(sent: Option<&HeaderValue>) -> String {
    sent.and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_string)
}

/// The method as a label: one of the standard ones, else `OTHER` (a client may send any token,
/// and every label value is a new series in memory).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *m {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Labels of an answer: route pattern, method and status.
type AnswerLabels = Vec<(String, String)>;

/// Middleware, outermost: id, timing, log line and latency histogram of every request.
pub async fn request(
    State(app): State<Arc<App>>,
    mut req: Request<Body>,
    next: Next,
) -> Response<Body> {
    let started = Instant::now();
    let id = request_id(req.headers().get(REQUEST_ID));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let mut resp = CURRENT.scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    let status = resp.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    app.metrics
        .answers
        .get_or_create(&vec![
            ("route".to_string(), route.clone()),
            ("method".to_string(), method_label(&method).to_string()),
            ("status".to_string(), status.to_string()),
        ])
        .observe(seconds);
    let ms = (seconds * 1000.0 * 10.0).round() / 10.0;
    // The server's only 503 is `server.busy` (`Refusal::Busy`): a write that lost to a
    // concurrent one, logged as a warning where it happened.
    if status >= 500 && status != 503 {
        tracing::error!(request_id = %id, %method, %route, status, ms, "answer");
    } else {
        tracing::info!(request_id = %id, %method, %route, status, ms, "answer");
    }
    resp
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub ops_applied: Counter,
    /// Ops answered as duplicates.
    pub ops_duplicate: Counter,
    /// Ops rejected with a reason.
    pub ops_rejected: Counter,
    /// Push requests that were applied.
    pub pushes: Counter,
    /// Pushes whose quality checks read their evidence beside the writer (SQLite,
    /// `quality::ReadAhead`).
    pub pushes_read_ahead: Counter,
    /// Op payloads that arrived packed (`payload_packed`) and unpacked to text: how many
    /// devices' records are stored as sent, frame and all.
    pub payloads_packed: Counter,
    /// Open visits whose flags a re-check computed again (new thresholds, a new period, a
    /// server's first start): what an admin's change cost.
    pub visits_rechecked: Counter,
    /// Write jobs run again after PostgreSQL aborted them to break a deadlock or a serialization
    /// conflict with another write (`App::run_write_then`, a re-check's chunk).
    pub writes_retried: Counter,
    /// Pull pages served.
    pub pulls: Counter,
    /// Successful sign-ins.
    pub sessions: Counter,
    /// Failed sign-ins (wrong or unknown credentials).
    pub session_failures: Counter,
    /// Attachments stored whole.
    pub attachments: Counter,
    /// Seconds to answer, per route, method and status.
    pub answers: Family<AnswerLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("verivali");
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let m = Metrics {
            ops_applied: counter(&mut registry, "ops_applied", "Ops applied"),
            ops_duplicate: counter(&mut registry, "ops_duplicate", "Ops answered as duplicates"),
            ops_rejected: counter(&mut registry, "ops_rejected", "Ops rejected with a reason"),
            pushes: counter(&mut registry, "push_requests", "Push requests applied"),
            pushes_read_ahead: counter(
                &mut registry,
                "push_read_ahead",
                "Pushes whose quality checks read their evidence beside the writer",
            ),
            payloads_packed: counter(
                &mut registry,
                "payloads_packed",
                "Op payloads that arrived packed and unpacked to text",
            ),
            visits_rechecked: counter(
                &mut registry,
                "visits_rechecked",
                "Open visits whose quality flags a re-check computed again",
            ),
            writes_retried: counter(
                &mut registry,
                "writes_retried",
                "Write jobs run again after losing a deadlock to another write",
            ),
            pulls: counter(&mut registry, "pull_requests", "Pull pages served"),
            sessions: counter(&mut registry, "sessions", "Successful sign-ins"),
            session_failures: counter(&mut registry, "session_failures", "Failed sign-ins"),
            attachments: counter(&mut registry, "attachments", "Attachments stored"),
            // 1 ms to ~16 s: a pull page on a fast disk to a big push over 2G.
            answers: Family::new_with_constructor(|| {
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.001, 2.0, 15,
                ))
            }),
            registry,
        };
        let mut m = m;
        m.registry.register(
            "http_request_duration_seconds",
            "Seconds to answer a request",
            m.answers.clone(),
        );
        m
    }
}

impl Metrics {
    /// OpenMetrics text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub(crate) fn add(counter: &Counter, n: u64) {
        counter.inc_by(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_plain() {
        let keep = HeaderValue::from_static("0194f0c3-aa11-7000-8000-000000000001");
        assert_eq!(request_id(Some(&keep)), keep.to_str().unwrap());
        let forged = HeaderValue::from_static("x\" level=error msg=\"forged");
        assert_ne!(request_id(Some(&forged)), forged.to_str().unwrap());
        assert_eq!(request_id(None).len(), 32);
    }

    #[test]
    fn metrics_render_counters_and_histograms() {
        let m = Metrics::default();
        Metrics::add(&m.ops_applied, 2);
        m.answers
            .get_or_create(&vec![("route".into(), "/healthz".into())])
            .observe(0.01);
        let text = m.render();
        assert!(text.contains("verivali_ops_applied_total 2"), "{text}");
        assert!(
            text.contains("verivali_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
