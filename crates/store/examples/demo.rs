//! Demo of the device store: prelists a synthetic desa on an encrypted device database, records
//! visits as an enumerator would offline, submits a batch and prints the work list and the outbox.
//! All data is synthetic.

use std::sync::Arc;
use uuid::Uuid;
use verivali_domain::clock::SystemClock;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Coded, Lang};
use verivali_store::{HouseholdQuery, KdfParams, Store};

fn main() -> anyhow::Result<()> {
    let dir = std::path::Path::new("verivali-data");
    std::fs::create_dir_all(dir)?;
    let path = dir.join("demo-device.db");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(verivali_store::key::key_file_path(&path));
    let pin = "270814";
    let mut store = Store::create(
        &path,
        pin,
        Uuid::now_v7(),
        KdfParams::DEVICE,
        Arc::new(SystemClock),
    )?;
    let mut s = Seq::new(2026);
    let baseline: Vec<_> = (0..40)
        .map(|i| sample::household(&mut s, "3308012001", i))
        .collect();
    store.upsert_households(&baseline)?;
    println!(
        "Perangkat terenkripsi dibuat di {} (PIN demo {pin}).",
        path.display()
    );

    let mut recorded = Vec::new();
    for (h, m) in baseline.iter().take(6) {
        let v = sample::visit(&mut s, h, m, chrono::Utc::now());
        let r = store.record_visit(&v)?;
        println!(
            "Kunjungan ke {} dicatat (rev {}, seq {}).",
            h.nama_krt, r.revision, r.seq
        );
        recorded.push(v.visit_id);
    }
    let batch = store.submit_batch(&recorded[..4])?;
    println!(
        "Kiriman {} berisi 4 kunjungan diantrikan (seq {}).",
        batch.batch_id, batch.seq
    );

    // A mistake is caught with a translated, coded message and nothing is written.
    let (h, m) = &baseline[10];
    let mut wrong = sample::visit(&mut s, h, m, chrono::Utc::now());
    wrong.members[0].nik = Some("3308013202850001".into());
    if let Err(e) = store.record_visit(&wrong) {
        println!("Ditolak [{}]: {}", e.code(), e.message(Lang::Id));
    }

    println!("\nDaftar tugas (per RW/RT):");
    for g in store
        .list_households(&HouseholdQuery::default())?
        .iter()
        .take(4)
    {
        println!("  RW {} RT {}", g.rw, g.rt);
        for r in &g.households {
            println!(
                "    {:<24} {:<28} {}",
                r.nama_krt,
                r.alamat,
                r.status.label(Lang::Id)
            );
        }
    }
    let c = store.outbox_counts()?;
    println!(
        "\nAntrean kirim: {} op ({} kunjungan, {} kiriman) menunggu sinyal.",
        c.pending_ops, c.pending_visits, c.pending_batches
    );
    Ok(())
}
