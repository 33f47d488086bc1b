//! The vocabularies of Verivali, once: outcomes with the flags that shape the visit form, the
//! reasons a household is not found, member presence statuses, relationships 1–8, sexes, work
//! states, review states, roles and the household fields a person sees, each with its wire code and its label in Bahasa Indonesia and
//! English.
//!
//! [`vocabulary`] is written to `crates/domain/vocabulary.json` (checked in; a test fails when it
//! is stale, `VERIVALI_BLESS=1 cargo test -p verivali-domain vocabulary` rewrites it). The field
//! app imports that file at build time and the dashboard loads it from `/assets/vocabulary.json`,
//! so a new outcome is one change here and a bless, never a copied list in JavaScript. Every label
//! function is an exhaustive `match`: a new variant does not compile until it has its labels.
//! Quality-flag codes join `flags` with the rules that raise them (DESIGN.md §11).

use serde_json::{Value, json};

use crate::assignment::AssignmentSource;
use crate::household::{HouseholdFields, PresenceStatus, Relationship, Sex};
use crate::i18n::Lang;
use crate::state::{Role, VisitState, WorkStatus};
use crate::visit::{NotFoundReason, Outcome, PhotoKind};

/// A label in both languages.
type Label = (&'static str, &'static str);

fn outcome_label(o: Outcome) -> Label {
    match o {
        Outcome::Ditemukan => ("Ditemukan", "Found"),
        Outcome::TidakDitemukan => ("Tidak ditemukan", "Not found"),
        Outcome::Menolak => ("Menolak", "Refused"),
        Outcome::Ganda => ("Ganda", "Duplicate"),
        Outcome::BagianRutaLain => ("Bagian rumah tangga lain", "Part of another household"),
        Outcome::UsulanBaru => ("Usulan baru", "New proposal"),
    }
}

/// An outcome's label in `lang`, for documents.
pub fn outcome_text(o: Outcome, lang: Lang) -> &'static str {
    let (id, en) = outcome_label(o);
    if lang == Lang::En { en } else { id }
}

/// A review state's label in `lang`, for documents.
pub fn state_text(s: VisitState, lang: Lang) -> &'static str {
    let (id, en) = review_state_label(s);
    if lang == Lang::En { en } else { id }
}

fn reason_label(r: NotFoundReason) -> Label {
    match r {
        NotFoundReason::Pindah => ("Pindah", "Moved away"),
        NotFoundReason::Meninggal => ("Meninggal semua", "All died"),
        NotFoundReason::TidakTahu => ("Tidak ada yang mengenal", "Nobody knows them"),
        NotFoundReason::AlamatTidakAda => ("Alamat tidak ada", "Address does not exist"),
    }
}

fn presence_label(p: PresenceStatus) -> Label {
    match p {
        PresenceStatus::Tinggal => ("Tinggal", "Lives here"),
        PresenceStatus::Meninggal => ("Meninggal", "Died"),
        PresenceStatus::Pindah => ("Pindah", "Moved out"),
        PresenceStatus::AnggotaBaru => ("Anggota baru", "New member"),
        PresenceStatus::KesalahanPrelist => ("Salah catat", "Listing error"),
        PresenceStatus::TidakDitemukan => ("Tidak ditemukan", "Not found"),
    }
}

fn relationship_label(r: Relationship) -> Label {
    match r {
        Relationship::Kepala => ("Kepala rumah tangga", "Head of household"),
        Relationship::Pasangan => ("Istri/suami", "Wife/husband"),
        Relationship::Anak => ("Anak", "Child"),
        Relationship::Menantu => ("Menantu", "Child-in-law"),
        Relationship::Cucu => ("Cucu", "Grandchild"),
        Relationship::OrangTua => ("Orang tua/mertua", "Parent/parent-in-law"),
        Relationship::Pembantu => ("Pembantu rumah tangga", "Domestic worker"),
        Relationship::Lainnya => ("Lainnya", "Other"),
    }
}

fn sex_label(s: Sex) -> Label {
    match s {
        Sex::L => ("Laki-laki", "Male"),
        Sex::P => ("Perempuan", "Female"),
    }
}

