//! The field app's service: everything the Tauri window calls, as plain methods over one
//! [`FieldApp`] (the Tauri commands in `src-tauri` are one-line delegations to these). It owns
//! the data folder (one encrypted store per device), the unlocked [`Device`], the PIN lockout
//! and the language; answers are serialisable for the web view, and every failure is an
//! [`AppError`] with a stable code and a message in the app's language.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard, PoisonError, Weak};
use uuid::Uuid;
use verivali_domain::clock::Clock;
use verivali_domain::pin::{PIN_ATTEMPTS, pin_lockout};
use verivali_domain::{Coded, Lang, Questionnaire, Report, VisitRecord, WorkStatus};
use verivali_store::{
    AttentionItem, HouseholdDetail, HouseholdQuery, KdfParams, OutboxCounts, RtGroup,
};

use crate::device::{Device, FieldError, Returned, SharedDevice, renew_with, sync_with};

/// How many received visits the send screen lists.
const RECEIVED_LISTED: u32 = 30;

/// The store file inside the data folder.
const STORE_FILE: &str = "perangkat.db";
/// The PIN-attempt counter beside it (survives restarts, so a lockout cannot be skipped).
const ATTEMPTS_FILE: &str = "pin-attempts.json";

/// An error for the window: a stable code and a message in the app's language.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    /// Stable code (`store.wrong_pin`, `field.locked`, `visit.nik_format`…).
    pub code: String,
    /// For people.
    pub message: String,
    /// Validation issues, when the error is an invalid visit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Issue>,
}

/// One validation message for the form.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Stable code.
    pub code: String,
    /// Where (`household.alamat`, `members[2].nik`, `answers.luas_lantai`).
    pub at: String,
    /// For people.
    pub message: String,
    /// An error (blocks finishing) or a warning.
    pub error: bool,
}

/// The form's messages, with question ids worded as their labels (the enumerator reads "“Luas
/// lantai” wajib dijawab", never `luas_lantai`).
fn issues(report: &Report, lang: Lang, q: Option<&Questionnaire>) -> Vec<Issue> {
    let word = |m: String| q.map(|q| q.worded(&m, lang)).unwrap_or(m);
    report
        .errors
        .iter()
        .map(|a| Issue {
            code: a.issue.code().into(),
            at: a.field.clone(),
            message: word(a.issue.message(lang)),
            error: true,
        })
        .chain(report.warnings.iter().map(|a| Issue {
            code: a.issue.code().into(),
            at: a.field.clone(),
            message: word(a.issue.message(lang)),
            error: false,
        }))
        .collect()
}

impl AppError {
    fn coded(e: &dyn Coded, lang: Lang) -> AppError {
        AppError {
            code: e.code().into(),
            message: e.message(lang),
            issues: vec![],
        }
    }

    fn new(code: &str, lang: Lang, id: &str, en: &str) -> AppError {
        AppError {
            code: code.into(),
            message: if lang == Lang::En { en } else { id }.into(),
            issues: vec![],
        }
    }
}

/// Where the app stands, for the first screen.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// A store exists (the device was signed in once).
    pub signed_in: bool,
    /// The store is unlocked.
    pub unlocked: bool,
    /// The signed-in user.
    pub username: Option<String>,
    /// Wrong PINs left before a lock.
    pub attempts_left: u32,
    /// Locked until (RFC 3339), after too many wrong PINs.
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
    /// `id` or `en`.
    pub lang: String,
}

/// Households done of all assigned, and the period's cut-off when it is near.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Finished, submitted or approved.
    #[ts(type = "number")]
    pub done: u64,
    /// Assigned.
    #[ts(type = "number")]
    pub total: u64,
    /// The open period's cut-off, from [`verivali_domain::cycle::WARN_DAYS`] days before it to
    /// the day itself (judged on the phone's clock, so it warns offline too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cutoff: Option<CutoffNote>,
}

