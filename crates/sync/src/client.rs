//! The sync client: push, photos, pull, with retry.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;
use verivali_domain::{Coded, Lang};
use verivali_protocol::{
    AttachmentStatus, DeviceInfo, OutgoingOp, OutgoingPayload, Problem, PullResponse, PushResponse,
    SessionRequest, SessionResponse,
};

use crate::transport::{Method, Request, Response, SendError, Transport};

/// An error of the local side, passed through.
pub type LocalError = Box<dyn std::error::Error + Send + Sync>;

/// What the sync client needs from the device.
pub trait LocalStore {
    fn device_id(&self) -> Uuid;
    /// The oldest queued ops after `after_seq` (0: from the start), up to `max_ops` and about
    /// `max_bytes` of payload text (at least one), each payload the JSON text the store holds
    /// (sent as it is: [`OutgoingOp`]) or, with `packed` (the server takes packed payloads), a
    /// packed one as the store holds it, without unpacking it.
    fn pending_ops(
        &mut self,
        after_seq: u64,
        max_ops: usize,
        max_bytes: usize,
        packed: bool,
    ) -> Result<Vec<OutgoingOp>, LocalError>;
    /// Stores a push answer (acknowledged ops leave the outbox; rejections are kept), atomically.
    /// An answer with a rejection is on disk when this returns; one without may wait for the
    /// store's next durable commit, since a lost one is only re-sent and answered `duplicate`.
    fn acknowledge(&mut self, answer: &PushResponse) -> Result<(), LocalError>;
    /// The cursor to pull from.
    fn pull_cursor(&mut self) -> Result<String, LocalError>;
    /// Applies a page and its cursor in one transaction.
    fn apply_page(&mut self, page: &PullResponse) -> Result<(), LocalError>;
    /// Photos the server does not hold yet: (SHA-256, size).
    fn photos_to_upload(&mut self) -> Result<Vec<(String, u64)>, LocalError>;
    /// Bytes of a photo.
    fn photo_chunk(&mut self, sha256: &str, offset: u64, len: u64) -> Result<Vec<u8>, LocalError>;
    /// The server holds the photo intact.
    fn photo_uploaded(&mut self, sha256: &str) -> Result<(), LocalError>;
    /// A sync completed at `at` (server time).
    fn sync_finished(&mut self, at: DateTime<Utc>) -> Result<(), LocalError>;
}

/// Retry policy: exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries per request (1 = no retry).
    pub attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Largest backoff.
    pub max: Duration,
}

/// Tuning.
#[derive(Debug, Clone)]
pub struct Config {
    /// Size of the first push of a sync, in bytes of payload text (before compression; a packed
    /// payload counts the text its frame holds).
    pub max_push_bytes: usize,
    /// Most ops in the first push of a sync.
    pub max_push_ops: usize,
    /// Pushes grow (doubling) up to this many bytes of payload text while the link answers
    /// quickly.
    pub push_bytes_ceiling: usize,
    /// ... and up to this many ops.
    pub push_ops_ceiling: usize,
    /// A push answered within this time lets the next one double; one slower than four times
    /// it halves the next (never below the first size's quarter).
    pub push_fast: Duration,
    /// Size of the first pull page of a sync (changes).
    pub pull_limit: usize,
    /// Pages grow (doubling) up to this many changes while the link answers within
    /// `push_fast`, and halve (never below a quarter of `pull_limit`) when an answer takes more
    /// than four times that: a fresh device's first pull is then a few large pages (fewer
    /// round trips and local commits) on a good link and small ones on 2G.
    pub pull_limit_ceiling: usize,
    /// Photo chunk size.
    pub chunk: u64,
    /// Retries.
    pub retry: Retry,
    /// Language of the server's messages.
    pub lang: Lang,
}