fn review_state_label(s: VisitState) -> Label {
    match s {
        VisitState::Draft => ("Draf", "Draft"),
        VisitState::Submitted => ("Menunggu pemeriksaan", "Waiting for review"),
        VisitState::Approved => ("Disetujui", "Approved"),
        VisitState::Rejected => ("Dikembalikan", "Sent back"),
        VisitState::Superseded => ("Diganti kunjungan lain", "Superseded by another visit"),
        VisitState::Verified => ("Diverifikasi dinas", "Verified by the district"),
        VisitState::Returned => (
            "Dikembalikan dinas ke pengawas",
            "Returned by the district to the supervisor",
        ),
    }
}

fn role_label(r: Role) -> Label {
    match r {
        Role::Enumerator => ("Petugas", "Enumerator"),
        Role::Supervisor => ("Pengawas", "Supervisor"),
        Role::Admin => ("Admin dinas", "Admin"),
        Role::Operator => ("Operator desa", "Village operator"),
        Role::Verifier => ("Verifikator dinas", "District verifier"),
    }
}

/// Labels of the household fields a person sees: the editable ones ([`HouseholdFields::NAMES`])
/// and the read-only desil. `None` for any other name (a test checks every editable one has one).
fn household_field_label(name: &str) -> Option<Label> {
    Some(match name {
        "no_kk" => ("No. KK", "Family card no."),
        "nama_krt" => ("Nama kepala rumah tangga", "Head of household"),
        "alamat" => ("Alamat", "Address"),
        "rt" => ("RT", "RT"),
        "rw" => ("RW", "RW"),
        "desil" => ("Desil", "Decile"),
        _ => return None,
    })
}

/// The household fields in form order, editable first, then the read-only desil.
fn household_fields() -> Vec<Value> {
    HouseholdFields::NAMES
        .iter()
        .map(|f| (*f, true))
        .chain([("desil", false)])
        .filter_map(|(f, editable)| {
            household_field_label(f).map(|l| with(entry(f, l), json!({"editable": editable})))
        })
        .collect()
}

/// A member's fields by wire name, in form order, with their labels (the keys of
/// [`crate::Member`] a person fills in; `member_id` is the app's).
const MEMBER_FIELDS: [(&str, Label); 7] = [
    ("name", ("Nama", "Name")),
    ("nik", ("NIK", "NIK")),
    ("sex", ("Jenis kelamin", "Sex")),
    ("birth_place", ("Tempat lahir", "Place of birth")),
    ("birth_date", ("Tanggal lahir", "Date of birth")),
    (
        "relationship",
        ("Hubungan dengan KRT", "Relationship to head"),
    ),
    ("status", ("Keberadaan", "Presence")),
];

fn assignment_source_label(s: AssignmentSource) -> Label {
    match s {
        AssignmentSource::Baseline => ("Data dasar", "Baseline"),
        AssignmentSource::Groundcheck => ("Pemeriksaan lapangan", "Ground check"),
        AssignmentSource::Usulan => ("Usulan", "Proposal"),
        AssignmentSource::Sanggah => ("Sanggah", "Objection"),
        AssignmentSource::LaporanKematian => ("Laporan kematian", "Reported death"),
        AssignmentSource::Lainnya => ("Lainnya", "Other"),
    }
}

fn decision_label(d: crate::review::Decision) -> Label {
    use crate::review::Decision::*;
    match d {
        Approve => ("Setujui", "Approve"),
        Reject => ("Kembalikan ke petugas", "Send back"),
        Reopen => ("Buka kembali", "Reopen"),
        Supersede => ("Diganti kunjungan lain", "Superseded"),
        Verify => ("Verifikasi", "Verify"),
        Return => ("Kembalikan ke pengawas", "Return to the supervisor"),
    }
}

