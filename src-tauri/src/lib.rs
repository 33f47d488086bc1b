//! # verivali-app
//!
//! The Tauri 2 shell of the field app. Each command is a one-line delegation to
//! [`verivali_field::FieldApp`], which holds every rule and all state; the web view (`ui/`) only
//! renders. The data folder is the platform's app-data folder (`VERIVALI_DATA_DIR` overrides it,
//! for tests and for running two devices on one machine); the server address offered at first
//! sign-in is `VERIVALI_SERVER` or `http://127.0.0.1:8080`; an `https://` server whose certificate
//! a private CA signed is trusted when `VERIVALI_CA_CERT` names that CA (PEM), besides the public
//! roots (`verivali_sync::tls`). The window may call these commands
//! and nothing else (`capabilities/default.json` grants no plugin permission).

use std::sync::Arc;
use tauri::{Manager, State};
use tokio::sync::Mutex;
use uuid::Uuid;
use verivali_field::app::{OpenVisit, Progress, Status, SyncDone, SyncState};
use verivali_field::{AppError, FieldApp};
use verivali_field::{HouseholdDetail, HouseholdQuery, KdfParams, RtGroup};
use verivali_field::{Questionnaire, SystemClock, VisitRecord};

type Shared = Mutex<FieldApp>;
type Answer<T> = Result<T, AppError>;

#[tauri::command]
async fn status(app: State<'_, Shared>) -> Answer<Status> {
    Ok(app.lock().await.status())
}

#[tauri::command]
async fn default_server(app: State<'_, Shared>) -> Answer<String> {
    Ok(app.lock().await.default_server.clone())
}

#[tauri::command]
async fn set_lang(app: State<'_, Shared>, lang: String) -> Answer<Status> {
    Ok(app.lock().await.set_lang(&lang))
}

#[tauri::command]
async fn sign_in(
    app: State<'_, Shared>,
    server: String,
    username: String,
    password: String,
    new_password: Option<String>,
    pin: String,
) -> Answer<Status> {
    app.lock()
        .await
        .sign_in(&server, &username, &password, new_password.as_deref(), &pin)
        .await
}

#[tauri::command]
async fn renew_session(
    app: State<'_, Shared>,
    password: String,
    new_password: Option<String>,
) -> Answer<Status> {
    app.lock()
        .await
        .renew_session(&password, new_password.as_deref())
        .await
}

#[tauri::command]
async fn unlock(app: State<'_, Shared>, pin: String) -> Answer<Status> {
    app.lock().await.unlock(&pin)
}

#[tauri::command]
async fn lock(app: State<'_, Shared>) -> Answer<Status> {
    Ok(app.lock().await.lock())
}

#[tauri::command]
async fn sign_out(app: State<'_, Shared>) -> Answer<Status> {
    app.lock().await.sign_out()
}

#[tauri::command]
async fn assignments(app: State<'_, Shared>, query: HouseholdQuery) -> Answer<Vec<RtGroup>> {
    app.lock().await.assignments(&query)
}

#[tauri::command]
async fn progress(app: State<'_, Shared>) -> Answer<Progress> {
    app.lock().await.progress()
}

#[tauri::command]
async fn household(app: State<'_, Shared>, id: Uuid) -> Answer<HouseholdDetail> {
    app.lock().await.household(id)
}

#[tauri::command]
async fn questionnaire(app: State<'_, Shared>, version: Option<u32>) -> Answer<Questionnaire> {
    app.lock().await.questionnaire(version)
}

#[tauri::command]
async fn open_visit(app: State<'_, Shared>, household_id: Uuid) -> Answer<OpenVisit> {
    app.lock().await.open_visit(household_id)
}

#[tauri::command]
async fn propose_household(
    app: State<'_, Shared>,
    fields: verivali_field::HouseholdFields,
    kode_desa: String,
) -> Answer<Uuid> {
    app.lock().await.propose_household(fields, &kode_desa)
}

#[tauri::command]
async fn save_draft(
    app: State<'_, Shared>,
    visit: VisitRecord,
) -> Answer<verivali_field::app::DraftState> {
    app.lock().await.save_draft(&visit)
}

#[tauri::command]
async fn discard_draft(app: State<'_, Shared>, visit_id: Uuid) -> Answer<bool> {
    app.lock().await.discard_draft(visit_id)
}

#[tauri::command]
async fn finish_visit(app: State<'_, Shared>, visit: VisitRecord) -> Answer<u32> {
    app.lock().await.finish_visit(visit)
}

/// The photo arrives as the request's raw body (Tauri 2 binary IPC), not base64 in JSON.
#[tauri::command]
async fn add_photo(app: State<'_, Shared>, request: tauri::ipc::Request<'_>) -> Answer<String> {
    let bytes = match request.body() {
        tauri::ipc::InvokeBody::Raw(b) => b.clone(),
        tauri::ipc::InvokeBody::Json(_) => Vec::new(),
    };
    verivali_field::app::add_photo_shared(&app, bytes).await
}

/// A thumbnail as raw JPEG bytes (an ArrayBuffer in the window).
#[tauri::command]
async fn photo_thumbnail(
    app: State<'_, Shared>,
    sha256: String,
    side: u32,
) -> Answer<tauri::ipc::Response> {
    let bytes = app.lock().await.photo_thumbnail(&sha256, side)?;
    Ok(tauri::ipc::Response::new(bytes))
}

#[tauri::command]
async fn submit(app: State<'_, Shared>, visit_ids: Vec<Uuid>) -> Answer<usize> {
    app.lock().await.submit(&visit_ids)
}

#[tauri::command]
async fn sync_state(app: State<'_, Shared>) -> Answer<SyncState> {
    app.lock().await.sync_state()
}

#[tauri::command]
async fn sync_now(app: State<'_, Shared>) -> Answer<SyncDone> {
    verivali_field::app::sync_shared(&app).await
}

/// Builds and runs the app (desktop `main`, and the mobile entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let builder = tauri::Builder::default();
    // Phones: the platform's location service and its permission prompt (the web view's
    // navigator.geolocation is served through it).
    #[cfg(mobile)]
    let builder = builder.plugin(tauri_plugin_geolocation::init());
    let result = builder
        .setup(|app| {
            let dir = match std::env::var_os("VERIVALI_DATA_DIR") {
                Some(d) => std::path::PathBuf::from(d),
                None => app.path().app_data_dir()?,
            };
            std::fs::create_dir_all(&dir)?;
            let server = std::env::var("VERIVALI_SERVER")
                .unwrap_or_else(|_| "http://127.0.0.1:8080".to_string());
            app.manage(Mutex::new(FieldApp::new(
                &dir,
                Arc::new(SystemClock),
                KdfParams::DEVICE,
                &server,
            )));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            status,
            default_server,
            set_lang,
            sign_in,
            unlock,
            lock,
            sign_out,
            assignments,
            progress,
            household,
            questionnaire,
            open_visit,
            propose_household,
            save_draft,
            discard_draft,
            renew_session,
            finish_visit,
            add_photo,
            photo_thumbnail,
            submit,
            sync_state,
            sync_now
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("verivali-app: {e}");
        std::process::exit(1);
    }
}
