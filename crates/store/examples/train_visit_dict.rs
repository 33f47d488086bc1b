//! Trains the zstd dictionary the outbox compresses visit records with
//! (`crates/domain/src/visit.dict`, see `verivali_domain::packed`; the SQLite server packs
//! `visits.record` with it too) and prints what it does.
//!
//!     cargo run --release -p verivali-store --example train_visit_dict -- [OUT]
//!
//! The samples are synthetic visits ([`verivali_domain::sample`], seed 9001: not the seeds the
//! benchmarks record with), serialized as the store serializes a record. What a dictionary learns
//! from them is the shape every record shares: the field names, the outcome and status words, the
//! question ids of the default questionnaire, the number formats. Names, NIKs, addresses and photo
//! hashes vary per record and gain little from it. A new dictionary needs a new id (below): a
//! frame names the id it was made with, and the store keeps every dictionary it ever wrote with.

use chrono::{Duration, TimeZone, Utc};
use verivali_domain::sample::{self, Seq};

/// Size of the dictionary: 16 KiB was the knee on synthetic visits (8 KiB: 3 % larger frames;
/// 64 KiB: 2 % smaller, four times the memory a device process holds for it).
const DICT_BYTES: usize = 16 * 1024;
/// Samples trained on.
const SAMPLES: u32 = 4_000;

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "crates/domain/src/visit.dict".into());
    let mut seq = Seq::new(9001);
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 8, 0, 0)
        .single()
        .ok_or_else(|| anyhow::anyhow!("start time"))?;
    let mut samples = Vec::new();
    for i in 0..SAMPLES {
        let desa = ["3308010001", "3308010002", "3308020003", "3471010004"][(i % 4) as usize];
        let (hh, members) = sample::household(&mut seq, desa, i);
        let at = start + Duration::minutes(i64::from(i) * 7);
        let v = sample::visit(&mut seq, &hh, &members, at);
        samples.push(serde_json::to_vec(&v)?);
    }
    // Trained on the first three quarters, judged on the rest.
    let (train, judge) = samples.split_at(samples.len() * 3 / 4);
    let mut dict = zstd::dict::from_samples(train, DICT_BYTES)?;
    // The id the frames carry (ZDICT puts a random one at bytes 4..8): a fixed, recognisable one.
    dict[4..8].copy_from_slice(&verivali_store::VISIT_DICT_ID.to_le_bytes());
    std::fs::write(&out, &dict)?;
    let raw: usize = judge.iter().map(Vec::len).sum();
    let plain: usize = judge
        .iter()
        .map(|s| zstd::bulk::compress(s, 1).map(|z| z.len()))
        .sum::<std::io::Result<usize>>()?;
    let mut with = zstd::bulk::Compressor::with_dictionary(1, &dict)?;
    let dicted: usize = judge
        .iter()
        .map(|s| with.compress(s).map(|z| z.len()))
        .sum::<std::io::Result<usize>>()?;
    let n = judge.len();
    println!(
        "{out}: {} bytes, id {}; {n} records: {} B raw, {} B with zstd -1, {} B with the dictionary",
        dict.len(),
        verivali_store::VISIT_DICT_ID,
        raw / n,
        plain / n,
        dicted / n
    );
    Ok(())
}