/// Every action the server writes to its audit log, with what it means to the reader of the
/// log (the dashboard's audit page). A server test checks that every action it wrote is here.
pub const AUDIT_ACTIONS: [(&str, Label); 45] = [
    (
        "visit.record",
        (
            "Kunjungan diterima dari perangkat",
            "Visit received from a device",
        ),
    ),
    (
        "batch.submit",
        ("Kiriman diajukan ke pengawas", "Batch submitted for review"),
    ),
    (
        "household.propose",
        (
            "Usulan rumah tangga baru diterima",
            "New household proposal received",
        ),
    ),
    (
        "session.create",
        ("Masuk (perangkat)", "Signed in (device)"),
    ),
    (
        "session.create_web",
        ("Masuk (dasbor)", "Signed in (dashboard)"),
    ),
    ("session.failed", ("Gagal masuk", "Failed sign-in")),
    ("session.end", ("Keluar", "Signed out")),
    ("user.add", ("Pengguna ditambah", "User added")),
    ("user.change", ("Pengguna diubah", "User changed")),
    (
        "user.password_changed",
        ("Kata sandi diganti", "Password changed"),
    ),
    ("device.revoke", ("Perangkat dicabut", "Device revoked")),
    (
        "device.revoke_wipe",
        ("Perangkat dicabut dan dihapus", "Device revoked and wiped"),
    ),
    ("device.wiped", ("Perangkat sudah terhapus", "Device wiped")),
    (
        "sync.pull",
        ("Unduhan data ke perangkat", "Data pulled to a device"),
    ),
    ("attachment.upload", ("Foto diunggah", "Photo uploaded")),
    (
        "review.list",
        ("Daftar pemeriksaan dibuka", "Review list opened"),
    ),
    ("review.view", ("Kunjungan dibuka", "Visit opened")),
    (
        "review.photo",
        ("Foto kunjungan dilihat", "Visit photo viewed"),
    ),
    (
        "review.decision",
        ("Keputusan pemeriksaan", "Review decision"),
    ),
    ("export.visits", ("Ekspor kunjungan", "Visits exported")),
    (
        "import.households",
        ("Impor data dasar", "Baseline imported"),
    ),
    (
        "import.households.start",
        ("Impor data dasar dimulai", "Baseline import started"),
    ),
    ("assignment.assign", ("Penugasan", "Assignment")),
    (
        "assignment.unassign",
        ("Penugasan dicabut", "Assignment removed"),
    ),
    (
        "assignment.import",
        ("Impor penugasan", "Assignments imported"),
    ),
    (
        "assignment.board",
        ("Papan penugasan dibuka", "Assignment board opened"),
    ),
    (
        "regions.import",
        ("Impor nama wilayah", "Region names imported"),
    ),
    (
        "questionnaire.upload",
        ("Draf kuesioner diunggah", "Questionnaire draft uploaded"),
    ),
    (
        "questionnaire.publish",
        ("Kuesioner diterbitkan", "Questionnaire published"),
    ),
    (
        "quality.thresholds",
        ("Ambang mutu diubah", "Quality thresholds changed"),
    ),
    (
        "review.enumerators",
        (
            "Perbandingan petugas dibuka",
            "Enumerator comparison opened",
        ),
    ),
    ("period.create", ("Periode dibuat", "Period created")),
    ("period.open", ("Periode dibuka", "Period opened")),
    ("period.close", ("Periode ditutup", "Period closed")),
    ("proposal.create", ("Usulan dicatat", "Proposal entered")),
    (
        "proposal.import",
        ("Usulan diimpor dari CSV", "Proposals imported from CSV"),
    ),
    (
        "musdes.record",
        ("Musyawarah desa dicatat", "Village meeting recorded"),
    ),
    (
        "musdes.scan",
        (
            "Berita acara bertanda tangan diunggah",
            "Signed minutes uploaded",
        ),
    ),
    ("musdes.print", ("Berita acara dicetak", "Minutes printed")),
    (
        "proposal.list",
        ("Daftar usulan dibuka", "Proposals listed"),
    ),
    (
        "musdes.list",
        ("Daftar musyawarah dibuka", "Village meetings listed"),
    ),
    (
        "musdes.read",
        ("Musyawarah desa dibuka", "Village meeting opened"),
    ),
    (
        "household.search",
        ("Pencarian rumah tangga", "Household search"),
    ),
    (
        "period.bnba",
        ("Daftar BNBA periode diunduh", "Period BNBA list downloaded"),
    ),
    (
        "period.summary",
        ("Rekap periode dicetak", "Period summary printed"),
    ),
];

