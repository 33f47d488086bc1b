//! The TypeScript types the field app's UI uses (`ui/src/generated/types.ts`) are generated from
//! the Rust types the Tauri commands send and take (ts-rs), so a renamed or added field cannot
//! drift silently: the UI's `tsc --noEmit` then fails where the field is used. This test fails
//! when the file is stale; `VERIVALI_BLESS=1 cargo test -p verivali-field --test field ts_types`
//! rewrites it.

use ts_rs::TS;

/// Every type the UI receives or sends, with the types they contain.
fn declarations() -> Vec<String> {
    use verivali_domain::questionnaire::{Choice, Question, QuestionType, Relevance, Section};
    use verivali_domain::*;
    use verivali_field::app::*;
    use verivali_store::{
        AttentionItem, HouseholdDetail, HouseholdQuery, HouseholdRow, OutboxCounts, RtGroup,
        VisitSummary,
    };
    vec![
        // The registry baseline and the visit record (verivali-domain).
        Household::decl(),
        verivali_domain::household::MemberExit::decl(),
        HouseholdFields::decl(),
        HouseholdFound::decl(),
        Member::decl(),
        Sex::decl(),
        PresenceStatus::decl(),
        VisitRecord::decl(),
        Outcome::decl(),
        NotFoundReason::decl(),
        Gps::decl(),
        Paradata::decl(),
        Graduation::decl(),
        GraduationKind::decl(),
        VisitState::decl(),
        WorkStatus::decl(),
        Decision::decl(),
        ReviewEvent::decl(),
        Questionnaire::decl(),
        Section::decl(),
        Question::decl(),
        QuestionType::decl(),
        Choice::decl(),
        Relevance::decl(),
        Text::decl(),
        AssignmentSource::decl(),
        verivali_domain::assignment::Terms::decl(),
        verivali_domain::search::Match::decl(),
        verivali_domain::search::MatchField::decl(),
        serde_json::Value::decl(),
        // The device store's reads (verivali-store).
        HouseholdQuery::decl(),
        HouseholdRow::decl(),
        RtGroup::decl(),
        HouseholdDetail::decl(),
        VisitSummary::decl(),
        verivali_store::PhotoRef::decl(),
        PhotoKind::decl(),
        OutboxCounts::decl(),
        verivali_store::SentVisit::decl(),
        verivali_store::SyncLogEntry::decl(),
        AttentionItem::decl(),
        // The app service (verivali-field).
        Status::decl(),
        AppError::decl(),
        Issue::decl(),
        DraftState::decl(),
        OpenVisit::decl(),
        SyncState::decl(),
        InboxItem::decl(),
        ReadyVisit::decl(),
        SyncDone::decl(),
        Progress::decl(),
        CutoffNote::decl(),
    ]
}

fn types_ts() -> String {
    let mut out = String::from(
        "// Generated from the Rust types by crates/field/tests/field/ts_types.rs; do not edit.\n\
         // VERIVALI_BLESS=1 cargo test -p verivali-field --test field ts_types rewrites it.\n\n",
    );
    for d in declarations() {
        out.push_str("export ");
        out.push_str(d.trim_end_matches(';'));
        out.push_str(";\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn ui_types_are_generated_from_the_rust_ones() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated/types.ts");
    let now = types_ts();
    if std::env::var_os("VERIVALI_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &now).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == now,
        "{} is stale: VERIVALI_BLESS=1 cargo test -p verivali-field --test field ts_types",
        path.display()
    );
}
