//! The HTTP exchange, behind a trait so tests and tools can inject faults or count round trips.

use std::future::Future;
use std::time::Duration;

/// HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Head,
    Patch,
}

/// A request, path relative to the server's base URL.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path and query (`/api/v1/sync/pull?cursor=…`).
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A response with its body (already decompressed).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Connection refused, cut or timed out: worth a retry.
    Network(String),
    /// The server's certificate is not trusted (unknown CA, expired, wrong name): a retry cannot
    /// help, and it may be someone in the middle.
    Certificate(String),
}

/// Sends one request. `Err` is a failure to exchange.
pub trait Transport: Send + Sync {
    fn send(&self, req: Request) -> impl Future<Output = Result<Response, SendError>> + Send;
}

/// The real transport: reqwest, answers decompressed (zstd, gzip) transparently.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
}

impl HttpTransport {
    /// A transport to `base` (`https://host` or `http://host:port`), with a connect timeout of
    /// 10 s and a request timeout of `timeout`, trusting the process's private CA
    /// ([`crate::tls::ca_cert`]).
    pub fn new(base: &str, timeout: Duration) -> Result<HttpTransport, String> {
        HttpTransport::with_ca(base, timeout, crate::tls::ca_cert())
    }

    /// As [`HttpTransport::new`], trusting `ca_cert` (PEM) besides the public roots.
    pub fn with_ca(
        base: &str,
        timeout: Duration,
        ca_cert: Option<&std::path::Path>,
    ) -> Result<HttpTransport, String> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config(ca_cert)?)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpTransport {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }
}

fn send_error(e: &reqwest::Error) -> SendError {
    if crate::tls::is_certificate_error(e) {
        SendError::Certificate(e.to_string())
    } else {
        // reqwest's own text is "error sending request": its cause says what happened.
        let mut text = e.to_string();
        let mut cur = std::error::Error::source(e);
        while let Some(c) = cur {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cur = c.source();
        }
        SendError::Network(text)
    }
}

impl Transport for HttpTransport {
    async fn send(&self, req: Request) -> Result<Response, SendError> {
        let url = format!("{}{}", self.base, req.path);
        let mut rb = match req.method {
            Method::Get => self.client.get(&url),
            Method::Post => self.client.post(&url),
            Method::Head => self.client.head(&url),
            Method::Patch => self.client.patch(&url),
        };
        for (k, v) in &req.headers {
            rb = rb.header(*k, v);
        }
        if !req.body.is_empty() {
            rb = rb.body(req.body);
        }
        let resp = rb.send().await.map_err(|e| send_error(&e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = resp.bytes().await.map_err(|e| send_error(&e))?.to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl<T: Transport> Transport for &T {
    fn send(&self, req: Request) -> impl Future<Output = Result<Response, SendError>> + Send {
        (**self).send(req)
    }
}
