//! The app service the Tauri commands delegate to, on a real encrypted store: the PIN lockout
//! (which survives a restart), and signing out refused while work is unsent.

use std::sync::Arc;
use verivali_domain::clock::ManualClock;
use verivali_domain::sample::{self, Seq};
use verivali_field::FieldApp;
use verivali_store::{KdfParams, Store};

const PIN: &str = "270814";

fn device_folder(clock: Arc<ManualClock>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Store::create(
        &dir.path().join("perangkat.db"),
        PIN,
        uuid::Uuid::now_v7(),
        KdfParams::FAST_INSECURE,
        clock,
    )
    .unwrap();
    dir
}

#[test]
fn five_wrong_pins_lock_the_app_even_across_a_restart() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let dir = device_folder(clock.clone());
    let mut app = FieldApp::new(dir.path(), clock.clone(), KdfParams::FAST_INSECURE, "");
    assert!(app.status().signed_in && !app.status().unlocked);
    for left in (1..=4).rev() {
        let e = app.unlock("111111").unwrap_err();
        assert_eq!(e.code, "store.wrong_pin");
        assert!(e.message.contains(&format!("sisa {left}")), "{}", e.message);
    }
    assert_eq!(app.status().attempts_left, 1);
    app.unlock("111111").unwrap_err();
    assert!(app.status().locked_until.is_some());
    // A restart does not reset the count; the right PIN waits for the lock to pass.
    let mut app = FieldApp::new(dir.path(), clock.clone(), KdfParams::FAST_INSECURE, "");
    assert_eq!(app.unlock(PIN).unwrap_err().code, "field.pin_locked");
    clock.advance(chrono::Duration::minutes(6));
    assert!(app.unlock(PIN).unwrap().unlocked);
    assert_eq!(app.status().attempts_left, 5, "a good PIN resets the count");
}

#[test]
fn signing_out_is_refused_while_work_is_unsent() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let dir = device_folder(clock.clone());
    let mut app = FieldApp::new(dir.path(), clock.clone(), KdfParams::FAST_INSECURE, "");
    app.unlock(PIN).unwrap();
    // Queue one op straight into the store (a proposed household).
    {
        let mut store = Store::open(&dir.path().join("perangkat.db"), PIN, clock.clone()).unwrap();
        let (mut h, _) = sample::household(&mut Seq::new(3), "3308012001", 1);
        h.version = 0;
        store.propose_household(&h).unwrap();
    }
    assert_eq!(
        (app.progress().unwrap().done, app.progress().unwrap().total),
        (0, 1),
        "the proposed household is assigned, not done"
    );
    let e = app.sign_out().unwrap_err();
    assert_eq!(e.code, "field.unsynced_work");
    assert!(e.message.contains("belum terkirim"), "{}", e.message);
    assert!(dir.path().join("perangkat.db").exists(), "nothing deleted");
    app.set_lang("en");
    assert!(app.sign_out().unwrap_err().message.contains("sync before"));
}

#[test]
fn a_running_sync_holds_the_store_only_per_call_so_the_app_stays_usable() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let dir = device_folder(clock.clone());
    {
        let mut store = Store::open(&dir.path().join("perangkat.db"), PIN, clock.clone()).unwrap();
        let mut seq = Seq::new(5);
        let hh: Vec<_> = (0..3)
            .map(|i| sample::household(&mut seq, "3308012001", i))
            .collect();
        store.upsert_households(&hh).unwrap();
    }
    let mut app = FieldApp::new(dir.path(), clock.clone(), KdfParams::FAST_INSECURE, "");
    app.unlock(PIN).unwrap();
    // A sync begun (its network part would run now): every command still answers.
    let job = app.begin_sync().unwrap();
    assert_eq!(app.progress().unwrap().total, 3);
    let id = app.assignments(&Default::default()).unwrap()[0].households[0].id;
    let open = app.open_visit(id).unwrap();
    app.save_draft(&open.record).unwrap();
    // One sync at a time; no sign-out under a running sync.
    assert_eq!(app.begin_sync().err().unwrap().code, "field.sync_running");
    assert_eq!(app.sign_out().unwrap_err().code, "field.sync_running");
    // Locked meanwhile, then unlocked: the app takes back the device the sync holds.
    app.lock();
    assert_eq!(app.progress().unwrap_err().code, "field.locked");
    app.unlock(PIN).unwrap();
    assert_eq!(
        app.open_visit(id).unwrap().record.visit_id,
        open.record.visit_id
    );
    drop(job);
    assert!(
        app.begin_sync().is_ok(),
        "the next sync may start once this one ended"
    );
}

