//! # verivali-sync
//!
//! The device's sync client (DESIGN.md §5): pushes the outbox in batches sized by bytes (zstd),
//! uploads photos resumably (`HEAD` for the offset, `PATCH` chunks, verified by hash on the
//! server), and pulls pages that the local side applies with their cursor in one transaction.
//! Network failures, 5xx and 429 are retried with exponential backoff and jitter; a cut never
//! re-sends what the server acknowledged, because acknowledgements are stored batch by batch.
//! An idle sync (nothing queued) is one request.
//!
//! HTTPS uses rustls with the public web roots and an optional private CA ([`tls`]); a server
//! whose certificate is not trusted stops the sync at once with `sync.tls_untrusted`.
//!
//! The transport ([`Transport`]) and clock are injected; the local side is the [`LocalStore`]
//! trait (implemented over the device store by `verivali-field`), so this crate depends only on
//! the protocol and the domain.

mod client;
pub mod tls;
mod transport;

pub use client::{Config, LocalError, LocalStore, Retry, SyncClient, SyncError, SyncReport};
pub use transport::{HttpTransport, Method, Request, Response, SendError, Transport};
