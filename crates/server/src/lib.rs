//! # verivali-server
//!
//! The central endpoint of Verivali (DESIGN.md §5–6): sign-in with Argon2id passwords and
//! expiring, revocable device tokens; sync protocol v1 (push with exactly-once effect, pull
//! scoped to the caller's areas in commit order, resumable attachments); the admin jobs (users,
//! baseline CSV import, device revocation); an append-only audit log of personal-data access.
//!
//! Storage sits behind [`db::Database`] with two backends, embedded SQLite (default, a file under
//! `./verivali-data/`) and PostgreSQL; every query is written once in [`repo`]. Business rules
//! come from `verivali-domain`, wire types from `verivali-protocol`.

/// jemalloc instead of glibc's allocator, for every binary built on this crate (the server, its
/// benchmarks and tests). A push decodes thousands of records into small allocations and frees
/// them on other threads; glibc's `malloc`/`free` (with `malloc_consolidate`) were about a fifth of
/// the server's CPU during a 10,000-visit sync. With jemalloc, eleven alternated syncs used 10 %
/// less server CPU and ingest with 200 devices was no lower on either backend (mimalloc, tried in
/// earlier passes, lowered it by a fifth): docs/benchmarks.md, eighth pass.
///
/// It also takes the C library's `malloc` and `free` (the workspace enables tikv-jemallocator's
/// `unprefixed_malloc_on_supported_platforms`), so SQLite's page cache and statements come from
/// it too: under glibc they grew a per-thread arena (`grow_heap`, `mprotect`, first-touch page
/// faults) in the middle of the writer's transaction. (A test or bench that runs a device store in
/// the same process, as `tests/benches/sync.rs` does, gives the device's SQLCipher jemalloc too;
/// the phone's app does not link this crate.) Together with SQLite's memory statistics
/// turned off (`.cargo/config.toml`: no global mutex on every SQLite allocation), ingest with 200
/// devices on SQLite went from 13,183–16,309 to 16,105–16,937 ops/s (docs/benchmarks.md, ninth
/// pass).
///
/// Built with jemalloc's background threads on (`background_threads`, workspace `Cargo.toml`):
/// a push's preparing runs on a thread of its own (`sync::push::behind_the_writer`), and when
/// such a thread ended as the last one on its arena, jemalloc purged the whole arena at once
/// (`tcache_destroy` → forced decay → `madvise`, with a TLB shootdown on the other core) and the
/// next push faulted the same pages in again: in a 10,000-visit sync (`perf record`) `madvise`
/// took 3 % of the server's CPU and page faults 11.3 %; with background threads 0.5 % and 9.6 %.
/// No thread's exit forces a purge then: unused pages are returned on jemalloc's decay clock, by
/// jemalloc's own thread.
/// Ten alternated syncs: 0.435 s against 0.457 s, 50 against 54 ticks of server CPU
/// (docs/benchmarks.md, sixteenth pass). One arena for every thread (`narenas:1`) removed the
/// purges too, but lowered ingest with 200 devices on PostgreSQL by up to a fifth.
///
/// Built with one arena per CPU on Linux (`percpu_arena:percpu`, set at build time in
/// `.cargo/config.toml`), chosen by the CPU a thread runs on, instead of four per CPU (eight on
/// two cores) handed out to threads in turn. Each push is prepared and freed on threads made for
/// it (`sync::push`), and each such thread was given the next arena: the memory the last push had
/// freed sat in another, so the next push's records came from pages never touched, each faulted
/// in. A fresh server syncing 10,000 visits took 29,600–31,400 page faults (its resident memory
/// grew by ~112 MB); with an arena per CPU 20,100–23,200 (docs/benchmarks.md, eighteenth pass).
/// `MALLOC_CONF=percpu_arena:disabled` restores the old arenas. jemalloc turns the setting off by
/// itself, with a line on stderr at start, where the CPUs it may run on are not all the
/// machine's (a container given a `--cpuset-cpus`, `taskset`).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod admin;
pub mod app;
pub mod assignments;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod certs;
pub mod cycle;
pub mod cycle_pdf;
pub mod db;
pub mod demo;
pub mod edge;
pub mod error;
pub mod export;
pub mod http;
pub mod import;
pub mod jobs;
pub mod ops;
pub mod pdf;
pub(crate) mod priority;
pub mod quality;
pub mod questionnaires;
pub mod regions;
pub mod repo;
pub mod review;
pub mod session;
pub mod sync;
pub mod web;

pub use app::App;
