//! Tauri's build step: the app context (config, capabilities, embedded UI) for `generate_context!`.
fn main() {
    tauri_build::build()
}