impl Default for Config {
    /// About 100 visits in the first push: small enough to finish on a slow link. On a good link
    /// pushes grow to ~2,000 visits, since each push costs a round trip and a commit on both
    /// sides, and every commit on the server rewrites the index pages its visits touched (a
    /// 1,000-visit push dirtied most of the visits' index by household). A ceiling of 2,000
    /// synced 10,000 visits in 0.53 s instead of 0.56 s; 4,000 in 0.56 s, the writer then waiting
    /// for a larger push to be decoded (docs/benchmarks.md, seventh pass). On 2G a push never
    /// answers within [`Config::push_fast`], so pushes there never grow.
    fn default() -> Config {
        Config {
            max_push_bytes: 384 * 1024,
            max_push_ops: 500,
            push_bytes_ceiling: 4 * 1024 * 1024,
            push_ops_ceiling: 2000,
            push_fast: Duration::from_secs(1),
            pull_limit: 1000,
            pull_limit_ceiling: 5000,
            chunk: 64 * 1024,
            retry: Retry {
                attempts: 6,
                base: Duration::from_millis(500),
                max: Duration::from_secs(30),
            },
            lang: Lang::Id,
        }
    }
}

/// What every push of a sync reuses: the JSON buffer, which grows to the largest push's body
/// (~4 MB) once instead of being allocated and faulted in afresh for each push (half the
/// device's page faults in a 10,000-visit sync, docs/benchmarks.md, nineteenth pass), and
/// zstd's compression context.
struct Scratch {
    json: Vec<u8>,
    zstd: zstd::bulk::Compressor<'static>,
}

impl Scratch {
    fn new() -> Result<Scratch, SyncError> {
        Ok(Scratch {
            json: Vec::new(),
            // Level 1: on visit JSON it is both faster than 3 (~510 against ~350 MB/s here) and
            // no larger (x7.6 against x7.3 on 10,000 synthetic visits, `zstd -b1` / `-b3`).
            zstd: zstd::bulk::Compressor::new(1).map_err(|e| SyncError::Protocol(e.to_string()))?,
        })
    }
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server could not be reached (after retries).
    #[error("server unreachable: {0}")]
    Network(String),
    /// The server's certificate is not trusted: wrong or missing private CA, expired
    /// certificate, wrong name, or someone in the middle. Not retried.
    #[error("the server's certificate is not trusted: {0}")]
    Certificate(String),
    /// The token is missing, expired or revoked: sign in again.
    #[error("sign in again ({code})")]
    Unauthorized {
        /// Server's code.
        code: String,
    },
    /// The app must be updated.
    #[error("this app version is too old for the server")]
    AppTooOld,
    /// The server refused the request.
    #[error("{status} {code}: {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Server's code.
        code: String,
        /// Server's message.
        detail: String,
    },
    /// An answer was not what the protocol says.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The device store failed.
    #[error("device storage: {0}")]
    Local(LocalError),
}

impl Coded for SyncError {
    fn code(&self) -> &'static str {
        match self {
            SyncError::Network(_) => "sync.network",
            SyncError::Certificate(_) => "sync.tls_untrusted",
            SyncError::Unauthorized { .. } => "sync.unauthorized",
            SyncError::AppTooOld => "sync.app_too_old",
            SyncError::Refused { .. } => "sync.refused",
            SyncError::Protocol(_) => "sync.protocol",
            SyncError::Local(_) => "sync.local",
        }
    }

    fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            SyncError::Network(_) => {
                "Server tidak terjangkau; data aman di perangkat dan akan dikirim nanti".into()
            }
            SyncError::Certificate(_) => "Sertifikat server tidak dipercaya; data aman di \
                                           perangkat. Hubungi admin: alamat server atau sertifikat \
                                           CA di perangkat mungkin salah"
                .into(),
            SyncError::Unauthorized { .. } => {
                "Sesi habis atau perangkat dicabut; silakan masuk lagi".into()
            }
            SyncError::AppTooOld => "Versi aplikasi terlalu lama; perbarui aplikasi".into(),
            SyncError::Refused { detail, .. } => format!("Server menolak: {detail}"),
            SyncError::Protocol(e) => format!("Jawaban server tidak dikenal: {e}"),
            SyncError::Local(e) => format!("Penyimpanan perangkat gagal: {e}"),
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Requests sent (retries included).
    pub round_trips: u64,
    /// Ops acknowledged.
    pub ops_acked: u64,
    /// Of those, rejected by the server.
    pub ops_rejected: u64,
    /// Highest acknowledged seq.
    pub acked_through: u64,
    pub changes_pulled: u64,
    pub photos_uploaded: u64,
    /// Bytes sent (bodies, compressed).
    pub bytes_sent: u64,
    /// JSON bytes of the pushes before compression, every payload counted as its text (a packed
    /// one as the text its frame holds, not its base64).
    pub push_json_bytes: u64,
    /// Ops whose payload was sent packed ([`verivali_protocol::Op::payload_packed`]).
    pub ops_sent_packed: u64,
    /// The stamp of the reference data (region names, periods) the last pull page carried
    /// ([`verivali_protocol::PullResponse::refs`]); `None` from a server without one.
    pub refs: Option<String>,
}