/// A cut-off coming (DESIGN.md §12): after it, new work counts for the next period.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutoffNote {
    /// The period, e.g. `2026-12`.
    pub period: String,
    /// `YYYY-MM-DD`.
    pub cutoff: String,
    /// Days left: 0 on the cut-off day.
    #[ts(type = "number")]
    pub days_left: i64,
}

/// The sync screen.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// Queued work.
    pub outbox: OutboxCounts,
    /// Last complete sync.
    pub last_sync: Option<chrono::DateTime<chrono::Utc>>,
    /// Rejected ops with the server's reasons.
    pub needs_attention: Vec<AttentionItem>,
    /// Visits sent back by a supervisor.
    pub inbox: Vec<InboxItem>,
    /// Finished visits not yet submitted (to choose for a batch).
    pub ready: Vec<ReadyVisit>,
    /// Visits the server received, newest first, with when.
    pub received: Vec<verivali_store::SentVisit>,
    /// The last syncs, newest first: what went up and down, or why one stopped.
    pub log: Vec<verivali_store::SyncLogEntry>,
}

/// A visit sent back.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    pub household_id: Uuid,
    /// Its head.
    pub nama_krt: String,
    /// The visit.
    pub visit_id: Uuid,
    /// The supervisor's reason.
    pub reason: String,
}

/// A finished visit that can go into a batch.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyVisit {
    /// The visit.
    pub visit_id: Uuid,
    pub household_id: Uuid,
    /// Its head.
    pub nama_krt: String,
}

/// A sync's outcome for the window.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDone {
    /// Ops the server acknowledged.
    #[ts(type = "number")]
    pub acked: u64,
    /// Of which rejected.
    #[ts(type = "number")]
    pub rejected: u64,
    /// Photos uploaded.
    #[ts(type = "number")]
    pub photos: u64,
    /// Changes pulled.
    #[ts(type = "number")]
    pub pulled: u64,
    /// Households that left this phone (given to a colleague); the phone keeps any it holds
    /// visits of, so they are not counted.
    #[serde(default)]
    #[ts(type = "number")]
    pub removed: u64,
}

/// The form's live state after an edit: validation messages and which questions apply now
/// (relevance rules of the questionnaire, evaluated by `verivali-domain`).
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftState {
    /// Errors and warnings.
    pub issues: Vec<Issue>,
    /// Ids of the questions that apply to the answers so far.
    pub relevant: Vec<String>,
}

/// A visit opened in the form, with where it stands.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenVisit {
    /// The record as saved.
    pub record: VisitRecord,
    /// Review state.
    pub state: verivali_domain::VisitState,
    /// Finished (recorded) at least once.
    pub finished: bool,
    /// The draft's validation and relevant questions.
    pub draft: DraftState,
    /// Why the supervisor sent it back (the amend form shows it at its top).
    pub returned_reason: Option<String>,
}

