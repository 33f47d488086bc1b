//! A device user's session with the field app: first sign-in online, PIN unlock offline, sync.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use uuid::Uuid;
use verivali_domain::clock::Clock;
use verivali_domain::{Coded, Lang};
use verivali_domain::{Decision, Report, VisitRecord, VisitState, WorkStatus};
use verivali_protocol::DeviceInfo;
use verivali_store::{
    AttentionItem, HouseholdDetail, HouseholdQuery, KdfParams, OutboxCounts, Recorded, RtGroup,
    Session, Store, StoreError, SubmittedBatch,
};
use verivali_sync::{Config, HttpTransport, SyncClient, SyncError, SyncReport};

use crate::StoreSync;

/// App version sent at sign-in.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a field-app call failed.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    /// The device store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sync failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The device has no signed-in session (sign in online first).
    #[error("not signed in")]
    NotSignedIn,
    /// An admin revoked this device with a wipe: it sent everything it held, then erased its
    /// store and key. Sign in again to work on.
    #[error("this device was wiped by an admin after it sent everything it held")]
    Wiped,
    /// The first sign-in could not reach the server (no signal, or a wrong address); nothing was
    /// stored.
    #[error(
        "the server cannot be reached ({0}); check the signal and the server address; nothing was stored"
    )]
    SignInOffline(String),
    /// A sign-in again with another user's credentials than the store's.
    #[error("this phone holds another user's work; sign in as that user")]
    OtherUser,
}

impl Coded for FieldError {
    fn code(&self) -> &'static str {
        match self {
            FieldError::Store(e) => e.code(),
            FieldError::Sync(e) => e.code(),
            FieldError::NotSignedIn => "field.not_signed_in",
            FieldError::Wiped => "field.wiped",
            FieldError::OtherUser => "field.other_user",
            FieldError::SignInOffline(_) => "field.signin_offline",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match self {
            FieldError::Store(e) => e.message(lang),
            FieldError::Sync(e) => e.message(lang),
            FieldError::NotSignedIn if lang == Lang::En => "Sign in online first".into(),
            FieldError::NotSignedIn => "Masuk secara online terlebih dahulu".into(),
            FieldError::Wiped if lang == Lang::En => self.to_string(),
            FieldError::Wiped => {
                "Perangkat ini dihapus oleh admin setelah semua datanya terkirim; \
                 masuk lagi untuk melanjutkan"
                    .into()
            }
            FieldError::OtherUser if lang == Lang::En => self.to_string(),
            FieldError::OtherUser => {
                "HP ini menyimpan pekerjaan pengguna lain; masuk sebagai pengguna itu".into()
            }
            FieldError::SignInOffline(_) if lang == Lang::En => self.to_string(),
            FieldError::SignInOffline(_) => "Server tidak terjangkau: periksa sinyal dan alamat \
                                             server, lalu coba lagi. Belum ada yang disimpan di HP ini."
                .into(),
        }
    }
}

impl FieldError {
    /// The code to show and act on: the server's own for a refusal it explained (a one-time
    /// password asks for a new one, a weak new password says why, an expired session asks to
    /// sign in again), else this error's.
    pub fn shown_code(&self) -> String {
        match self {
            FieldError::Sync(SyncError::Refused { code, .. })
            | FieldError::Sync(SyncError::Unauthorized { code }) => code.clone(),
            e => e.code().to_string(),
        }
    }
}

/// Sync health for the app.
#[derive(Debug, Clone)]
pub struct Health {
    /// Queued work.
    pub outbox: OutboxCounts,
    /// Last complete sync (server time).
    pub last_sync: Option<chrono::DateTime<chrono::Utc>>,
    /// Rejected ops with the server's reasons.
    pub needs_attention: Vec<AttentionItem>,
}

/// A visit sent back by a supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    /// The household.
    pub household_id: Uuid,
    /// Its head's name.
    pub nama_krt: String,
    /// The visit.
    pub visit_id: Uuid,
    /// The supervisor's reason.
    pub reason: String,
    /// When it was sent back.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An unlocked device.
pub struct Device {
    store: Store,
}