/// A push ready to send: its zstd body, its last seq, the JSON's size, and how many of its ops
/// carry a packed payload.
type Prepared = (Vec<u8>, u64, u64, u64);

/// The client for one signed-in device.
pub struct SyncClient<T: Transport> {
    transport: T,
    token: String,
    config: Config,
    sent: AtomicU64,
    trips: AtomicU64,
}

/// Runs the device's own work (a store transaction, compression) while a request is in flight.
/// On a multi-threaded runtime the worker hands its other tasks to another worker first, so the
/// request's connection (and, in tests, an in-process server) goes on meanwhile: otherwise a
/// task woken on this worker waits behind the whole transaction, and the overlap is lost.
fn local_work<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn local(e: LocalError) -> SyncError {
    SyncError::Local(e)
}

fn jitter(max_ms: u64) -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() || max_ms == 0 {
        return max_ms / 2;
    }
    u64::from_le_bytes(b) % (max_ms + 1)
}

fn encode_query(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl<T: Transport> SyncClient<T> {
    /// Signs in (online, once per device) and returns the session; keep `token` for [`SyncClient::new`].
    pub async fn sign_in(
        transport: &T,
        config: &Config,
        username: &str,
        password: &str,
        device: DeviceInfo,
    ) -> Result<SessionResponse, SyncError> {
        Self::sign_in_setting(transport, config, username, password, None, device).await
    }

    /// Signs in and, for a user whose password an admin reset (the server answers
    /// `auth.password_change_required` otherwise), sets `new_password` in the same call.
    pub async fn sign_in_setting(
        transport: &T,
        config: &Config,
        username: &str,
        password: &str,
        new_password: Option<&str>,
        device: DeviceInfo,
    ) -> Result<SessionResponse, SyncError> {
        let body = serde_json::to_vec(&SessionRequest {
            username: username.into(),
            password: password.into(),
            device,
            new_password: new_password.map(str::to_string),
        })
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
        let client = SyncClient {
            transport,
            token: String::new(),
            config: config.clone(),
            sent: AtomicU64::new(0),
            trips: AtomicU64::new(0),
        };
        let resp = client
            .request(
                Method::Post,
                "/api/v1/session",
                vec![("content-type", "application/json".into())],
                body,
            )
            .await?;
        serde_json::from_slice(&resp.body).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// Tells the server that this device, revoked with a wipe (`auth.device_wipe`), sent
    /// everything it held and is erasing itself; its token ends.
    pub async fn confirm_wiped(&self) -> Result<(), SyncError> {
        self.request(Method::Post, "/api/v1/sync/wiped", vec![], vec![])
            .await
            .map(|_| ())
    }

    /// The names of the user's regions (`GET /api/v1/regions`), code → name.
    pub async fn region_names(
        &self,
    ) -> Result<std::collections::BTreeMap<String, String>, SyncError> {
        let r = self
            .request(Method::Get, "/api/v1/regions", vec![], vec![])
            .await?;
        let list: verivali_protocol::admin::RegionList =
            serde_json::from_slice(&r.body).map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(list.regions.into_iter().map(|r| (r.kode, r.nama)).collect())
    }

    /// The period open on the server, if any (`GET /api/v1/periods`): the field app warns of its
    /// cut-off, offline too, from what the last sync kept.
    pub async fn open_period(
        &self,
    ) -> Result<Option<verivali_protocol::cycle::PeriodView>, SyncError> {
        let r = self
            .request(Method::Get, "/api/v1/periods", vec![], vec![])
            .await?;
        let list: verivali_protocol::cycle::PeriodList =
            serde_json::from_slice(&r.body).map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(list.open)
    }

    /// A client with a token from [`SyncClient::sign_in`].
    pub fn new(transport: T, token: &str, config: Config) -> SyncClient<T> {
        SyncClient {
            transport,
            token: token.to_string(),
            config,
            sent: AtomicU64::new(0),
            trips: AtomicU64::new(0),
        }
    }

    /// One full sync: push the outbox, upload photos, pull what changed.
    pub async fn sync(&self, store: &mut impl LocalStore) -> Result<SyncReport, SyncError> {
        let start_trips = self.trips.load(Ordering::Relaxed);
        let start_sent = self.sent.load(Ordering::Relaxed);
        let mut report = SyncReport::default();
        let mut last_time = None;
        let unacked = self.push_all(store, &mut report, &mut last_time).await?;
        // The last push's answer is stored while the first pull page is on its way, when there
        // is no photo to send first: the page is applied after it as before, only asked for
        // earlier. That acknowledgement is a commit, often with the log copy (SQLite's
        // checkpoint) it sets off: tens of milliseconds here, more on a cheap phone's flash,
        // which the pull's round trip no longer waits behind. On this machine the gain is
        // within the benchmark's noise (docs/benchmarks.md, tenth pass).
        let mut first_page = None;
        if let Some(answer) = unacked {
            if store.photos_to_upload().map_err(local)?.is_empty() {
                let cursor = store.pull_cursor().map_err(local)?;
                let fetch = async {
                    let started = std::time::Instant::now();
                    let r = self.pull_page(&cursor, self.config.pull_limit.max(1)).await;
                    (r, started.elapsed())
                };
                let ((page, took), acked) = tokio::join!(fetch, async {
                    tokio::task::yield_now().await;
                    local_work(|| Self::acknowledge(store, &answer, &mut report, &mut last_time))
                });
                // A failed acknowledgement wins over the page, as it came first.
                acked?;
                first_page = Some((cursor, page?, took));
            } else {
                Self::acknowledge(store, &answer, &mut report, &mut last_time)?;
            }
        }
        self.upload_photos(store, &mut report).await?;
        self.pull_all(store, &mut report, &mut last_time, first_page)
            .await?;
        if let Some(t) = last_time {
            store.sync_finished(t).map_err(local)?;
        }
        report.round_trips = self.trips.load(Ordering::Relaxed) - start_trips;
        report.bytes_sent = self.sent.load(Ordering::Relaxed) - start_sent;
        Ok(report)
    }

    /// The next push body after `after_seq`: (zstd body, last seq, raw JSON bytes, ops sent
    /// packed), or none. The JSON is written into `scratch`, one buffer for every push of a sync.
    /// With `packed` (the server said it takes them) the payloads the outbox holds packed go as
    /// they are: the device neither unpacks them nor compresses their text again, the server
    /// does not pack them again, and the body carries their frames (in base64, which the body's
    /// zstd brings back to about their size): ~0.3 KB a visit, against ~0.23 KB for the text
    /// compressed together (docs/benchmarks.md, twenty-first pass).
    fn prepare_push(
        &self,
        store: &mut impl LocalStore,
        scratch: &mut Scratch,
        after_seq: u64,
        (max_ops, max_bytes): (usize, usize),
        packed: bool,
    ) -> Result<Option<Prepared>, SyncError> {
        let ops = store
            .pending_ops(after_seq, max_ops, max_bytes, packed)
            .map_err(local)?;
        let Some(last_seq) = ops.last().map(|o| o.seq) else {
            return Ok(None);
        };
        let sent_packed = ops
            .iter()
            .filter(|o| matches!(o.payload, OutgoingPayload::Packed(_)))
            .count() as u64;
        // What the JSON of this push would be with every payload as text: a packed one's
        // `null,"payload_packed":"…"` (4 + 20 characters, and 4 of base64 for every 3 bytes)
        // stands for the text its frame holds. The report's JSON bytes are the text's, so its
        // ratio of the wire to them says what compression saved either way.
        let text_delta: i64 = ops
            .iter()
            .map(|o| match &o.payload {
                OutgoingPayload::Packed(z) => {
                    let text = verivali_domain::packed::text_len(z).unwrap_or(0);
                    text as i64 - (24 + z.len().div_ceil(3) * 4) as i64
                }
                OutgoingPayload::Text(_) => 0,
            })
            .sum();
        // Room for the whole body at once: a push is ~2 MB of JSON, which growing by doubling
        // copied again and again (with fresh pages each time).
        let room = ops
            .iter()
            .map(|o| match &o.payload {
                OutgoingPayload::Text(t) => t.len() + 256,
                OutgoingPayload::Packed(z) => z.len() * 4 / 3 + 256,
            })
            .sum::<usize>()
            + 128;
        let json = &mut scratch.json;
        json.clear();
        json.reserve(room);
        verivali_protocol::write_push(json, store.device_id(), &ops)
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        drop(ops);
        // In one call, not streamed through a buffer: the whole body is in memory anyway.
        let body = scratch
            .zstd
            .compress(json)
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        let json_len = (json.len() as i64 + text_delta).max(0) as u64;
        Ok(Some((body, last_seq, json_len, sent_packed)))
    }

    /// The size of the next push after one of `size` took `took`: doubled on a fast link, halved
    /// on a slow one, within [a quarter of the first size, the ceiling].
    fn next_push_size(&self, (ops, bytes): (usize, usize), took: Duration) -> (usize, usize) {
        let c = &self.config;
        let floor = ((c.max_push_ops / 4).max(1), (c.max_push_bytes / 4).max(1));
        if took <= c.push_fast {
            (
                (ops * 2).min(c.push_ops_ceiling.max(c.max_push_ops)),
                (bytes * 2).min(c.push_bytes_ceiling.max(c.max_push_bytes)),
            )
        } else if took > c.push_fast * 4 {
            ((ops / 2).max(floor.0), (bytes / 2).max(floor.1))
        } else {
            (ops, bytes)
        }
    }

    /// Pushes the outbox in byte-sized batches. While a push is on the wire the device
    /// acknowledges the one before it and reads and compresses the next, so the device's work
    /// overlaps the server's (an acknowledgement is a local commit, with its encryption and
    /// perhaps a checkpoint: waiting for it before sending held the server idle for a third of a
    /// large sync). On a link that answers within [`Config::push_fast`] the next push is sent
    /// before the last is answered (two on the wire): the server decodes and validates it while the last one is being written, and
    /// applies the two in seq order (it holds the later one until the earlier is done). A push
    /// refused for a gap because the one before it had not arrived yet (it was retried) is sent
    /// once more after that one's answer. Batches start at the configured size and adapt to the
    /// link: a slow link keeps them small and one at a time, so a cut costs little; a fast one
    /// makes them large, so round trips and commits do not dominate. Answers are handled in
    /// order; a push answered but not yet acknowledged when something fails is sent again next
    /// time and answered `duplicate`. The last answer is returned unacknowledged, for
    /// [`SyncClient::sync`] to store (beside the first pull request when no photo is waiting).
    async fn push_all(
        &self,
        store: &mut impl LocalStore,
        report: &mut SyncReport,
        last: &mut Option<DateTime<Utc>>,
    ) -> Result<Option<PushResponse>, SyncError> {
        use futures_util::StreamExt;
        let mut size = (self.config.max_push_ops, self.config.max_push_bytes);
        // One on the wire until the link has shown it is fast.
        let mut depth = 1;
        let send = |body: Vec<u8>, last_seq: u64, pipelined: bool| async move {
            let started = std::time::Instant::now();
            let r = self.send_push(body.clone()).await;
            (r, started.elapsed(), last_seq, body, pipelined)
        };
        let mut on_wire = futures_util::stream::FuturesOrdered::new();
        let mut scratch = Scratch::new()?;
        // Payloads go packed once an answer of this sync said the server takes them: the first
        // pushes go as text, and a server rolled back to a version before them is never sent one.
        let mut packed = false;
        let mut next = self.prepare_push(store, &mut scratch, 0, size, packed)?;
        // The last seq put on the wire, and whether the outbox had nothing after it.
        let (mut sent_through, mut drained) = (0, next.is_none());
        let mut answered: Option<PushResponse> = None;
        loop {
            while on_wire.len() < depth {
                if next.is_none() && !drained {
                    next = self.prepare_push(store, &mut scratch, sent_through, size, packed)?;
                    drained = next.is_none();
                }
                let Some((body, last_seq, json_len, sent_packed)) = next.take() else {
                    break;
                };
                report.push_json_bytes += json_len;
                report.ops_sent_packed += sent_packed;
                on_wire.push_back(send(body, last_seq, !on_wire.is_empty()));
                sent_through = last_seq;
            }
            if on_wire.is_empty() {
                break;
            }
            let previous = answered.take();
            let read_next = next.is_none() && !drained;
            let (done, (acked, prepared)) = tokio::join!(on_wire.next(), async {
                // Let the requests leave before the store work starts.
                tokio::task::yield_now().await;
                local_work(|| {
                    let acked = match &previous {
                        Some(a) => Self::acknowledge(store, a, report, last),
                        None => Ok(()),
                    };
                    let prepared = if read_next {
                        self.prepare_push(store, &mut scratch, sent_through, size, packed)
                    } else {
                        Ok(None)
                    };
                    (acked, prepared)
                })
            });
            acked?;
            if read_next {
                next = prepared?;
                drained = next.is_none();
            }
            let Some((resp, took, last_seq, body, pipelined)) = done else {
                break;
            };
            size = self.next_push_size(size, took);
            depth = if took <= self.config.push_fast { 2 } else { 1 };
            let resp = match resp {
                // Sent before the push ahead of it had reached the server (that one was
                // retried): nothing of it was applied; the push ahead is answered now.
                Err(SyncError::Refused {
                    status: 409, code, ..
                }) if pipelined && code == "sync.seq_gap" => self.send_push(body).await?,
                r => r?,
            };
            let answer: PushResponse = serde_json::from_slice(&resp.body)
                .map_err(|e| SyncError::Protocol(e.to_string()))?;
            if answer.acked_through < last_seq {
                // What it did take is acknowledged; the rest goes again next time.
                Self::acknowledge(store, &answer, report, last)?;
                return Err(SyncError::Protocol(format!(
                    "server acknowledged {} of {last_seq}",
                    answer.acked_through
                )));
            }
            packed = answer.payload_packed;
            answered = Some(answer);
        }
        Ok(answered)
    }

    /// One push request (a zstd body), with retries.
    async fn send_push(&self, body: Vec<u8>) -> Result<Response, SyncError> {
        let headers = vec![
            ("content-type", "application/json".to_string()),
            ("content-encoding", "zstd".to_string()),
        ];
        self.request(Method::Post, "/api/v1/sync/push", headers, body)
            .await
    }

    /// Applies a push's answer to the outbox and counts it.
    fn acknowledge(
        store: &mut impl LocalStore,
        answer: &PushResponse,
        report: &mut SyncReport,
        last: &mut Option<DateTime<Utc>>,
    ) -> Result<(), SyncError> {
        store.acknowledge(answer).map_err(local)?;
        report.ops_acked += answer.results.len() as u64;
        report.ops_rejected += answer.results.iter().filter(|r| r.error.is_some()).count() as u64;
        report.acked_through = answer.acked_through;
        *last = Some(answer.server_time);
        Ok(())
    }

    async fn upload_photos(
        &self,
        store: &mut impl LocalStore,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        for (sha, len) in store.photos_to_upload().map_err(local)? {
            let path = format!("/api/v1/attachments/{sha}");
            let mut offset = match self
                .request_raw(Method::Head, &path, vec![], vec![])
                .await?
            {
                r if r.status == 404 => 0,
                r if r.status < 300 => {
                    if r.header("upload-complete") == Some("?1") {
                        store.photo_uploaded(&sha).map_err(local)?;
                        continue;
                    }
                    r.header("upload-offset")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                }
                r => return Err(self.refusal(&r)),
            };
            let mut restarts = 0;
            while offset < len {
                let chunk = store
                    .photo_chunk(&sha, offset, self.config.chunk)
                    .map_err(local)?;
                let headers = vec![
                    ("upload-offset", offset.to_string()),
                    ("upload-length", len.to_string()),
                    ("content-type", "application/octet-stream".to_string()),
                ];
                let r = self
                    .request_raw(Method::Patch, &path, headers, chunk)
                    .await?;
                match r.status {
                    200 | 201 => {
                        let st: AttachmentStatus = serde_json::from_slice(&r.body)
                            .map_err(|e| SyncError::Protocol(e.to_string()))?;
                        offset = st.upload_offset;
                        if st.complete {
                            break;
                        }
                    }
                    409 => {
                        let p: Problem = serde_json::from_slice(&r.body)
                            .map_err(|e| SyncError::Protocol(e.to_string()))?;
                        offset = p
                            .extra
                            .get("upload_offset")
                            .and_then(|v| v.as_u64())
                            .unwrap_or(0);
                    }
                    422 if restarts == 0 => {
                        restarts += 1;
                        offset = 0;
                    }
                    _ => return Err(self.refusal(&r)),
                }
            }
            store.photo_uploaded(&sha).map_err(local)?;
            report.photos_uploaded += 1;
        }
        Ok(())
    }

    /// One page of the feed after `cursor`, decoded.
    async fn pull_page(&self, cursor: &str, limit: usize) -> Result<PullResponse, SyncError> {
        let path = format!(
            "/api/v1/sync/pull?cursor={}&limit={limit}",
            encode_query(cursor),
        );
        let resp = self.request(Method::Get, &path, vec![], vec![]).await?;
        serde_json::from_slice(&resp.body).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// Pulls page after page. The next page is asked for as soon as a page arrives, so the
    /// server reads it while the device applies the last one (a fresh device's first pull is
    /// half server, half device). A page is applied with its cursor in one transaction, in
    /// order; a page fetched ahead is dropped if applying the one before fails, and the stored
    /// cursor still says where to go on from. `first` is a page [`SyncClient::sync`] already
    /// fetched, with the cursor it was fetched from: used only if that is still the stored one.
    async fn pull_all(
        &self,
        store: &mut impl LocalStore,
        report: &mut SyncReport,
        last: &mut Option<DateTime<Utc>>,
        first: Option<(String, PullResponse, Duration)>,
    ) -> Result<(), SyncError> {
        let mut limit = self.config.pull_limit.max(1);
        let cursor = store.pull_cursor().map_err(local)?;
        let (mut page, mut took) = match first {
            // Asked for by `sync` from the cursor still stored (nothing has moved it since).
            Some((from, page, took)) if from == cursor => (page, took),
            _ => {
                let started = std::time::Instant::now();
                let page = self.pull_page(&cursor, limit).await?;
                (page, started.elapsed())
            }
        };
        loop {
            let ahead = page.has_more.then(|| page.next_cursor.clone());
            let (next, applied) = match &ahead {
                Some(c) => {
                    limit = self.next_pull_limit(limit, page.changes.len(), took);
                    let fetch = async {
                        let started = std::time::Instant::now();
                        let r = self.pull_page(c, limit).await;
                        (r, started.elapsed())
                    };
                    let ((next, t), applied) = tokio::join!(fetch, async {
                        // Let the request leave before the store work starts.
                        tokio::task::yield_now().await;
                        local_work(|| store.apply_page(&page))
                    });
                    took = t;
                    (Some(next), applied)
                }
                None => (None, local_work(|| store.apply_page(&page))),
            };
            applied.map_err(local)?;
            report.changes_pulled += page.changes.len() as u64;
            *last = Some(page.server_time);
            if ahead.is_none() {
                report.refs = page.refs.clone();
            }
            match next {
                Some(n) => page = n?,
                None => return Ok(()),
            }
        }
    }

    /// The next page's size after a page of `got` changes at `limit` arrived in `took` (while
    /// the one before was applied, so it also counts the device's own pace): doubled after a
    /// full page within [`Config::push_fast`], up to the ceiling; halved after one slower than
    /// four times that, never below a quarter of the first size.
    fn next_pull_limit(&self, limit: usize, got: usize, took: Duration) -> usize {
        let c = &self.config;
        if took <= c.push_fast && got >= limit {
            (limit * 2).min(c.pull_limit_ceiling.max(c.pull_limit))
        } else if took > c.push_fast * 4 {
            (limit / 2).max((c.pull_limit / 4).max(1))
        } else {
            limit
        }
    }

    fn refusal(&self, r: &Response) -> SyncError {
        match serde_json::from_slice::<Problem>(&r.body) {
            Ok(p) if r.status == 401 => SyncError::Unauthorized { code: p.code },
            Ok(_) if r.status == 426 => SyncError::AppTooOld,
            Ok(p) => SyncError::Refused {
                status: r.status,
                code: p.code,
                detail: p.detail,
            },
            Err(_) => SyncError::Refused {
                status: r.status,
                code: "http.error".into(),
                detail: String::from_utf8_lossy(&r.body).chars().take(200).collect(),
            },
        }
    }

    /// A request that must succeed (2xx), with retries.
    async fn request(
        &self,
        method: Method,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<Response, SyncError> {
        let r = self.request_raw(method, path, headers, body).await?;
        if (200..300).contains(&r.status) {
            Ok(r)
        } else {
            Err(self.refusal(&r))
        }
    }

    /// A request with retries on network failures, 5xx and 429; other answers are returned.
    async fn request_raw(
        &self,
        method: Method,
        path: &str,
        mut headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<Response, SyncError> {
        if !self.token.is_empty() {
            headers.push(("authorization", format!("Bearer {}", self.token)));
        }
        headers.push((
            "accept-language",
            if self.config.lang == Lang::En {
                "en"
            } else {
                "id"
            }
            .to_string(),
        ));
        let retry = self.config.retry;
        let mut last_error = String::new();
        for attempt in 0..retry.attempts.max(1) {
            if attempt > 0 {
                let cap = (retry.base.as_millis() as u64)
                    .saturating_mul(1 << attempt.min(16))
                    .min(retry.max.as_millis() as u64);
                tokio::time::sleep(Duration::from_millis(jitter(cap))).await;
            }
            self.trips.fetch_add(1, Ordering::Relaxed);
            self.sent.fetch_add(body.len() as u64, Ordering::Relaxed);
            let req = Request {
                method,
                path: path.to_string(),
                headers: headers.clone(),
                body: body.clone(),
            };
            match self.transport.send(req).await {
                Ok(r) if r.status >= 500 || r.status == 429 => {
                    last_error = format!("HTTP {}", r.status)
                }
                Ok(r) => return Ok(r),
                Err(SendError::Certificate(e)) => return Err(SyncError::Certificate(e)),
                Err(SendError::Network(e)) => last_error = e,
            }
        }
        Err(SyncError::Network(last_error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoTransport;

    impl crate::transport::Transport for NoTransport {
        async fn send(
            &self,
            _req: crate::transport::Request,
        ) -> Result<crate::transport::Response, crate::transport::SendError> {
            Err(crate::transport::SendError::Network("offline".into()))
        }
    }

    #[test]
    fn pushes_grow_on_a_fast_link_and_shrink_on_a_slow_one() {
        let c = SyncClient::new(NoTransport, "t", Config::default());
        let first = (500, 384 * 1024);
        let mut size = first;
        for _ in 0..10 {
            size = c.next_push_size(size, Duration::from_millis(100));
        }
        assert_eq!(size, (2000, 4 * 1024 * 1024), "capped at the ceiling");
        assert_eq!(
            c.next_push_size(size, Duration::from_secs(2)),
            size,
            "steady"
        );
        for _ in 0..10 {
            size = c.next_push_size(size, Duration::from_secs(30));
        }
        assert_eq!(
            size,
            (125, 96 * 1024),
            "never below a quarter of the first size"
        );
    }
}