fn draft_state(store: &verivali_store::Store, record: &VisitRecord, lang: Lang) -> DraftState {
    // Relevance by the version the visit follows (an older draft's own form).
    let older = (record.questionnaire_version != store.questionnaire().version)
        .then(|| {
            store
                .questionnaire_version(record.questionnaire_version)
                .ok()
                .flatten()
        })
        .flatten();
    let q = older.as_ref().unwrap_or(store.questionnaire());
    DraftState {
        issues: issues(&store.check_draft(record), lang, Some(q)),
        relevant: q
            .questions()
            .filter(|x| q.is_relevant(x, &record.answers))
            .map(|x| x.id.clone())
            .collect(),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Attempts {
    failures: u32,
    locked_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// The app's state: one per window.
pub struct FieldApp {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    kdf: KdfParams,
    /// The unlocked device; a running sync holds a second handle ([`SyncJob`]).
    device: Option<SharedDevice>,
    /// The device of the last sync begun: after a lock during a sync, unlocking takes it back
    /// instead of opening a second connection beside the running one.
    syncing_device: Weak<std::sync::Mutex<Device>>,
    /// Held by the running sync: one at a time.
    sync_gate: Arc<tokio::sync::Mutex<()>>,
    /// The wrong-PIN count, read once at start and written through on every change.
    attempts: Attempts,
    lang: Lang,
    /// The server address of a first sign-in, to show in the form.
    pub default_server: String,
}

impl FieldApp {
    /// The app over a data folder.
    pub fn new(
        dir: &Path,
        clock: Arc<dyn Clock>,
        kdf: KdfParams,
        default_server: &str,
    ) -> FieldApp {
        let attempts = std::fs::read(dir.join(ATTEMPTS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        FieldApp {
            dir: dir.to_path_buf(),
            clock,
            kdf,
            device: None,
            syncing_device: Weak::new(),
            sync_gate: Arc::new(tokio::sync::Mutex::new(())),
            attempts,
            lang: Lang::Id,
            default_server: default_server.into(),
        }
    }

    fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    fn save_attempts(&mut self, a: Attempts) -> Result<(), AppError> {
        let bytes = serde_json::to_vec(&a).map_err(|e| self.io(&e))?;
        std::fs::write(self.dir.join(ATTEMPTS_FILE), bytes).map_err(|e| self.io(&e))?;
        self.attempts = a;
        Ok(())
    }

    fn io(&self, e: &dyn std::fmt::Display) -> AppError {
        AppError::new(
            "field.io",
            self.lang,
            &format!("Gagal menulis data aplikasi: {e}"),
            &format!("Could not write app data: {e}"),
        )
    }

    fn err(&self, e: FieldError) -> AppError {
        match &e {
            FieldError::Sync(
                verivali_sync::SyncError::Refused { .. }
                | verivali_sync::SyncError::Unauthorized { .. },
            ) => AppError {
                code: e.shown_code(),
                ..AppError::coded(&e, self.lang)
            },
            FieldError::Store(verivali_store::StoreError::Invalid(report)) => AppError {
                issues: issues(
                    report,
                    self.lang,
                    self.device()
                        .ok()
                        .map(|mut d| d.store().questionnaire().clone())
                        .as_ref(),
                ),
                ..AppError::coded(&e, self.lang)
            },
            _ => AppError::coded(&e, self.lang),
        }
    }

    fn locked(&self) -> AppError {
        AppError::new(
            "field.locked",
            self.lang,
            "Aplikasi terkunci; masukkan PIN",
            "The app is locked; enter your PIN",
        )
    }

    fn device(&self) -> Result<MutexGuard<'_, Device>, AppError> {
        let shared = self.device.as_ref().ok_or_else(|| self.locked())?;
        // Each call is a store transaction: a panic in one leaves a consistent store.
        Ok(shared.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn sync_running(&self) -> AppError {
        AppError::new(
            "field.sync_running",
            self.lang,
            "Sinkronisasi sedang berjalan; tunggu sampai selesai",
            "A sync is running; wait until it ends",
        )
    }

    /// Switches the language (`id` or `en`).
    pub fn set_lang(&mut self, tag: &str) -> Status {
        self.lang = Lang::from_tag(tag);
        self.status()
    }

    /// Where the app stands.
    pub fn status(&mut self) -> Status {
        let a = &self.attempts;
        let now = self.clock.now();
        let username = self
            .device()
            .ok()
            .and_then(|mut d| d.store().session().ok().flatten())
            .map(|s| s.username);
        Status {
            signed_in: self.store_path().exists(),
            unlocked: self.device.is_some(),
            username,
            attempts_left: PIN_ATTEMPTS.saturating_sub(a.failures % PIN_ATTEMPTS),
            locked_until: a.locked_until.filter(|t| *t > now),
            lang: if self.lang == Lang::En { "en" } else { "id" }.into(),
        }
    }

    /// First sign-in (online): creates the encrypted store keyed by the new PIN and pulls the
    /// assignment. Refused when this device already has a store.
    pub async fn sign_in(
        &mut self,
        server: &str,
        username: &str,
        password: &str,
        new_password: Option<&str>,
        pin: &str,
    ) -> Result<Status, AppError> {
        if self.store_path().exists() {
            return Err(AppError::new(
                "field.already_signed_in",
                self.lang,
                "Perangkat ini sudah terdaftar; buka dengan PIN",
                "This device is already signed in; unlock it with the PIN",
            ));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&e))?;
        let name = format!("Verivali {}", std::env::consts::OS);
        let device = Device::sign_in_first(
            &self.store_path(),
            server.trim(),
            username.trim(),
            password,
            new_password.filter(|p| !p.is_empty()),
            pin,
            &name,
            self.kdf,
            self.clock.clone(),
        )
        .await
        .map_err(|e| self.err(e))?;
        self.device = Some(Arc::new(std::sync::Mutex::new(device)));
        self.save_attempts(Attempts::default())?;
        Ok(self.status())
    }

    /// Signs in again (online) while unlocked, keeping the store and its queued work: after
    /// `auth.token_expired` (offline longer than a session lives) or `auth.token_revoked`.
    pub async fn renew_session(
        &mut self,
        password: &str,
        new_password: Option<&str>,
    ) -> Result<Status, AppError> {
        let name = format!("Verivali {}", std::env::consts::OS);
        let mut shared = self.device.clone().ok_or_else(|| self.locked())?;
        let r = renew_with(
            &mut shared,
            password,
            new_password.filter(|p| !p.is_empty()),
            &name,
        )
        .await;
        r.map_err(|e| self.err(e))?;
        Ok(self.status())
    }

    /// Unlocks offline with the PIN. After [`PIN_ATTEMPTS`] wrong PINs in a row the app locks for
    /// a while ([`pin_lockout`]); the count survives restarts.
    pub fn unlock(&mut self, pin: &str) -> Result<Status, AppError> {
        let now = self.clock.now();
        if let Some(until) = self.attempts.locked_until.filter(|t| *t > now) {
            let mins = (until - now).num_minutes() + 1;
            return Err(AppError::new(
                "field.pin_locked",
                self.lang,
                &format!("Terlalu banyak PIN salah; coba lagi dalam {mins} menit"),
                &format!("Too many wrong PINs; try again in {mins} minutes"),
            ));
        }
        match Device::unlock(&self.store_path(), pin, self.clock.clone()) {
            Ok(d) => {
                // A sync begun before a lock still holds the unlocked device: take it back
                // (the PIN was just proven) rather than run two connections side by side.
                self.device = Some(
                    self.syncing_device
                        .upgrade()
                        .unwrap_or_else(|| Arc::new(std::sync::Mutex::new(d))),
                );
                self.save_attempts(Attempts::default())?;
                Ok(self.status())
            }
            Err(e) => {
                let wrong = e.code() == "store.wrong_pin";
                let mut err = self.err(e);
                if wrong {
                    let failures = self.attempts.failures + 1;
                    let locked_until = pin_lockout(failures).map(|d| now + d);
                    self.save_attempts(Attempts {
                        failures,
                        locked_until,
                    })?;
                    let left = PIN_ATTEMPTS - failures % PIN_ATTEMPTS;
                    err.message = match (self.lang, locked_until.is_some()) {
                        (Lang::En, true) => "Wrong PIN. The app is locked for a while.".into(),
                        (_, true) => "PIN salah. Aplikasi dikunci sementara.".into(),
                        (Lang::En, false) => format!("Wrong PIN; {left} attempts left"),
                        (_, false) => format!("PIN salah; sisa {left} kali percobaan"),
                    };
                }
                Err(err)
            }
        }
    }

    /// Locks the app (the PIN is needed again).
    pub fn lock(&mut self) -> Status {
        self.device = None;
        self.status()
    }

    /// Signs out: deletes this device's store. Refused while work is not yet on the server.
    pub fn sign_out(&mut self) -> Result<Status, AppError> {
        let lang = self.lang;
        let Ok(_gate) = self.sync_gate.clone().try_lock_owned() else {
            return Err(self.sync_running());
        };
        let counts = self
            .device()?
            .store()
            .outbox_counts()
            .map_err(|e| AppError::coded(&e, lang))?;
        if counts.pending_ops > 0 {
            return Err(AppError::new(
                "field.unsynced_work",
                self.lang,
                &format!(
                    "Masih ada {} perubahan yang belum terkirim; sinkronkan dulu sebelum keluar",
                    counts.pending_ops
                ),
                &format!(
                    "{} changes have not reached the server; sync before signing out",
                    counts.pending_ops
                ),
            ));
        }
        self.device = None;
        verivali_store::Store::delete_files(&self.store_path()).map_err(|e| self.io(&e))?;
        self.save_attempts(Attempts::default())?;
        Ok(self.status())
    }

    /// The work list, grouped by desa, RW and RT.
    pub fn assignments(&mut self, query: &HouseholdQuery) -> Result<Vec<RtGroup>, AppError> {
        let lang = self.lang;
        self.device()?
            .assignments(query)
            .map_err(|e| AppError::coded(&e, lang))
    }

    /// The progress line: households done (see [`WorkStatus::is_done`]) of all assigned.
    pub fn progress(&mut self) -> Result<Progress, AppError> {
        let lang = self.lang;
        let counts = self
            .device()?
            .store()
            .work_counts(None)
            .map_err(|e| AppError::coded(&e, lang))?;
        let done = counts
            .iter()
            .filter(|(s, _)| WorkStatus::parse(s).is_some_and(WorkStatus::is_done))
            .map(|(_, n)| n)
            .sum();
        let today = verivali_domain::cycle::today(self.clock.now());
        let kept = self
            .device()?
            .store()
            .open_period()
            .map_err(|e| AppError::coded(&e, lang))?;
        let cutoff = kept.and_then(|(period, day)| {
            let days_left = (day - today).num_days();
            (0..=verivali_domain::cycle::WARN_DAYS)
                .contains(&days_left)
                .then(|| CutoffNote {
                    period,
                    cutoff: day.to_string(),
                    days_left,
                })
        });
        Ok(Progress {
            done,
            total: counts.values().sum(),
            cutoff,
        })
    }

    /// One household with members and earlier visits.
    pub fn household(&mut self, id: Uuid) -> Result<HouseholdDetail, AppError> {
        let lang = self.lang;
        self.device()?
            .household(id)
            .map_err(|e| AppError::coded(&e, lang))
    }

    /// The questionnaire the form renders.
    pub fn questionnaire(&mut self, version: Option<u32>) -> Result<Questionnaire, AppError> {
        let lang = self.lang;
        let mut d = self.device()?;
        let store = d.store();
        let active = store.questionnaire().clone();
        match version.filter(|v| *v != active.version) {
            // A draft begun on an older version is finished on the form it was begun on.
            Some(v) => Ok(store
                .questionnaire_version(v)
                .map_err(|e| AppError::coded(&e, lang))?
                .unwrap_or(active)),
            None => Ok(active),
        }
    }

    /// Opens the household's current visit (a draft, or one sent back), or starts a new one
    /// prefilled from the baseline.
    pub fn open_visit(&mut self, household_id: Uuid) -> Result<OpenVisit, AppError> {
        let lang = self.lang;
        let now = self.clock.now();
        let mut d = self.device()?;
        let detail = d
            .household(household_id)
            .map_err(|e| AppError::coded(&e, lang))?;
        let editable = detail.visits.iter().rev().find(|v| v.state.editable());
        if editable.is_none() && detail.withdrawn {
            return Err(AppError::coded(
                &verivali_store::StoreError::Withdrawn(household_id),
                lang,
            ));
        }
        if let Some(v) = editable {
            let returned_reason = (v.state == verivali_domain::VisitState::Rejected)
                .then(|| {
                    v.reviews
                        .iter()
                        .rev()
                        .find(|r| r.decision == verivali_domain::Decision::Reject)
                        .and_then(|r| r.reason.clone())
                })
                .flatten();
            let (record, state, finished) = d
                .store()
                .visit(v.visit_id)
                .map_err(|e| AppError::coded(&e, lang))?;
            return Ok(OpenVisit {
                draft: draft_state(d.store(), &record, lang),
                record,
                state,
                finished,
                returned_reason,
            });
        }
        let record = VisitRecord::start(
            Uuid::now_v7(),
            &detail.household,
            &detail.members,
            d.store().questionnaire().version,
            now,
        );
        Ok(OpenVisit {
            draft: draft_state(d.store(), &record, lang),
            record,
            state: verivali_domain::VisitState::Draft,
            finished: false,
            returned_reason: None,
        })
    }

    /// Proposes a household not in the baseline (usulan baru) in `kode_desa`, one of the desa
    /// this phone works in: stored and queued as `household.propose`; its visit (outcome
    /// `usulan_baru`) is then opened like any other. Returns the new household's id.
    pub fn propose_household(
        &mut self,
        fields: verivali_domain::HouseholdFields,
        kode_desa: &str,
    ) -> Result<Uuid, AppError> {
        let household = verivali_domain::Household {
            id: Uuid::now_v7(),
            id_dtsen: None,
            fields,
            kode_desa: kode_desa.to_string(),
            desil: None,
            version: 0,
        };
        let r = self.device()?.store().propose_household(&household);
        r.map_err(|e| self.err(FieldError::Store(e)))?;
        Ok(household.id)
    }

    /// Saves what was typed (as often as the form likes); returns the form's live state.
    pub fn save_draft(&mut self, visit: &VisitRecord) -> Result<DraftState, AppError> {
        let lang = self.lang;
        let mut d = self.device()?;
        d.save_draft(visit).map_err(|e| AppError::coded(&e, lang))?;
        Ok(draft_state(d.store(), visit, lang))
    }

    /// Throws away a draft never sent; true when its household, given to another enumerator,
    /// left the phone with it.
    pub fn discard_draft(&mut self, visit_id: Uuid) -> Result<bool, AppError> {
        let r = self.device()?.discard_draft(visit_id);
        r.map_err(|e| self.err(e))
    }

    /// Finishes a visit: full validation, then recorded and queued for the server.
    pub fn finish_visit(&mut self, mut visit: VisitRecord) -> Result<u32, AppError> {
        if visit.finished_at.is_none() {
            visit.finished_at = Some(self.clock.now());
        }
        let r = self.device()?.finish_visit(&visit);
        r.map(|r| r.revision).map_err(|e| self.err(e))
    }

    /// Stores a photo from the camera or a picked file, as the raw bytes the window sent
    /// (Tauri's binary IPC, no base64): made upright, ≤ 1280 px, ≤ 250 KB and free of metadata
    /// first ([`crate::photo::prepare`]). Returns its SHA-256 for the visit's `photos`.
    pub fn add_photo(&mut self, bytes: &[u8]) -> Result<String, AppError> {
        let prepared = self.prepare_photo(bytes)?;
        self.save_prepared_photo(&prepared)
    }

    fn prepare_photo(&self, bytes: &[u8]) -> Result<Vec<u8>, AppError> {
        crate::photo::prepare(bytes).map_err(|_| photo_unreadable(self.lang))
    }

    fn save_prepared_photo(&mut self, prepared: &[u8]) -> Result<String, AppError> {
        let lang = self.lang;
        self.device()?
            .store()
            .save_photo(prepared, "image/jpeg")
            .map_err(|e| AppError::coded(&e, lang))
    }

    /// A stored photo as a small JPEG (long side `side` px, 64–640) for the screens.
    pub fn photo_thumbnail(&mut self, sha256: &str, side: u32) -> Result<Vec<u8>, AppError> {
        let lang = self.lang;
        let bytes = self
            .device()?
            .store()
            .photo(sha256)
            .map_err(|e| AppError::coded(&e, lang))?
            .ok_or_else(|| {
                AppError::new(
                    "field.photo_missing",
                    lang,
                    "Foto tidak ada di HP ini",
                    "The photo is not on this phone",
                )
            })?;
        crate::photo::thumbnail(&bytes, side.clamp(64, 640)).map_err(|e| self.io(&e))
    }

    /// Submits finished visits as one batch; returns how many.
    pub fn submit(&mut self, visit_ids: &[Uuid]) -> Result<usize, AppError> {
        let lang = self.lang;
        self.device()?
            .submit(visit_ids)
            .map(|_| visit_ids.len())
            .map_err(|e| AppError::coded(&e, lang))
    }

    /// The sync screen: outbox, last sync, needs attention, inbox, visits ready to submit.
    pub fn sync_state(&mut self) -> Result<SyncState, AppError> {
        let lang = self.lang;
        let mut d = self.device()?;
        let health = d.health().map_err(|e| AppError::coded(&e, lang))?;
        let inbox = d
            .inbox()
            .map_err(|e| AppError::coded(&e, lang))?
            .into_iter()
            .map(|r: Returned| InboxItem {
                household_id: r.household_id,
                nama_krt: r.nama_krt,
                visit_id: r.visit_id,
                reason: r.reason,
            })
            .collect();
        let ready = d
            .store()
            .ready_to_submit()
            .map_err(|e| AppError::coded(&e, lang))?
            .into_iter()
            .map(|(visit_id, household_id, nama_krt)| ReadyVisit {
                visit_id,
                household_id,
                nama_krt,
            })
            .collect();
        let received = d
            .store()
            .received_visits(RECEIVED_LISTED)
            .map_err(|e| AppError::coded(&e, lang))?;
        let log = d
            .store()
            .sync_log()
            .map_err(|e| AppError::coded(&e, lang))?;
        Ok(SyncState {
            outbox: health.outbox,
            last_sync: health.last_sync,
            needs_attention: health.needs_attention,
            inbox,
            ready,
            received,
            log,
        })
    }

    /// Syncs now, holding this app the whole time (tests; the window uses [`sync_shared`]).
    pub async fn sync(&mut self) -> Result<SyncDone, AppError> {
        let job = self.begin_sync()?;
        let r = job.run().await;
        self.end_sync(r)
    }

    /// Starts a sync: the job holds its own handle on the device, so the app can be used (and
    /// even locked) while it runs. Refused while another sync runs (`field.sync_running`).
    pub fn begin_sync(&mut self) -> Result<SyncJob, AppError> {
        let Ok(gate) = self.sync_gate.clone().try_lock_owned() else {
            return Err(self.sync_running());
        };
        let before = self.held_households()?;
        let device = self.device.clone().ok_or_else(|| self.locked())?;
        self.syncing_device = Arc::downgrade(&device);
        Ok(SyncJob {
            device,
            before,
            lang: self.lang,
            clock: self.clock.clone(),
            _gate: gate,
        })
    }

    /// Ends a sync: its error in the app's language; a wiped device is closed and its files go.
    pub fn end_sync(&mut self, r: Result<SyncDone, FieldError>) -> Result<SyncDone, AppError> {
        let lang = self.lang;
        match r {
            Err(FieldError::Wiped) => {
                // The store is closed before its files go (the device erased them already; this
                // catches a WAL the closing connection left), and the app is back at sign-in.
                self.device = None;
                self.syncing_device = Weak::new();
                let _ = verivali_store::Store::delete_files(&self.store_path());
                Err(AppError::coded(&FieldError::Wiped, lang))
            }
            r => r.map_err(|e| AppError {
                code: e.shown_code(),
                ..AppError::coded(&e, lang)
            }),
        }
    }

    /// The ids of the households on this phone.
    fn held_households(&mut self) -> Result<std::collections::BTreeSet<uuid::Uuid>, AppError> {
        let r = held(&*self.device()?);
        r.map_err(|e| self.err(e))
    }
}

fn held(d: &Device) -> Result<std::collections::BTreeSet<uuid::Uuid>, FieldError> {
    Ok(d.assignments(&HouseholdQuery::default())?
        .into_iter()
        .flat_map(|g| g.households.into_iter().map(|h| h.id))
        .collect())
}

/// A sync begun by [`FieldApp::begin_sync`]: it reaches the store one call at a time.
pub struct SyncJob {
    device: SharedDevice,
    before: std::collections::BTreeSet<uuid::Uuid>,
    lang: Lang,
    clock: Arc<dyn Clock>,
    _gate: tokio::sync::OwnedMutexGuard<()>,
}

impl SyncJob {
    /// Runs the sync; hand the answer to [`FieldApp::end_sync`].
    pub async fn run(mut self) -> Result<SyncDone, FieldError> {
        let r = sync_with(&mut self.device).await;
        // The send screen lists each sync, failed ones with their reason (a wiped device has
        // no store left to write to).
        let entry = match &r {
            Ok(r) => Some(verivali_store::SyncLogEntry {
                at: self.clock.now(),
                ok: true,
                ops_up: r.ops_acked,
                photos_up: r.photos_uploaded,
                pulled: r.changes_pulled,
                code: None,
                message: None,
            }),
            Err(FieldError::Wiped) => None,
            Err(e) => Some(verivali_store::SyncLogEntry {
                at: self.clock.now(),
                ok: false,
                ops_up: 0,
                photos_up: 0,
                pulled: 0,
                code: Some(e.shown_code()),
                message: Some(e.message(self.lang)),
            }),
        };
        if let Some(entry) = entry {
            let mut d = self.device.lock().unwrap_or_else(PoisonError::into_inner);
            // A log line is for reading: a store that cannot write it fails the next call anyway.
            let _ = d.store().log_sync(&entry);
        }
        let r = r?;
        let after = held(&self.device.lock().unwrap_or_else(PoisonError::into_inner))?;
        Ok(SyncDone {
            acked: r.ops_acked,
            rejected: r.ops_rejected,
            photos: r.photos_uploaded,
            pulled: r.changes_pulled,
            removed: self.before.difference(&after).count() as u64,
        })
    }
}

/// Syncs the window's app without holding it across the network: every other command answers
/// while the sync runs (DESIGN.md §7, the field app never waits on the network).
pub async fn sync_shared(app: &tokio::sync::Mutex<FieldApp>) -> Result<SyncDone, AppError> {
    let job = app.lock().await.begin_sync()?;
    let r = job.run().await;
    app.lock().await.end_sync(r)
}

/// [`FieldApp::add_photo`] for the window: the photo is decoded and re-encoded on a blocking
/// thread with the app free (a 12-megapixel photo takes a moment on a cheap phone), then stored.
pub async fn add_photo_shared(
    app: &tokio::sync::Mutex<FieldApp>,
    bytes: Vec<u8>,
) -> Result<String, AppError> {
    let lang = app.lock().await.lang;
    let prepared = tokio::task::spawn_blocking(move || crate::photo::prepare(&bytes)).await;
    let mut app = app.lock().await;
    match prepared {
        Ok(Ok(p)) => app.save_prepared_photo(&p),
        _ => Err(photo_unreadable(lang)),
    }
}

fn photo_unreadable(lang: Lang) -> AppError {
    AppError::new(
        "field.photo_unreadable",
        lang,
        "Foto tidak dapat dibaca; ambil ulang atau pilih berkas JPEG/PNG",
        "The photo could not be read; take it again or pick a JPEG/PNG file",
    )
}
