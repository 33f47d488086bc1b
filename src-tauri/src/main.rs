//! The desktop entry point; the app itself is in the library (shared with mobile).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    verivali_app_lib::run();
}