impl Device {
    /// First sign-in (online): signs in, then creates the encrypted store keyed by `pin`, keeps
    /// the session and pulls the assignment. Nothing is left on disk when sign-in fails.
    /// `new_password` replaces a one-time password from an admin's reset in the same call.
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_in_first(
        path: &Path,
        server_url: &str,
        username: &str,
        password: &str,
        new_password: Option<&str>,
        pin: &str,
        device_name: &str,
        kdf: KdfParams,
        clock: Arc<dyn Clock>,
    ) -> Result<Device, FieldError> {
        verivali_domain::pin::validate_pin(pin)
            .map_err(|e| FieldError::Store(StoreError::PinPolicy(e)))?;
        let device_id = Uuid::now_v7();
        // The sign-in call is a few hundred bytes: 8 s is ample over 2G, and bounds a network
        // that drops packets to about 17 s with the one retry below.
        let transport =
            HttpTransport::new(server_url, Duration::from_secs(8)).map_err(SyncError::Network)?;
        let info = DeviceInfo {
            id: device_id,
            name: device_name.into(),
            app_version: APP_VERSION.into(),
        };
        // The enumerator is waiting at the screen with nothing stored yet: one quick retry, not
        // the sync's minute-long schedule, then a plain answer (FieldError::SignInOffline).
        let quick = Config {
            retry: verivali_sync::Retry {
                attempts: 2,
                base: Duration::from_millis(300),
                max: Duration::from_secs(1),
            },
            ..Config::default()
        };
        let session =
            SyncClient::sign_in_setting(&transport, &quick, username, password, new_password, info)
                .await
                .map_err(|e| match e {
                    SyncError::Network(why) => FieldError::SignInOffline(why),
                    e => e.into(),
                })?;
        let mut store = Store::create(path, pin, device_id, kdf, clock)?;
        store.merge_server_time(session.server_time)?;
        store.set_session(&Session {
            server_url: server_url.into(),
            username: session.user.username.clone(),
            user_id: session.user.id,
            token: session.token,
            expires_at: session.expires_at,
        })?;
        let mut device = Device { store };
        device.sync().await?;
        Ok(device)
    }

    /// Signs in again on this device, keeping its store and everything queued in it: after the
    /// session expired (a phone offline for longer than the token lives) or a dashboard sign-out.
    /// The same user only: another user's password on this phone is refused
    /// (`field.other_user`), since the queued work is the signed-in user's.
    pub async fn renew_session(
        &mut self,
        password: &str,
        new_password: Option<&str>,
        device_name: &str,
    ) -> Result<(), FieldError> {
        renew_with(&mut self.store, password, new_password, device_name).await
    }

    /// Unlocks the store offline with the PIN.
    pub fn unlock(path: &Path, pin: &str, clock: Arc<dyn Clock>) -> Result<Device, FieldError> {
        Ok(Device {
            store: Store::open(path, pin, clock)?,
        })
    }

    /// The device store.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The work list: households of the assignment grouped by RW/RT, searched and filtered.
    pub fn assignments(&self, query: &HouseholdQuery) -> Result<Vec<RtGroup>, FieldError> {
        Ok(self.store.list_households(query)?)
    }

    /// One household with members and its visits (with review decisions).
    pub fn household(&self, id: Uuid) -> Result<HouseholdDetail, FieldError> {
        Ok(self.store.household_detail(id)?)
    }

    /// Saves what has been typed so far (kept on the device); returns what the form should show.
    pub fn save_draft(&mut self, visit: &VisitRecord) -> Result<Report, FieldError> {
        Ok(self.store.save_draft(visit)?)
    }

    /// Finishes a visit: validated in full and queued for the server.
    pub fn finish_visit(&mut self, visit: &VisitRecord) -> Result<Recorded, FieldError> {
        Ok(self.store.record_visit(visit)?)
    }

    /// Throws away a draft the server never received; answers whether the household, given to
    /// another enumerator, left the device with it.
    pub fn discard_draft(&mut self, visit_id: Uuid) -> Result<bool, FieldError> {
        Ok(self.store.discard_draft(visit_id)?)
    }

    /// Submits finished visits as one batch.
    pub fn submit(&mut self, visit_ids: &[Uuid]) -> Result<SubmittedBatch, FieldError> {
        Ok(self.store.submit_batch(visit_ids)?)
    }

    /// What the sync screen shows: queued work, the last successful sync, and the ops the server
    /// rejected with its reasons.
    pub fn health(&self) -> Result<Health, FieldError> {
        Ok(Health {
            outbox: self.store.outbox_counts()?,
            last_sync: self.store.last_sync()?,
            needs_attention: self.store.needs_attention()?,
        })
    }

    /// The inbox: visits a supervisor sent back, with the latest reason, oldest first.
    pub fn inbox(&self) -> Result<Vec<Returned>, FieldError> {
        let query = HouseholdQuery {
            status: Some(WorkStatus::Rejected),
            ..HouseholdQuery::default()
        };
        let mut out = Vec::new();
        for row in self
            .store
            .list_households(&query)?
            .into_iter()
            .flat_map(|g| g.households)
        {
            let detail = self.store.household_detail(row.id)?;
            for v in detail
                .visits
                .iter()
                .filter(|v| v.state == VisitState::Rejected)
            {
                let last = v
                    .reviews
                    .iter()
                    .rev()
                    .find(|r| r.decision == Decision::Reject);
                out.push(Returned {
                    household_id: row.id,
                    nama_krt: row.nama_krt.clone(),
                    visit_id: v.visit_id,
                    reason: last.and_then(|r| r.reason.clone()).unwrap_or_default(),
                    at: last.map(|r| r.at),
                });
            }
        }
        out.sort_by_key(|r| r.at);
        Ok(out)
    }

    /// Syncs with the server of the session, holding the store for the whole sync.
    pub async fn sync(&mut self) -> Result<SyncReport, FieldError> {
        sync_with(&mut self.store).await
    }
}

/// A device shared between the window's commands and a running sync: the sync takes the lock
/// for one store call at a time (never across the network), so opening a household or saving a
/// draft answers while a photo crawls up a 2G link. The store itself keeps every call atomic.
pub type SharedDevice = Arc<Mutex<Device>>;

