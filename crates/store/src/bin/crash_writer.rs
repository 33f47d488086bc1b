//! Crash-test writer: opens a device store and records visits in a loop until it is killed,
//! printing a line after every call that returned (so the test knows what must have survived):
//! `V <visit_id> <revision> <seq>` for a recorded visit, `B <batch_id> <seq>` for a batch.
//!
//! Usage: `verivali-store-crash-writer DB PIN SEED`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use verivali_domain::clock::SystemClock;
use verivali_domain::sample::{self, Seq};
use verivali_store::{HouseholdQuery, Store};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(db), Some(pin), Some(seed)) = (args.get(1), args.get(2), args.get(3)) else {
        anyhow::bail!("usage: verivali-store-crash-writer DB PIN SEED");
    };
    let mut seq = Seq::new(seed.parse()?);
    let mut store = Store::open(&PathBuf::from(db), pin, Arc::new(SystemClock))?;
    let households: Vec<_> = store
        .list_households(&HouseholdQuery::default())?
        .into_iter()
        .flat_map(|g| g.households)
        .map(|r| r.id)
        .collect();
    let mut out = std::io::stdout().lock();
    let mut recorded = Vec::new();
    for i in 0..100_000u64 {
        let hid = households[seq.below(households.len() as u64) as usize];
        let detail = store.household_detail(hid)?;
        let mut v = sample::visit(
            &mut seq,
            &detail.household,
            &detail.members,
            chrono::Utc::now(),
        );
        if i % 5 == 4 {
            // A draft first, as the form does while the enumerator types.
            let mut draft = v.clone();
            draft.finished_at = None;
            store.save_draft(&draft)?;
        }
        if i % 9 == 8 {
            let photo: Vec<u8> = (0..30_000).map(|_| seq.next_u64() as u8).collect();
            v.photos = vec![store.save_photo(&photo, "image/jpeg")?];
            v.photo_kinds.clear();
        }
        let r = store.record_visit(&v)?;
        writeln!(out, "V {} {} {}", r.visit_id, r.revision, r.seq)?;
        out.flush()?;
        recorded.push(v);
        if i % 3 == 2 {
            // Re-record one of this run's visits (a correction): a new revision.
            let again = recorded[seq.below(recorded.len() as u64) as usize].clone();
            if let Ok(r) = store.record_visit(&again) {
                writeln!(out, "V {} {} {}", r.visit_id, r.revision, r.seq)?;
                out.flush()?;
            }
        }
        if i % 10 == 9 {
            let ids: Vec<_> = recorded.drain(..).map(|v| v.visit_id).collect();
            let b = store.submit_batch(&ids)?;
            writeln!(out, "B {} {}", b.batch_id, b.seq)?;
            out.flush()?;
        }
    }
    Ok(())
}
