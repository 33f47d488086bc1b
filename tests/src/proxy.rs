//! A fault-injecting TCP proxy between a device and the server: cuts a connection after a number
//! of bytes in either direction, adds latency, throttles to a bandwidth (a 2G-like link is
//! 100 kbit/s with 500 ms round trips), and counts the bytes that crossed it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to connections.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// One cut: close whichever connection carries the next bytes from the device once this many
    /// have passed (mid-request). Counts from when it is set; fires once.
    pub cut_up_after: Option<u64>,
    /// The same for bytes from the server (mid-response).
    pub cut_down_after: Option<u64>,
    /// Unused: cuts fire once whatever connection they land on.
    pub cut_connections: u32,
    /// One-way latency added to every chunk.
    pub latency: Duration,
    /// Bandwidth in bytes per second, each direction (0: unlimited).
    pub bytes_per_sec: u64,
}

/// The proxy.
pub struct Proxy {
    /// Its address (`http://127.0.0.1:PORT`).
    pub url: String,
    faults: Arc<Mutex<Faults>>,
    /// Bytes device → server.
    pub up: Arc<AtomicU64>,
    /// Bytes server → device.
    pub down: Arc<AtomicU64>,
    /// Connections cut so far.
    pub cuts: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        let faults = Arc::new(Mutex::new(Faults::default()));
        let (up, down, cuts) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let upstream = upstream.to_string();
        let (f, u, d, c) = (faults.clone(), up.clone(), down.clone(), cuts.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                // As a router forwards: each segment at once, no Nagle delay added here.
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                // A cut in one direction kills the whole connection: no answer gets through.
                let kill = Arc::new((
                    tokio::sync::Notify::new(),
                    std::sync::atomic::AtomicBool::new(false),
                ));
                tokio::spawn(pump(
                    cr,
                    sw,
                    Dir::Up,
                    f.clone(),
                    u.clone(),
                    c.clone(),
                    kill.clone(),
                ));
                tokio::spawn(pump(
                    sr,
                    cw,
                    Dir::Down,
                    f.clone(),
                    d.clone(),
                    c.clone(),
                    kill,
                ));
            }
        });
        Proxy {
            url,
            faults,
            up,
            down,
            cuts,
            task,
        }
    }

    /// Sets the faults for the connections to come.
    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    /// Bytes up and down so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::SeqCst),
            self.down.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    dir: Dir,
    faults: Arc<Mutex<Faults>>,
    counter: Arc<AtomicU64>,
    cuts: Arc<AtomicU64>,
    kill: Arc<(tokio::sync::Notify, std::sync::atomic::AtomicBool)>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            biased;
            _ = kill.0.notified() => return,
            r = from.read(&mut buf) => r,
        };
        if kill.1.load(Ordering::SeqCst) {
            return;
        }
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Consult the faults for every chunk, so a cut lands on pooled connections too.
        let (cut_at, latency, rate) = {
            let mut g = faults.lock().unwrap_or_else(|p| p.into_inner());
            let budget = if dir == Dir::Up {
                &mut g.cut_up_after
            } else {
                &mut g.cut_down_after
            };
            let cut_at = match *budget {
                Some(left) if left <= n as u64 => {
                    *budget = None;
                    Some(left as usize)
                }
                Some(left) => {
                    *budget = Some(left - n as u64);
                    None
                }
                None => None,
            };
            (cut_at, g.latency, g.bytes_per_sec)
        };
        if let Some(k) = cut_at {
            let _ = to.write_all(&buf[..k]).await;
            counter.fetch_add(k as u64, Ordering::SeqCst);
            cuts.fetch_add(1, Ordering::SeqCst);
            // Dropping these halves and waking the other direction closes the connection.
            kill.1.store(true, Ordering::SeqCst);
            kill.0.notify_waiters();
            kill.0.notify_one();
            return;
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(micros) = (n as u64 * 1_000_000).checked_div(rate) {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
        if kill.1.load(Ordering::SeqCst) || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = to.shutdown().await;
}