pub(crate) fn flag_label(c: crate::quality::FlagCode) -> Label {
    use crate::quality::FlagCode::*;
    match c {
        TooFast => ("Kunjungan terlalu cepat", "Visit too fast"),
        GpsMissing => ("Tanpa titik GPS", "No GPS fix"),
        GpsInaccurate => ("GPS kurang akurat", "GPS not accurate"),
        GpsFar => (
            "Jauh dari titik rumah tangga",
            "Far from the household's point",
        ),
        MockLocation => (
            "Lokasi palsu dilaporkan HP",
            "Mock location reported by the phone",
        ),
        PhotoReused => (
            "Foto sama dengan kunjungan lain",
            "Photo used by another visit",
        ),
        NikDuplicate => (
            "NIK terdaftar di rumah tangga lain",
            "NIK held in another household",
        ),
        Burst => (
            "Terlalu banyak kunjungan dalam sejam",
            "Too many visits within an hour",
        ),
        TwoVisits => (
            "Dua kunjungan ke rumah tangga ini",
            "Two visits to this household",
        ),
        Reassigned => (
            "Rumah tangga sudah dialihkan ke petugas lain",
            "Household reassigned to another enumerator",
        ),
    }
}

fn photo_kind_label(k: PhotoKind) -> Label {
    match k {
        PhotoKind::Depan => ("Rumah tampak depan", "House from the front"),
        PhotoKind::Dalam => ("Bagian dalam rumah", "Inside the house"),
        PhotoKind::Dokumen => (
            "Dokumen (KK, akta, surat)",
            "Document (KK, certificate, letter)",
        ),
        PhotoKind::Lainnya => ("Lainnya", "Other"),
    }
}

// The update cycle's Indonesian labels live in `cycle` (its documents print them); English here.
fn proposal_kind_label(k: crate::cycle::ProposalKind) -> Label {
    use crate::cycle::ProposalKind::*;
    let en = match k {
        UsulanBaru => "New family proposed",
        UsulanPerubahan => "Change of data proposed",
        Sanggah => "Objection",
        LaporanKematian => "Reported death",
        BukanKeluarga => "Not one family",
    };
    (crate::cycle::kind_label(k), en)
}

fn channel_label(c: crate::cycle::Channel) -> Label {
    use crate::cycle::Channel::*;
    let en = match c {
        Desa => "Desa office",
        CekBansos => "Cek Bansos app",
        RtRw => "RT/RW",
        Dinas => "Social affairs office",
        Lainnya => "Other",
    };
    (crate::cycle::channel_label(c), en)
}

fn verdict_label(v: crate::cycle::Verdict) -> Label {
    let en = match v {
        crate::cycle::Verdict::Layak => "Eligible",
        crate::cycle::Verdict::TidakLayak => "Not eligible",
    };
    (crate::cycle::verdict_label(v), en)
}

fn period_state_label(p: crate::cycle::PeriodState) -> Label {
    use crate::cycle::PeriodState::*;
    match p {
        Planned => ("Direncanakan", "Planned"),
        Open => ("Dibuka", "Open"),
        Closed => ("Ditutup", "Closed"),
    }
}

fn step_label(s: crate::cycle::Step) -> Label {
    use crate::cycle::Step::*;
    let en = match s {
        Entered => "Entered",
        Decided => "Decided at musdes",
        Assigned => "Assigned",
        Visited => "Visited",
        Approved => "Approved",
        Verified => "Verified",
    };
    (crate::cycle::step_label(s), en)
}

fn graduation_label(g: crate::visit::GraduationKind) -> Label {
    use crate::visit::GraduationKind::*;
    match g {
        Mandiri => (
            "Graduasi mandiri (sudah sejahtera)",
            "Graduated by its own means",
        ),
        Alami => (
            "Graduasi alami (tidak ada lagi anggota yang memenuhi syarat)",
            "Graduated naturally (no member qualifies any more)",
        ),
        Paksa => (
            "Graduasi paksa (tidak memenuhi syarat)",
            "Graduation imposed (does not qualify)",
        ),
    }
}

/// One entry: the wire code (as serde writes it, so it cannot drift from the wire) and labels.
fn entry(code: impl serde::Serialize, (id, en): Label) -> Value {
    json!({"code": serde_json::to_value(code).unwrap_or(Value::Null), "id": id, "en": en})
}

