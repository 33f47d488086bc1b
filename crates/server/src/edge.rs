//! The server's edge to the internet (DESIGN.md §13): who the client really is behind a reverse
//! proxy, what HTTPS changes for the browser, and the TLS listener for serving HTTPS itself.
//!
//! - **Client address.** Behind a proxy every request comes from the proxy. Only a peer inside a
//!   `--trusted-proxy` CIDR may name the client in `X-Forwarded-For`; the client is the right-most
//!   address there that is not itself a trusted proxy (the left part is whatever the client
//!   claimed). A request from anyone else keeps its peer address whatever it sends. The answer
//!   replaces the connection's [`ConnectInfo`], so every handler, the sign-in throttle and the
//!   audit log see the same address.
//! - **HTTPS.** Over HTTPS the session cookie is `__Host-verivali_session; Secure` (a plain-HTTP
//!   page of the same host can neither read nor plant it) and every answer carries HSTS. The rest
//!   of the server knows one cookie name: this layer translates on the way in and out.

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Request, Response, header};
use axum::middleware::Next;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::web::COOKIE;

/// The cookie's name over HTTPS.
pub const SECURE_COOKIE: &str = "__Host-verivali_session";
/// HSTS over HTTPS: a year, as browsers' preload lists expect.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// An IPv4 or IPv6 network, `10.0.0.0/8` or `::1/128`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.trim().split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0-{max}"))?,
        };
        // `::ffff:10.0.0.1/128` is the IPv4 network it maps, as incoming addresses are.
        if let IpAddr::V6(v6) = net
            && let Some(v4) = v6.to_ipv4_mapped()
            && bits >= 96
        {
            return Ok(Cidr {
                net: IpAddr::V4(v4),
                bits: bits - 96,
            });
        }
        Ok(Cidr { net, bits })
    }
}

impl Cidr {
    /// Whether `ip` is inside. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix_eq(&n.octets(), &a.octets(), u32::from(self.bits))
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(&n.octets(), &a.octets(), u32::from(self.bits))
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let full = (bits / 8) as usize;
    let rest = bits % 8;
    a[..full] == b[..full]
        && (rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            a[full] & mask == b[full] & mask
        })
}

/// How the server meets the network.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// Proxies whose `X-Forwarded-For` counts.
    pub trusted_proxies: Vec<Cidr>,
    /// Served over HTTPS (by this process or by a proxy that terminates TLS in front of it).
    pub https: bool,
}

impl Edge {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// The client's address for a request from `peer` with these headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        // Right to left, as the proxies appended: the nearest hop that is not one of ours is the
        // client. Everything left of it is what the client itself claimed, so an entry that does
        // not parse ends the walk at the last hop we trust; when every hop is ours (a health check
        // from inside), the left-most is the best we know.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusted(ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
        client
    }
}

/// Middleware: the trusted client address, the cookie's HTTPS name, and HSTS.
pub async fn layer(
    State(edge): State<Arc<Edge>>,
    mut req: Request<Body>,
    next: Next,
) -> Response<Body> {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = edge.client_ip(peer.ip(), req.headers());
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
    }
    if edge.https {
        rename_request_cookie(req.headers_mut());
    }
    let mut resp = next.run(req).await;
    if edge.https {
        secure_response_cookie(resp.headers_mut());
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    resp
}

/// Over HTTPS only the `__Host-` cookie is a session: an unprefixed one could have been planted
/// by a plain-HTTP answer, so it is dropped, and the prefixed one goes on under the inner name.
fn rename_request_cookie(headers: &mut HeaderMap) {
    let cookies: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == COOKIE => None,
            Some((k, v)) if k == SECURE_COOKIE => Some(format!("{COOKIE}={v}")),
            _ => Some(kv.to_string()),
        })
        .collect();
    headers.remove(header::COOKIE);
    if let Ok(v) = HeaderValue::from_str(&cookies.join("; "))
        && !cookies.is_empty()
    {
        headers.insert(header::COOKIE, v);
    }
}