/// How a sync or a sign-in again reaches the store: the whole time (`Store`, the CLI and the
/// tests) or one call at a time ([`SharedDevice`], the app).
pub trait StoreAccess {
    /// Runs `f` on the store.
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R;
    /// The store's device id.
    fn device_id(&self) -> Uuid;
}

impl StoreAccess for Store {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(self)
    }
    fn device_id(&self) -> Uuid {
        Store::device_id(self)
    }
}

impl StoreAccess for SharedDevice {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        // A panic inside a store call leaves nothing half-written (each call is a transaction),
        // so a poisoned lock is still a good store.
        f(&mut self.lock().unwrap_or_else(PoisonError::into_inner).store)
    }
    fn device_id(&self) -> Uuid {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .store
            .device_id()
    }
}

impl<A: StoreAccess + ?Sized> StoreAccess for &mut A {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        (**self).with(f)
    }
    fn device_id(&self) -> Uuid {
        (**self).device_id()
    }
}

/// Signs in again with the store's user, keeping the store (see [`Device::renew_session`]).
pub async fn renew_with(
    access: &mut impl StoreAccess,
    password: &str,
    new_password: Option<&str>,
    device_name: &str,
) -> Result<(), FieldError> {
    let old = access
        .with(|s| s.session())?
        .ok_or(FieldError::NotSignedIn)?;
    let transport =
        HttpTransport::new(&old.server_url, Duration::from_secs(60)).map_err(SyncError::Network)?;
    let info = DeviceInfo {
        id: access.device_id(),
        name: device_name.into(),
        app_version: APP_VERSION.into(),
    };
    let session = SyncClient::sign_in_setting(
        &transport,
        &Config::default(),
        &old.username,
        password,
        new_password,
        info,
    )
    .await?;
    if session.user.id != old.user_id {
        return Err(FieldError::OtherUser);
    }
    access.with(|s| {
        s.merge_server_time(session.server_time)?;
        s.set_session(&Session {
            token: session.token,
            expires_at: session.expires_at,
            ..old
        })
    })?;
    Ok(())
}

/// What this build keeps of `GET /regions` and `GET /periods` (the names, the open period): raise
/// it when the app starts keeping more of them, so the kept stamp no longer matches.
const REFERENCE_USE: u32 = 1;

/// Syncs with the server of the session; a device an admin revoked with a wipe sends what it
/// holds, then erases itself ([`FieldError::Wiped`]).
pub async fn sync_with(access: &mut impl StoreAccess) -> Result<SyncReport, FieldError> {
    let session = access
        .with(|s| s.session())?
        .ok_or(FieldError::NotSignedIn)?;
    let transport = HttpTransport::new(&session.server_url, Duration::from_secs(60))
        .map_err(SyncError::Network)?;
    let client = SyncClient::new(transport, &session.token, Config::default());
    match client.sync(&mut StoreSync(&mut *access)).await {
        Err(SyncError::Unauthorized { code }) if code == "auth.device_wipe" => {
            // Revoked with a wipe: the push and the photo upload of this sync still went
            // through. Erase only once nothing is left to send; else keep it all and say so.
            let left = access.with(|s| -> Result<bool, StoreError> {
                Ok(s.outbox_counts()?.pending_ops > 0 || !s.photos_to_upload()?.is_empty())
            })?;
            if left {
                return Err(SyncError::Unauthorized { code }.into());
            }
            client.confirm_wiped().await?;
            access.with(|s| Store::delete_files(s.path()).map_err(StoreError::Io))?;
            Err(FieldError::Wiped)
        }
        Ok(report) => {
            // Region names and periods change seldom: fetched again only when the pull's stamp
            // differs from the one kept with them (every sync from a server without stamps). The
            // kept stamp names this build's use of the answers too, so an app that starts keeping
            // more of them fetches once after its update.
            let stamp = report.refs.as_ref().map(|r| format!("{REFERENCE_USE}:{r}"));
            let kept = access.with(|s| s.reference_stamp())?;
            if stamp.is_some() && stamp == kept {
                return Ok(report);
            }
            if kept.is_some() {
                access.with(|s| s.set_reference_stamp(None))?;
            }
            // Names are for reading only: a server without them, or a cut here, costs
            // nothing but bare codes until the next sync.
            let names = client.region_names().await;
            if let Ok(names) = &names {
                access.with(|s| s.set_region_names(names))?;
            }
            // The open period, for the cut-off warning; an older server without periods, or a
            // cut here, keeps what the last sync said.
            let open = client.open_period().await;
            if let Ok(open) = &open {
                let kept = open.as_ref().map(|p| (p.name.as_str(), p.cutoff));
                access.with(|s| s.set_open_period(kept))?;
            }
            // The stamp only once both arrived: after a cut, the next sync fetches them again.
            if let (Ok(_), Ok(_), Some(stamp)) = (&names, &open, &stamp) {
                access.with(|s| s.set_reference_stamp(Some(stamp)))?;
            }
            Ok(report)
        }
        Err(e) => Err(e.into()),
    }
}