fn with(mut v: Value, extra: Value) -> Value {
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// Every vocabulary, as written to `vocabulary.json`.
pub fn vocabulary() -> Value {
    json!({
        "outcomes": Outcome::ALL.map(|o| with(entry(o, outcome_label(o)), json!({
            "needs_reason": o.needs_reason(),
            "needs_reference": o.needs_reference(),
            "needs_answers": o.needs_answers(),
            "updates_baseline": o.updates_baseline(),
        }))),
        "outcome_reasons": NotFoundReason::ALL.map(|r| entry(r, reason_label(r))),
        "member_statuses": PresenceStatus::ALL.map(|p| with(entry(p, presence_label(p)), json!({
            "present": p.is_present(),
        }))),
        "relationships": Relationship::ALL.map(|r| entry(r.code(), relationship_label(r))),
        "sexes": Sex::ALL.map(|s| entry(s, sex_label(s))),
        "work_states": WorkStatus::ALL.map(|w| json!({
            "code": w.as_str(), "id": w.label(Lang::Id), "en": w.label(Lang::En), "done": w.is_done(),
        })),
        "review_states": VisitState::ALL.map(|s| entry(s, review_state_label(s))),
        "roles": Role::ALL.map(|r| entry(r, role_label(r))),
        "household_fields": household_fields(),
        "member_fields": MEMBER_FIELDS.map(|(f, l)| entry(f, l)),
        "photo_kinds": PhotoKind::ALL.map(|k| entry(k, photo_kind_label(k))),
        "decisions": crate::review::Decision::ALL.map(|d| entry(d, decision_label(d))),
        "audit_actions": AUDIT_ACTIONS.iter().map(|(code, l)| entry(code, *l)).collect::<Vec<_>>(),
        "assignment_sources": AssignmentSource::ALL.map(|s| entry(s, assignment_source_label(s))),
        // The update cycle (DESIGN.md §12; rules in `cycle`).
        "proposal_kinds": crate::cycle::ProposalKind::ALL.map(|k| with(entry(k, proposal_kind_label(k)), json!({
            "needs_household": k.needs_household(),
            "refuses_household": k.refuses_household(),
        }))),
        "channels": crate::cycle::Channel::ALL.map(|c| entry(c, channel_label(c))),
        "graduation_kinds": crate::visit::GraduationKind::ALL.map(|g| entry(g, graduation_label(g))),
        "verdicts": crate::cycle::Verdict::ALL.map(|v| entry(v, verdict_label(v))),
        "period_states": crate::cycle::PeriodState::ALL.map(|p| entry(p, period_state_label(p))),
        "proposal_steps": crate::cycle::Step::ALL.map(|s| entry(s, step_label(s))),
        // Each quality flag with its label and severity (DESIGN.md §11; rules in `quality`).
        "flags": crate::quality::FlagCode::ALL
            .map(|c| with(entry(c, flag_label(c)), json!({"severity": c.severity()}))),
    })
}

/// The file's text: pretty JSON with a final newline.
pub fn vocabulary_json() -> String {
    let mut s = serde_json::to_string_pretty(&vocabulary()).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_json_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vocabulary.json");
        let now = vocabulary_json();
        if std::env::var_os("VERIVALI_BLESS").is_some() {
            std::fs::write(&path, &now).unwrap();
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            stored == now,
            "{} is stale: VERIVALI_BLESS=1 cargo test -p verivali-domain vocabulary",
            path.display()
        );
    }

    #[test]
    fn every_editable_household_field_has_a_label() {
        for f in HouseholdFields::NAMES {
            assert!(household_field_label(f).is_some(), "{f}");
        }
        assert_eq!(household_fields().len(), HouseholdFields::NAMES.len() + 1);
        let (_, members) =
            crate::sample::household(&mut crate::sample::Seq::new(1), "3308012001", 1);
        let keys = serde_json::to_value(&members[0]).unwrap();
        for (f, _) in MEMBER_FIELDS {
            assert!(
                keys.get(f).is_some(),
                "member field {f} is not a key of Member"
            );
        }
    }

    #[test]
    fn every_code_is_the_wire_name_and_labels_are_set() {
        let v = vocabulary();
        let outcomes = v["outcomes"].as_array().unwrap();
        assert_eq!(outcomes.len(), Outcome::ALL.len());
        assert_eq!(outcomes[1]["code"], "tidak_ditemukan");
        assert_eq!(outcomes[1]["needs_reason"], true);
        assert_eq!(v["relationships"][0]["code"], 1);
        assert_eq!(v["sexes"][1]["code"], "P");
        for (name, list) in v.as_object().unwrap() {
            for e in list.as_array().unwrap() {
                for lang in ["id", "en"] {
                    assert!(!e[lang].as_str().unwrap_or("").is_empty(), "{name}: {e}");
                }
            }
        }
    }
}