fn secure_response_cookie(headers: &mut HeaderMap) {
    let set: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| match v.to_str() {
            Ok(s) if s.starts_with(&format!("{COOKIE}=")) => {
                let renamed = format!("{SECURE_COOKIE}{}; Secure", &s[COOKIE.len()..]);
                HeaderValue::from_str(&renamed).unwrap_or_else(|_| v.clone())
            }
            _ => v.clone(),
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in set {
        headers.append(header::SET_COOKIE, v);
    }
}

/// TLS handshakes in progress at once.
const MAX_HANDSHAKES: usize = 512;

/// A TLS listener for [`axum::serve`]: TCP connections are accepted and their handshakes run in
/// their own tasks (at most 10 s each), so a slow or hostile client never holds up the next one.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`.
    pub fn new(
        tcp: tokio::net::TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        // Handshakes in progress at once: a flood of connections that never finish theirs holds
        // at most this many sockets for 10 s; the others wait to be accepted.
        let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = handshakes.clone().acquire_owned().await else {
                    return;
                };
                let accepted = tokio::select! {
                    a = tcp.accept() => a,
                    // The server stopped: close the port now, not at the next connection.
                    () = tx.closed() => return,
                };
                let (stream, addr) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (tx, acceptor) = (tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let hs = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    );
                    match hs.await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::info!(peer = %addr, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::info!(peer = %addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accepting task ended: no connection will come again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// A server TLS configuration from PEM files: the certificate chain (leaf first) and its key.
pub fn server_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<rustls::ServerConfig> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{}: no certificate in it",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{}: not a PEM private key", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS versions")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("the certificate and the key do not belong together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client TLS configuration (the server as a client of PostgreSQL): the public web roots plus
/// the PEM certificates in `extra_ca`, if given.
pub fn client_tls(extra_ca: Option<&std::path::Path>) -> anyhow::Result<rustls::ClientConfig> {
    use anyhow::Context;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading {}", path.display()))?
        {
            let cert = cert.with_context(|| format!("{}: not PEM", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("{}: not a CA certificate", path.display()))?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS versions")?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.200.3.4".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let odd: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(odd.contains("172.31.255.1".parse().unwrap()));
        assert!(!odd.contains("172.32.0.1".parse().unwrap()));
        let mapped: Cidr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(mapped.contains("10.0.0.1".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("proxy".parse::<Cidr>().is_err());
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let edge = Edge {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()],
            https: false,
        };
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        // The client lied about the left part; the trusted hops are skipped from the right.
        let h = headers("1.2.3.4, 203.0.113.5, 10.0.0.2");
        assert_eq!(
            edge.client_ip(proxy, &h),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        // Garbage on the client's side of the header cannot hide the real client.
        let h = headers("1.2.3.4, x, 203.0.113.5");
        let real: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(edge.client_ip(proxy, &h), real);
        let h = headers("1.2.3.4, x, 10.0.0.2");
        let hop: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(edge.client_ip(proxy, &h), hop);
        assert_eq!(
            edge.client_ip(stranger, &h),
            stranger,
            "an untrusted peer is itself"
        );
        assert_eq!(edge.client_ip(proxy, &HeaderMap::new()), proxy);
        assert_eq!(
            edge.client_ip(proxy, &headers("garbage")),
            proxy,
            "an unparsable header names nobody"
        );
        assert_eq!(
            Edge::default().client_ip(proxy, &h),
            proxy,
            "no proxy trusted by default"
        );
    }

    #[test]
    fn over_https_only_the_host_cookie_is_a_session() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("verivali_session=planted; __Host-verivali_session=real; x=1"),
        );
        rename_request_cookie(&mut h);
        assert_eq!(h[header::COOKIE], "verivali_session=real; x=1");
        let mut r = HeaderMap::new();
        r.append(
            header::SET_COOKIE,
            HeaderValue::from_static("verivali_session=t; HttpOnly; SameSite=Strict; Path=/"),
        );
        secure_response_cookie(&mut r);
        assert_eq!(
            r[header::SET_COOKIE],
            "__Host-verivali_session=t; HttpOnly; SameSite=Strict; Path=/; Secure"
        );
    }
}