#[test]
fn a_new_household_is_proposed_and_visited_as_usulan_baru() {
    use verivali_domain::Outcome;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let dir = device_folder(clock.clone());
    let mut app = FieldApp::new(dir.path(), clock.clone(), KdfParams::FAST_INSECURE, "");
    app.unlock(PIN).unwrap();
    let mut seq = Seq::new(9);
    let (h, members) = sample::household(&mut seq, "3308012001", 1);
    // A wrong field is refused with where it is, nothing stored.
    let mut bad = h.fields.clone();
    bad.alamat = String::new();
    let e = app.propose_household(bad, "3308012001").unwrap_err();
    assert_eq!(e.issues[0].at, "alamat", "{e:?}");
    let id = app
        .propose_household(h.fields.clone(), "3308012001")
        .unwrap();
    let open = app.open_visit(id).unwrap();
    assert_eq!(open.record.outcome, Outcome::UsulanBaru);
    assert!(open.record.members.is_empty());
    let mut v = open.record;
    v.members = members.clone();
    v.answers = sample::visit(&mut seq, &h, &members, chrono::Utc::now()).answers;
    assert_eq!(app.finish_visit(v).unwrap(), 1);
    let listed = app.assignments(&Default::default()).unwrap();
    let row = &listed[0].households[0];
    assert!(row.proposed && row.id == id);
    assert_eq!(app.progress().unwrap().done, 1);
}

/// The period's cut-off warning comes from what the last sync kept and the phone's own clock: it
/// shows from three days before the cut-off day (WIB) to the day itself, offline too, and goes
/// once the day has passed or the server has no period open.
#[test]
fn the_list_warns_of_the_cut_off_from_three_days_before() {
    use chrono::TimeZone;
    // 16 December 2026, 09:00 WIB.
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 12, 16, 2, 0, 0).unwrap(),
    ));
    let dir = device_folder(clock.clone());
    let cutoff = chrono::NaiveDate::from_ymd_opt(2026, 12, 20).unwrap();
    let keep = |p: Option<(&str, chrono::NaiveDate)>| {
        let mut store = Store::open(&dir.path().join("perangkat.db"), PIN, clock.clone()).unwrap();
        store.set_open_period(p).unwrap();
        assert_eq!(
            store.open_period().unwrap(),
            p.map(|(n, c)| (n.to_string(), c))
        );
    };
    keep(Some(("2026-12", cutoff)));
    let mut app = FieldApp::new(dir.path(), clock.clone(), KdfParams::FAST_INSECURE, "");
    app.unlock(PIN).unwrap();
    assert_eq!(
        app.progress().unwrap().cutoff,
        None,
        "four days before: no warning"
    );
    clock.advance(chrono::Duration::days(1));
    let note = app.progress().unwrap().cutoff.unwrap();
    assert_eq!(
        (note.period.as_str(), note.cutoff.as_str(), note.days_left),
        ("2026-12", "2026-12-20", 3)
    );
    // 20 December 23:30 WIB: still the day.
    clock.advance(
        chrono::Duration::days(3) + chrono::Duration::hours(14) + chrono::Duration::minutes(30),
    );
    assert_eq!(app.progress().unwrap().cutoff.unwrap().days_left, 0);
    clock.advance(chrono::Duration::hours(1));
    assert_eq!(app.progress().unwrap().cutoff, None, "the day has passed");
    drop(app);
    keep(None);
}
